"""ScoreConfig and RiskBands are typed configs: defaults kept, bad values named by their key path with the fix."""

from __future__ import annotations

import pytest

from features.caseload import CaseloadConfig
from features.dates import TIMELINE_MONTHS
from features.errors import ConfigError
from serving.capacity import CapacityConfig
from serving.errors import CapacityError, ScoreConfigError, ScoringError
from serving.score import RiskBands, ScoreConfig
from training.list_policy import ListsConfig


def test_the_default_scoring_settings_are_unchanged() -> None:
    config = ScoreConfig()
    assert (config.capacity, config.caseload, config.lists) == (CapacityConfig(), CaseloadConfig(), ListsConfig())
    assert (config.bands.cuts, config.bands.labels) == ((80.0, 95.0, 99.0), ("low", "moderate", "high", "very high"))
    assert (config.top_reasons, config.timeline_months) == (5, TIMELINE_MONTHS)


def test_nested_settings_are_taken_as_built_configs_or_as_tables() -> None:
    built = ScoreConfig(capacity=CapacityConfig(per_thousand=100.0), lists=ListsConfig(holdout_fraction=0.2))
    tables = ScoreConfig(capacity={"per_thousand": 100}, lists={"holdout_fraction": 0.2})
    assert built == tables
    assert built.capacity.per_thousand == 100.0 and built.lists.holdout_fraction == 0.2


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"capacity": {"weights": [1, 1, 1]}},
            "capacity.weights must sum to 1 (shares of population, IMD, HIU rate); got [1.0, 1.0, 1.0], which sum to 3. "
            "Divide each by their sum: [0.3333, 0.3333, 0.3333].",
        ),
        ({"bands": {"cuts": [95, 80]}}, "bands.cuts must be ascending percentiles between 0 and 100; got [95.0, 80.0]. Use e.g. [80, 95, 99]."),
        (
            {"bands": {"labels": ["low", "high"]}},
            "bands.labels must name one more band than there are cuts (3); got 2: ['low', 'high']. Give 4 labels, lowest band first.",
        ),
        ({"top_reasons": 0}, "top_reasons input should be greater than or equal to 1; got 0. Fix the value of 'top_reasons'."),
        ({"capacty": {}}, "key 'capacty' is not a setting; did you mean 'capacity'? Remove or rename it."),
    ],
    ids=["capacity weights", "band cuts", "band labels", "reasons", "misspelt key"],
)
def test_a_bad_setting_is_named_by_its_key_path_with_the_fix(values: dict, message: str) -> None:
    with pytest.raises(ScoreConfigError) as raised:
        ScoreConfig(**values)
    assert str(raised.value) == message


def test_scoring_config_errors_are_both_scoring_and_config_errors() -> None:
    with pytest.raises(ScoringError):
        RiskBands(cuts=(50.0,), labels=("low",))
    with pytest.raises(ConfigError):
        RiskBands(cuts=(50.0,), labels=("low",))
    with pytest.raises(CapacityError):
        CapacityConfig(per_thousand=0)
