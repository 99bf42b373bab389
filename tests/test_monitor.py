"""Monitoring rules on hand-built inputs: expectations with season and lag, PSI, backtest arithmetic, staleness, config."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.dates import add_months
from features.errors import ConfigError
from serving.monitoring.alerts import Alert
from serving.monitoring.backtest import BacktestRow, backtest_scores, calibration_alerts, matured_dates, publication_training_people
from serving.monitoring.config import MonitorConfig
from serving.monitoring.drift import check_drift, psi
from serving.monitoring.expectation import judge_series, lower_tail
from serving.monitoring.feeds import complete_months, completeness_curve, month_completeness
from serving.monitoring.staleness import check_staleness
from serving.publish import Publication

CONFIG = MonitorConfig()


def _seasonal_counts(n: int, amplitude: float, seed: int, start: date = date(2019, 1, 1)) -> tuple[list[date], np.ndarray]:
    """A differently generated series: winter-peaked daily rate 30 with a slow upward trend, Poisson counts."""
    rng = np.random.default_rng(seed)
    months = [add_months(start, k) for k in range(n)]
    days = np.array([(add_months(m, 1) - m).days for m in months])
    season = 1 + amplitude * np.cos(2 * np.pi * (np.array([m.month for m in months]) - 1) / 12)
    mean = 30 * season * np.exp(0.004 * np.arange(n)) * days
    return months, rng.poisson(mean).astype(float)


def _flagged(series) -> list[tuple[date, int]]:
    return [(j.month, j.months) for j in series.flagged]


def test_a_steady_seasonal_series_is_not_flagged_and_its_season_is_learned():
    months, counts = _seasonal_counts(60, 0.3, seed=3)
    series = judge_series("s", months, counts, [1.0] * 60, config=CONFIG, p_value=CONFIG.drop_p_value)
    assert series.seasonal is True
    assert _flagged(series) == []
    assert [(j.month, j.months) for j in series.judged] == [(date(2023, 11, 1), 1), (date(2023, 12, 1), 1), (date(2023, 11, 1), 2)]
    truth = 30 * (1 + 0.3 * np.cos(2 * np.pi * 11 / 12)) * math.exp(0.004 * 59) * 31
    assert series.judged[1].expected == pytest.approx(truth, rel=0.08)


def test_a_halved_last_month_is_flagged_but_the_two_month_sum_is_not():
    months, counts = _seasonal_counts(60, 0.3, seed=3)
    counts[-1] = round(counts[-1] * 0.5)
    series = judge_series("s", months, counts, [1.0] * 60, config=CONFIG, p_value=CONFIG.drop_p_value)
    assert _flagged(series) == [(date(2023, 12, 1), 1)]


def test_a_seasonal_trough_is_expected_and_a_drop_in_it_is_seen_only_with_seasonality():
    months, counts = _seasonal_counts(55, 0.45, seed=5)  # ends in July, the trough (0.55 of the mean)
    assert months[-1] == date(2023, 7, 1)
    flat = MonitorConfig(seasonal_min_years=10)
    seasonal = judge_series("s", months, counts, [1.0] * 55, config=CONFIG, p_value=CONFIG.drop_p_value)
    assert seasonal.seasonal is True and _flagged(seasonal) == []
    counts[-1] = round(counts[-1] * 0.5)
    seasonal = judge_series("s", months, counts, [1.0] * 55, config=CONFIG, p_value=CONFIG.drop_p_value)
    naive = judge_series("s", months, counts, [1.0] * 55, config=flat, p_value=flat.drop_p_value)
    assert _flagged(seasonal) == [(date(2023, 7, 1), 1)]
    # without seasonal factors the season is taken for noise: the band is so wide the halved month passes
    assert naive.seasonal is False and _flagged(naive) == []
    assert naive.dispersion > 10 * seasonal.dispersion


def test_a_month_still_arriving_is_judged_against_its_expected_completeness():
    months, counts = _seasonal_counts(40, 0.0, seed=8)
    comp = [1.0] * 39 + [0.55]
    counts[-1] = round(counts[-1] * 0.55)
    judged = judge_series("s", months, counts, comp, config=CONFIG, p_value=CONFIG.drop_p_value)
    unadjusted = judge_series("s", months, counts, [1.0] * 40, config=CONFIG, p_value=CONFIG.drop_p_value)
    assert _flagged(judged) == []
    assert (months[-1], 1) in _flagged(unadjusted)


def test_a_stopped_feed_is_flagged_in_each_month_and_in_the_sum():
    months, counts = _seasonal_counts(40, 0.2, seed=9)
    counts[-2:] = 0
    series = judge_series("s", months, counts, [1.0] * 40, config=CONFIG, p_value=CONFIG.drop_p_value)
    assert _flagged(series) == [(months[-2], 1), (months[-1], 1), (months[-2], 2)]
    assert all(j.ratio == 0 for j in series.judged)


def test_a_short_history_is_not_judged_and_says_why():
    months, counts = _seasonal_counts(10, 0.0, seed=1)
    series = judge_series("s", months, counts, [1.0] * 10, config=CONFIG, p_value=CONFIG.drop_p_value)
    assert series.judged == []
    assert series.reason_not_judged == "8 usable history months; at least 12 needed"


def test_lower_tail_is_poisson_without_extra_variance():
    assert lower_tail(0, 5.0, 0.0) == pytest.approx(math.exp(-5))
    assert lower_tail(3, 0.0, 0.1) == 1.0


def test_completeness_curve_and_month_completeness_follow_the_lag_histogram():
    curve = completeness_curve(pd.DataFrame({"days": [0, 1, 2, 4], "rows": [50, 30, 20, 7]}), horizon=3)
    assert curve.tolist() == [0.5, 0.8, 1.0, 1.0]
    # February 2024 has 29 days; on 1 March the last day is seen at 0.5, the day before at 0.8
    assert month_completeness(date(2024, 2, 1), date(2024, 3, 1), curve) == pytest.approx(28.3 / 29)
    assert month_completeness(date(2024, 1, 1), date(2024, 3, 1), curve) == 1.0
    assert completeness_curve(pd.DataFrame({"days": [4], "rows": [3]}), horizon=3) is None


def test_complete_months_skip_the_first_month_and_the_unfinished_one():
    assert complete_months(date(2024, 1, 1), date(2024, 5, 20)) == [date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)]


def test_psi_of_two_categorical_samples_matches_the_formula():
    value, bins = psi(pd.Series(["a", "a", "b", "b"]), pd.Series(["a", "a", "a", "b"]))
    assert bins == 2
    assert value == pytest.approx(0.25 * math.log(1.5) + 0.25 * math.log(2))


def test_psi_of_a_sample_against_itself_is_zero():
    values = pd.Series(np.arange(100, dtype=float))
    assert psi(values, values)[0] == 0.0


def test_drift_names_the_shifted_feature_and_the_score():
    rng = np.random.default_rng(0)
    n = 5000
    reference = pd.DataFrame({"ed_0_3m": rng.poisson(0.3, n), "age": rng.integers(0, 90, n), "neighbourhood": rng.choice(["A", "B"], n)})
    current = reference.copy()
    current["ed_0_3m"] = rng.poisson(1.2, n)
    result = check_drift(
        reference, current, reference_scores=rng.beta(1, 30, n), current_scores=rng.beta(3, 30, n),
        features=["ed_0_3m", "age"], config=CONFIG,
    )
    assert [(a.kind, a.subject) for a in result.alerts] == [("feature_drift", "ed_0_3m"), ("score_drift", "score")]
    assert result.features[0].name == "ed_0_3m" and result.features[1].psi == 0.0
    assert [(m.neighbourhood, m.people) for m in result.neighbourhoods] == [("A", int((current.neighbourhood == "A").sum())), ("B", int((current.neighbourhood == "B").sum()))]
    assert result.mix is not None and result.mix.psi == 0.0 and not result.mix.flagged


def _hand_population() -> tuple[pd.DataFrame, pd.DataFrame]:
    population = pd.DataFrame({
        "person_id": list("abcdefg"),
        "score": [0.9, 0.8, 0.7, 0.3, 0.2, 0.1, np.nan],
        "list_rank": pd.array([1, 2, None, None, None, None, None], dtype="Int64"),
    })
    labels = pd.DataFrame({"person_id": list("abcdefg"), "label": pd.array([1, 0, 1, 0, None, 0, 1], dtype="Int8")})
    return population, labels


def test_backtest_of_a_tiny_population_matches_the_hand_computation():
    population, labels = _hand_population()
    row = backtest_scores("pub1", date(2022, 1, 1), 3, population, labels)
    assert row.evaluated_as_of == date(2022, 4, 1)
    assert (row.people, row.unlabelled, row.positives, row.listed) == (5, 1, 2, 2)
    assert row.auroc == pytest.approx(5 / 6)  # positives .9 and .7 against .8, .3, .1: 3 + 2 of 6 pairs
    assert row.predicted_overall == pytest.approx(0.56)
    assert row.observed_overall == pytest.approx(0.4)
    assert row.z_overall == pytest.approx(-0.8 / math.sqrt(0.76))
    assert row.predicted_listed == pytest.approx(0.85)
    assert row.ppv_at_capacity == pytest.approx(0.5)
    assert row.z_listed == pytest.approx(-1.4)


def test_people_the_model_may_have_been_trained_on_are_left_out_of_the_backtest_and_counted():
    population, labels = _hand_population()
    labels["seen"] = [True, False, False, False, True, False, True]  # a (listed, outcome), e (unlabelled) and g (not scored) were seen
    row = backtest_scores("pub1", date(2022, 1, 1), 0, population, labels, note="People left out: v1 was trained on them.")
    # Left: b .8 (0, listed), c .7 (1), d .3 (0), f .1 (0); a and e are scored and seen, g has no score.
    assert (row.people, row.unlabelled, row.excluded, row.positives, row.listed) == (4, 0, 2, 1, 1)
    assert row.auroc == pytest.approx(2 / 3)  # positive .7 against .8, .3, .1
    assert row.predicted_overall == pytest.approx(0.475) and row.observed_overall == pytest.approx(0.25)
    assert row.ppv_at_capacity == 0.0 and row.note == "People left out: v1 was trained on them."
    assert row.to_dict()["excluded"] == 2


def test_a_backtest_with_too_few_outcomes_among_the_people_judged_gives_no_auroc_and_says_why():
    population, labels = _hand_population()
    row = backtest_scores("pub1", date(2022, 1, 1), 0, population, labels, min_outcomes=3, note="People left out: v1 was trained on them.")
    assert row.auroc is None and row.positives == 2
    assert row.note == (
        "People left out: v1 was trained on them. AUROC not given: 2 outcomes and 3 non-outcomes among the people judged, fewer than 3 of each."
    )
    assert backtest_scores("pub1", date(2022, 1, 1), 0, population, labels, min_outcomes=2).auroc == pytest.approx(5 / 6)


def test_a_publication_that_names_no_model_or_no_home_to_find_it_in_leaves_nobody_out_and_says_so(tmp_path):
    unnamed = Publication("p1", tmp_path, {"as_of": "2022-01-01"})
    named = Publication("p2", tmp_path, {"as_of": "2022-01-01", "model_run_id": "abc123"})
    assert publication_training_people(unnamed, None) == (
        None, "Nobody left out: the publication records no model, so whom it was trained on is unknown."
    )
    assert publication_training_people(named, None) == (
        None, "Nobody left out: no risingrisk home was given to look up whom the scoring model was trained on."
    )


def test_calibration_drift_needs_both_a_large_ratio_and_a_large_z():
    base = dict(publication_id="p", as_of=date(2022, 1, 1), evaluated_as_of=date(2022, 1, 1), people=10_000, unlabelled=0,
                positives=200, auroc=0.8, listed=60, predicted_listed=0.3, observed_listed=0.3, z_listed=0.0)
    off = BacktestRow(age_months=0, predicted_overall=0.01, observed_overall=0.02, z_overall=10.0, **base)
    noisy = BacktestRow(age_months=0, predicted_overall=0.01, observed_overall=0.02, z_overall=2.0, **base)
    aged = BacktestRow(age_months=12, predicted_overall=0.01, observed_overall=0.02, z_overall=10.0, **base)
    alerts = calibration_alerts([off, noisy, aged], CONFIG)
    assert [(a.kind, a.subject, a.severity) for a in alerts] == [("calibration_drift", "p", "warning")]


def test_only_score_ages_whose_outcome_window_has_passed_are_backtested():
    pairs = matured_dates(date(2022, 6, 1), (0, 3, 6, 12), (6, 18), data_end=date(2024, 3, 31))
    assert pairs == [(0, date(2022, 6, 1)), (3, date(2022, 9, 1))]


def test_a_publication_older_than_the_refresh_interval_is_stale(tmp_path):
    publication = Publication("20250101T000000Z", tmp_path, {"as_of": "2025-01-01", "created_at": "2025-01-02T00:00:00+00:00"})
    fresh, none = check_staleness(publication, date(2025, 2, 5), CONFIG)
    old, alerts = check_staleness(publication, date(2025, 2, 6), CONFIG)
    assert (fresh.age_days, fresh.stale, none) == (35, False, [])
    assert (old.age_days, old.stale) == (36, True)
    assert alerts == [Alert("stale", "20250101T000000Z", "warning", alerts[0].message)]
    assert check_staleness(None, date(2025, 2, 6), CONFIG) == (None, [])


def test_config_rejects_unknown_keys_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'refresh_days'"):
        MonitorConfig.load({"refresh_day": 30}, where="[monitor]")
    with pytest.raises(ConfigError, match="min_history_months must be <= history_months"):
        MonitorConfig.load({"min_history_months": 30, "history_months": 24})


def test_every_config_field_is_described():
    assert all(field.description for field in MonitorConfig.model_fields.values())


def test_the_gate_blocks_critical_alerts_unless_each_is_accepted():
    from serving.monitoring.errors import MonitorInputError
    from serving.monitoring.gate import decide

    alerts = [
        Alert("feed_drop", "nhs111", "critical", "m1"),
        Alert("feed_drop", "ed", "critical", "m2"),
        Alert("stale", "p1", "warning", "m3"),
    ]
    blocked = decide(alerts)
    assert not blocked.allowed and [a.subject for a in blocked.blocking] == ["nhs111", "ed"]
    partly = decide(alerts, ["feed_drop:nhs111", "feed_drop:gp"], accepted_by="analyst")
    assert [a.subject for a in partly.blocking] == ["ed"] and partly.unmatched == ["feed_drop:gp"]
    passed = decide(alerts, ["feed_drop:nhs111", "feed_drop:ed"], accepted_by="analyst")
    assert passed.allowed
    meta = passed.metadata()
    assert meta["accepted_by"] == "analyst"
    assert [a["subject"] for a in meta["accepted_alerts"]] == ["nhs111", "ed"]
    with pytest.raises(MonitorInputError, match="KIND:SUBJECT"):
        decide(alerts, ["nhs111"])


def test_an_unparseable_date_is_an_error_naming_the_folder_and_the_fix(tmp_path):
    from serving.monitoring.errors import MonitorInputError
    from serving.monitoring.report import run_monitor

    pd.DataFrame({"person_id": ["P1"], "birth_date": ["1980-01-01"]}).to_csv(tmp_path / "persons.csv", index=False)
    pd.DataFrame({"person_id": ["P1"], "code": ["73211009"], "start_date": ["2024-01-01"]}).to_csv(tmp_path / "codes.csv", index=False)
    pd.DataFrame({"person_id": ["P1"], "event_date": ["2024-13-45"], "setting": ["ed"]}).to_csv(tmp_path / "events.csv", index=False)
    with pytest.raises(MonitorInputError, match=f"tables in {tmp_path} must hold values of the data contract's types.*risingrisk validate"):
        run_monitor(tmp_path, as_of=date(2025, 1, 1))
