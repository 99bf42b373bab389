"""The impact design's time axis and later enrolment: calendar-month burst windows, the switching adjustment, censoring weights."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.definitions import DAYS_PER_MONTH
from training.impact import MEASURES, ImpactConfig
from training.impact.design import censoring_weights, match_trials
from training.impact.estimate import arm_estimates
from training.impact.followup import Matrices, day_number, load_timeline, month_first_day, month_index, monthly_matrices


def _day(text: str) -> float:
    return float(day_number(pd.Series([pd.Timestamp(text)]))[0])


def _folder(tmp_path: Path, people: list[str], events: list[tuple[str, str, str]]) -> Path:
    """A contract folder: ``people`` registered since 2015, A&E ``events`` as (person, event date, recorded at)."""
    persons = pd.DataFrame({"person_id": people, "birth_date": date(1960, 1, 1), "sex": "F", "practice": "P", "neighbourhood": "N",
                            "registered_from": date(2015, 1, 1), "registered_to": None, "death_date": None})
    frame = pd.DataFrame(events, columns=["person_id", "event_date", "recorded_at"]).assign(setting="ed")
    frame["event_date"], frame["recorded_at"] = pd.to_datetime(frame["event_date"]), pd.to_datetime(frame["recorded_at"])
    persons.to_parquet(tmp_path / "persons.parquet", index=False)
    frame.to_parquet(tmp_path / "events.parquet", index=False)
    return tmp_path


def _timeline(folder: Path):
    return load_timeline(folder, data_end=date(2023, 12, 31), cost_settings=("ed",))


def test_months_are_numbered_by_the_calendar_and_their_first_days_found_again():
    days = np.array([_day("2022-01-31"), _day("2022-02-01"), _day("2024-02-29")])
    assert month_index(days).tolist() == [2022 * 12, 2022 * 12 + 1, 2024 * 12 + 1]
    assert month_first_day(month_index(days)).tolist() == [_day("2022-01-01"), _day("2022-02-01"), _day("2024-02-01")]


def test_time_and_events_in_each_calendar_month_count_with_that_months_weight(tmp_path):
    timeline = _timeline(_folder(tmp_path, ["A"], [("A", "2022-02-05", "2022-02-05")]))
    start = np.array([_day("2022-01-20")])
    matrices = monthly_matrices(timeline, np.array([0]), start, np.array([np.inf]), -1, 1, np.array([[1.0, 2.0, 3.0, 4.0]]))
    # bin 0 = 12 January days at 1 + 18.4375 February days at 2; bin 1 = 9.5625 February days at 2 + 20.875 March days at 3
    assert matrices.days[0].tolist() == [DAYS_PER_MONTH, 12 + 18.4375 * 2, 9.5625 * 2 + 20.875 * 3]
    assert matrices.events["ed"][0].tolist() == [0.0, 2.0, 0.0]


def _censoring_case(tmp_path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Trial January 2022: one enrolled row, 10 controls with a burst in February (8 enrolled in March), 10 quiet controls."""
    bursters, quiet = [f"B{i}" for i in range(10)], [f"Q{i}" for i in range(10)]
    events = [(p, when, when) for p in bursters for when in ("2022-02-03", "2022-02-17")]
    timeline = _timeline(_folder(tmp_path, ["T", *bursters, *quiet], events))
    day_zero, trial, march = _day("2022-01-10"), _day("2022-01-01"), _day("2022-03-01")
    people = ["T", *bursters, *quiet]
    rows = pd.DataFrame({
        "person": timeline.index.loc[people].to_numpy(), "start": day_zero, "trial": trial, "logit": 0.0,
        "stop": [np.inf] + [march] * 8 + [np.inf] * 2 + [np.inf] * 10, "treated": [True] + [False] * 20,
    })
    weights = censoring_weights(timeline, rows, rows["start"].to_numpy() + 12 * DAYS_PER_MONTH, ImpactConfig())
    return rows, weights


def test_a_control_still_unenrolled_after_a_burst_stands_for_the_people_like_them_who_were_enrolled(tmp_path):
    _, weights = _censoring_case(tmp_path)
    # 8 of the 10 people with February's burst were enrolled in March: each of the 2 left stands for 5 from March on
    assert weights[9:11, 2:].flatten() == pytest.approx(5.0, rel=1e-3)
    assert weights[9:11, 0].tolist() == [1.0, 1.0]  # the trial month: nobody in it can be enrolled
    assert weights[9:11, 1] == pytest.approx(1.0, abs=1e-3)  # nobody was enrolled in February
    assert weights[11:].flatten() == pytest.approx(1.0, abs=1e-3)  # nobody without a burst was enrolled
    assert (weights[0] == 1.0).all()  # the enrolled arm is never reweighted


def test_a_control_enrolled_later_contributes_no_time_from_the_first_day_of_that_month(tmp_path):
    rows, weights = _censoring_case(tmp_path)
    timeline = _timeline(tmp_path)
    start = rows["start"].to_numpy()
    matrices = monthly_matrices(timeline, rows["person"].to_numpy(), start, rows["stop"].to_numpy(), 0, 11, weights)
    censored = matrices.days[1]
    assert censored.sum() == pytest.approx(_day("2022-03-01") - _day("2022-01-10"), rel=1e-5)  # 10 January to 1 March
    assert (censored[2:] == 0).all() and matrices.events["ed"][1].sum() == pytest.approx(2, rel=1e-5)  # the February burst is followed
    # the weighted control arm holds as much time after March as the 20 controls would have had unenrolled
    followed = matrices.days[1:].sum()
    assert followed == pytest.approx(20 * 12 * DAYS_PER_MONTH, rel=1e-3)


