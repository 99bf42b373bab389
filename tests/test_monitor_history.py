"""The history check: an extract must reach back as far as the predictors look from the monitoring date."""

from __future__ import annotations

from datetime import date

import pytest

from features.config import FeatureConfig
from serving.monitoring.history import check_history


@pytest.mark.parametrize(
    ("data_start", "as_of", "fires"),
    [
        (date(2021, 1, 1), date(2023, 1, 1), False),  # exactly 24 months
        (date(2021, 1, 1), date(2022, 12, 1), True),  # 23 months
        (date(2019, 6, 1), date(2023, 1, 1), False),
        (date(2021, 2, 1), date(2023, 1, 1), True),
    ],
)
def test_the_alert_fires_exactly_when_the_events_start_after_the_lookback_begins(data_start: date, as_of: date, fires: bool) -> None:
    alerts = check_history(data_start, as_of, FeatureConfig())
    assert bool(alerts) is fires
    if fires:
        (alert,) = alerts
        assert (alert.kind, alert.subject, alert.severity) == ("short_history", "events", "critical")


def test_the_lookback_follows_the_feature_config_not_a_fixed_24_months() -> None:
    short = FeatureConfig(windows=((0, 3), (3, 6), (6, 12)), trend_months=3)
    assert short.lookback_months == 12
    assert check_history(date(2022, 1, 1), date(2023, 1, 1), short) == []
    assert check_history(date(2022, 1, 1), date(2023, 1, 1), FeatureConfig()) != []


def test_the_message_names_the_first_date_that_can_be_scored_and_the_history_to_export() -> None:
    (alert,) = check_history(date(2022, 3, 1), date(2023, 6, 1), FeatureConfig())
    assert alert.message == (
        "the predictors look back 24 months from 2023-06-01 (to 2021-06-01) but the extract's events start in March 2022: "
        "the uncovered months would count as no contacts, so every score would read too low. "
        "Score on 2024-03-01 or later, or export history from 2021-06-01."
    )