def _match_case(tmp_path: Path, events: list[tuple[str, str, str]]) -> list[str]:
    """Trial March 2022: T enrolled on 10 March; the rest are candidate controls. Returns T's matched controls."""
    people = ["T", "A", "B", "Q1", "Q2", "Q3", "Q4"]
    timeline = _timeline(_folder(tmp_path, people, events))
    features = pd.DataFrame({"person_id": people, "as_of": pd.Timestamp("2022-03-01"), "pool_weight": 1.0,
                             "age": [60.0, 60.0, 60.0, 30.0, 40.0, 50.0, 70.0]})
    enrol_day = pd.Series({"T": _day("2022-03-10")})
    matched = match_trials(features, ["age"], enrol_day, timeline, ImpactConfig(controls_per_enrolled=5))
    rows = matched.rows
    return sorted(timeline.ids[rows.loc[~rows["treated"], "person"]].tolist())


def test_the_burst_is_matched_on_the_calendar_month_before_the_enrolment_month(tmp_path):
    events = [("T", "2022-02-01", "2022-02-01"), ("T", "2022-02-15", "2022-02-15"),
              ("A", "2022-01-31", "2022-01-31"), ("A", "2022-02-15", "2022-02-15"),  # one in February: no burst in it
              ("B", "2022-02-03", "2022-02-03"), ("B", "2022-02-20", "2022-02-20")]
    assert _match_case(tmp_path, events) == ["B"]


def test_a_burst_event_recorded_after_day_zero_still_counts_in_the_burst_band(tmp_path):
    events = [("T", "2022-02-01", "2022-02-01"), ("T", "2022-02-25", "2022-03-20"),  # recorded ten days after enrolment
              ("A", "2022-02-10", "2022-02-10"),
              ("B", "2022-02-03", "2022-02-03"), ("B", "2022-02-20", "2022-02-20")]
    assert _match_case(tmp_path, events) == ["B"]


def _matrices(events: list[float], exposed: list[float], days: list[float]) -> tuple[Matrices, dict[str, np.ndarray]]:
    """One follow-up bin per row, the same counts for every measure."""
    column = np.array(events, dtype=float)[:, None]
    switched = np.array(exposed, dtype=float)[:, None]
    matrices = Matrices(events=dict.fromkeys(MEASURES, column), days=np.array(days, dtype=float)[:, None], first_bin=0)
    return matrices, dict.fromkeys(MEASURES, switched)


def test_a_controls_events_after_a_later_enrolment_are_divided_by_the_effect_itself():
    # enrolled: 10 events in 100 days; controls: 35 events in 200 days, 5 of them after a later enrolment
    matrices, exposed = _matrices([10, 35], [0, 5], [100, 200])
    arm, weights, people = np.array([True, False]), np.ones((2, 1)), np.array([0, 1])
    adjusted = arm_estimates(matrices, slice(0, 1), arm, weights, people, 100, 0, exposed)["ed"]
    plain = arm_estimates(matrices, slice(0, 1), arm, weights, people, 100, 0)["ed"]
    # 0.1 a day = ratio x (30 + 5 / ratio) / 200  =>  ratio = (0.1 - 0.025) / 0.15 = 0.5
    assert adjusted.rate_ratio == pytest.approx(0.5, rel=1e-12)
    assert adjusted.rate_controls == pytest.approx(0.2 * 365.25, rel=1e-12)  # the controls' rate had nobody been enrolled
    assert plain.rate_ratio == pytest.approx(0.1 / 0.175, rel=1e-12)  # counted as if unenrolled: leans towards 1


def test_enrolment_after_bursts_in_the_control_arm_no_longer_pulls_the_estimate_towards_one():
    """Exchangeable arms; controls enrolled (probability 0.8) in the month after a burst; true ratio 0.5 from enrolment on."""
    rng = np.random.default_rng(3)
    n, months = 40_000, 12
    level, drift = rng.normal(-1.5, 0.8, n), rng.normal(0.0, 0.5, n)
    counts = np.zeros((n, months))
    for k in range(months):
        drift = 0.8 * drift + rng.normal(0.0, 0.4, n)
        counts[:, k] = rng.poisson(np.exp(level + drift))
    treated = np.arange(n) < n // 2
    enrolled_in = np.where(treated, 0, months)
    for k in range(1, months):
        enrolled_in[(enrolled_in == months) & (counts[:, k - 1] >= 2) & (rng.random(n) < 0.8)] = k
    after = np.arange(months)[None, :] >= enrolled_in[:, None]
    seen = np.where(after, rng.binomial(counts.astype(int), 0.5), counts)
    switched = np.where(after & ~treated[:, None], seen, 0.0)
    assert switched.sum() > 0.2 * seen[~treated].sum()  # a fifth of the controls' events follow a later enrolment
    days = np.full((n, months), DAYS_PER_MONTH)
    matrices = Matrices(events=dict.fromkeys(MEASURES, seen), days=days, first_bin=0)
    exposed = dict.fromkeys(MEASURES, switched)
    args = (matrices, slice(0, months), treated, np.ones((n, months)), np.arange(n), 200, 0)
    adjusted, plain = arm_estimates(*args, exposed)["ed"], arm_estimates(*args)["ed"]
    assert abs(adjusted.rate_ratio - 0.5) < 0.02 and adjusted.ci_low <= 0.5 <= adjusted.ci_high
    assert plain.rate_ratio > 0.6  # diluted towards 1 by the controls' enrolled time
