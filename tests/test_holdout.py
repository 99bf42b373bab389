"""The randomised holdout: one sticky, recorded draw per person, kept off the lists for the holdout period, never refilled."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.build import build_features
from features.config import FeatureConfig
from features.dates import add_months, extract_date
from features.errors import ConfigError
from features.home import Home
from features.simulation import simulate
from models.risk_model import RiskModel
from risingrisk.commands.impact import impact_command
from serving.capacity import CapacityConfig
from serving.holdout import (
    HOLDOUT_COLUMNS, HOLDOUT_REASON, assign_arms, first_assignments, holdout_draw, holdout_history, holdout_months,
)
from serving.impact_records import impact_records
from serving.publish import list_publications, publish
from serving.score import ScoreConfig, score_population
from training.impact import MEASURES, ImpactConfig, ImpactError
from training.impact.followup import Timeline, load_timeline
from training.impact.randomised import randomised_comparison
from training.list_policy import ListsConfig

from impact_support import burst_population

AS_OF = date(2026, 11, 1)
CAPACITY = {"Ash": 40, "Birch": 20}
#: People of the 60 would-be-listed in ``_table`` whose draw (seed 0) is below 0.25 (checked against an independent SHA-256).
HELD_AT_A_QUARTER = 18


def _predictors(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({"ed_0_3m": rng.poisson(0.6, n).astype(float), "age": rng.integers(0, 95, n).astype(float)})


@pytest.fixture(scope="module")
def model() -> RiskModel:
    rng = np.random.default_rng(0)
    X, Xv, Xc = (_predictors(n, rng) for n in (1500, 500, 500))
    label = lambda f: (rng.random(len(f)) < 1 / (1 + np.exp(3.0 - 0.9 * f["ed_0_3m"] - 0.01 * f["age"]))).astype(int)  # noqa: E731
    fitted = RiskModel(n_estimators=30, num_leaves=7, min_child_samples=20, early_stopping_rounds=10, n_jobs=1)
    return fitted.fit(X, label(X), X_valid=Xv, y_valid=label(Xv)).calibrate(Xc, label(Xc), method="platt")


def _table(as_of: date = AS_OF) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 600
    keys = pd.DataFrame({
        "person_id": [f"P{i:04d}" for i in range(n)], "as_of": pd.Timestamp(as_of),
        "neighbourhood": np.where(np.arange(n) < 400, "Ash", "Birch"),
        "excluded_reason": pd.Series(pd.NA, index=range(n), dtype="str"), "in_cohort": True, "imd_decile": rng.integers(1, 11, n).astype(float),
    })
    return pd.concat([keys, _predictors(n, rng)], axis=1)


def _score(model: RiskModel, fraction: float, *, capacity: dict[str, int] = CAPACITY, as_of: date = AS_OF, seed: int = 0,
           months: int | None = None, history: pd.DataFrame | None = None):
    lists = ListsConfig(holdout_fraction=fraction, holdout_seed=seed, holdout_months=months)
    config = ScoreConfig(capacity=CapacityConfig(overrides=capacity), lists=lists)
    return score_population(_table(as_of), model, config=config, earlier_holdout=history)


def _independent_draw(person: str, seed: int) -> float:
    return int(hashlib.sha256(f"{person}|{seed}".encode()).hexdigest()[:16], 16) / 2**64


def test_the_draw_is_the_sha256_of_person_and_seed_read_as_a_fraction() -> None:
    people = pd.Series(["P0001", "P0002", "X"])
    assert holdout_draw(people, 7).tolist() == [_independent_draw(p, 7) for p in people]
    assert holdout_draw(people, 7).tolist() != holdout_draw(people, 8).tolist()


def test_a_quarter_holdout_keeps_exactly_the_people_drawn_below_it_off_the_lists(model: RiskModel) -> None:
    none, quarter = _score(model, 0.0), _score(model, 0.25)
    would_be = none.lists[["neighbourhood", "rank", "person_id"]]
    expected = {p for p in would_be["person_id"] if _independent_draw(p, 0) < 0.25}
    record = quarter.holdout
    assert list(record.columns) == list(HOLDOUT_COLUMNS)
    assert record[["neighbourhood", "rank", "person_id"]].to_dict("list") == would_be.to_dict("list")
    assert set(record.loc[record["arm"] == "holdout", "person_id"]) == expected
    assert len(expected) == HELD_AT_A_QUARTER
    assert quarter.holdout_counts == {
        "would_be_listed": 60, "listed": 60 - HELD_AT_A_QUARTER, "holdout": HELD_AT_A_QUARTER, "released": 0, "newly_assigned": 60,
    }
    assert (record["listed_at"] == pd.Timestamp(AS_OF)).all() and (record["first_assigned"] == pd.Timestamp(AS_OF)).all()
    # the period defaults to the end of the outcome window: 18 months
    assert (record["holdout_until"] == pd.Timestamp(add_months(AS_OF, 18))).all()


def test_held_out_places_are_not_refilled_and_the_list_is_renumbered(model: RiskModel) -> None:
    none, quarter = _score(model, 0.0), _score(model, 0.25)
    held = set(quarter.holdout.loc[quarter.holdout["arm"] == "holdout", "person_id"])
    assert quarter.lists["person_id"].tolist() == [p for p in none.lists["person_id"] if p not in held]
    for nbhd, listed in quarter.lists.groupby("neighbourhood"):
        held_here = int(((quarter.holdout["arm"] == "holdout") & (quarter.holdout["neighbourhood"] == nbhd)).sum())
        assert len(listed) == CAPACITY[nbhd] - held_here
        assert listed["rank"].tolist() == list(range(1, len(listed) + 1))
    pop = quarter.population.set_index("person_id")
    assert (pop.loc[sorted(held), "excluded_reason"] == HOLDOUT_REASON).all()
    assert pop.loc[sorted(held), "list_rank"].isna().all() and pop.loc[sorted(held), "score"].notna().all()
    assert quarter.caseload["refilled"] == 0


def test_a_persons_draw_depends_neither_on_who_else_is_listed_nor_on_the_scoring_date(model: RiskModel) -> None:
    first, again = _score(model, 0.25), _score(model, 0.25)
    pd.testing.assert_frame_equal(first.holdout, again.holdout)
    wider = _score(model, 0.25, capacity={"Ash": 80, "Birch": 40})
    arms = wider.holdout.set_index("person_id")["arm"]
    assert (arms.loc[first.holdout["person_id"]].to_numpy() == first.holdout["arm"].to_numpy()).all()
    later = _score(model, 0.25, as_of=date(2026, 12, 1))
    assert later.holdout["arm"].tolist() == first.holdout["arm"].tolist()
    assert (later.holdout["first_assigned"] == pd.Timestamp(2026, 12, 1)).all()


def test_without_a_holdout_every_would_be_listed_person_is_listed_and_nobody_is_assigned(model: RiskModel) -> None:
    result = _score(model, 0.0)
    assert result.holdout_counts == {"would_be_listed": 60, "listed": 60, "holdout": 0, "released": 0, "newly_assigned": 0}
    assert HOLDOUT_REASON not in set(result.population["excluded_reason"].dropna())
    assert result.holdout["first_assigned"].isna().all() and result.holdout["holdout_until"].isna().all()
    assert result.lists["rank"].tolist() == result.holdout["rank"].tolist()


def test_candidates_run_to_twice_the_capacity_and_the_risk_policy_lists_exactly_those_inside_the_cut(model: RiskModel) -> None:
    result = _score(model, 0.25)
    cands = result.candidates
    assert cands.groupby("neighbourhood").size().to_dict() == {"Ash": 80, "Birch": 40}
    assert (cands["would_be_listed"] == (cands["rank"] <= cands["capacity"])).all()
    held = set(result.holdout.loc[result.holdout["arm"] == "holdout", "person_id"])
    assert set(cands.loc[cands["held_out"], "person_id"]) == held
    listed = cands.loc[cands["would_be_listed"] & ~cands["held_out"], "person_id"]
    assert sorted(listed) == sorted(result.lists["person_id"])


@pytest.mark.parametrize("fraction", [1.0, -0.1])
def test_a_holdout_fraction_outside_zero_to_one_is_refused_with_the_fix(fraction: float) -> None:
    with pytest.raises(ConfigError, match=r"holdout_fraction must be in \[0, 1\)"):
        ListsConfig(holdout_fraction=fraction)


@pytest.mark.parametrize("months", [0, -3])
def test_a_holdout_period_below_one_month_is_refused_with_the_fix(months: int) -> None:
    with pytest.raises(ConfigError, match=rf"holdout_months must be >= 1 or omitted; got {months}\. Use e\.g\. 18"):
        ListsConfig.load({"holdout_months": months}, where="[lists]")


def test_the_holdout_period_is_the_setting_else_the_end_of_the_models_outcome_window() -> None:
    assert holdout_months(ListsConfig(holdout_months=7), FeatureConfig(outcome_window=(6, 18))) == 7
    assert holdout_months(ListsConfig(), FeatureConfig(outcome_window=(3, 15))) == 15
    assert holdout_months(ListsConfig(), None) == 18


def _history(*results) -> pd.DataFrame:
    return pd.concat([r.holdout for r in results], ignore_index=True)


def _arms(result) -> dict[str, str]:
    return dict(zip(result.holdout["person_id"], result.holdout["arm"]))


def test_a_held_out_person_is_released_after_holdout_months_and_then_listed_normally(model: RiskModel) -> None:
    months = [AS_OF, add_months(AS_OF, 1), add_months(AS_OF, 2)]
    first = _score(model, 0.25, as_of=months[0], months=2)
    second = _score(model, 0.25, as_of=months[1], months=2, history=_history(first))
    third = _score(model, 0.25, as_of=months[2], months=2, history=_history(first, second))
    held = sorted(p for p, arm in _arms(first).items() if arm == "holdout")
    assert len(held) == HELD_AT_A_QUARTER
    assert _arms(second) == _arms(first) and second.lists["person_id"].tolist() == first.lists["person_id"].tolist()
    assert second.holdout_counts["newly_assigned"] == 0
    # the third scoring falls on holdout_until (first assignment + 2 months): everyone is released and listed normally
    assert set(third.holdout["arm"]) == {"released"}
    assert (third.holdout["first_assigned"] == pd.Timestamp(months[0])).all()
    assert (third.holdout["holdout_until"] == pd.Timestamp(months[2])).all()
    assert third.lists["person_id"].tolist() == _score(model, 0.0, as_of=months[2]).lists["person_id"].tolist()
    assert set(held) <= set(third.lists["person_id"])
    assert HOLDOUT_REASON not in set(third.population["excluded_reason"].dropna())
    assert third.holdout_counts == {"would_be_listed": 60, "listed": 0, "holdout": 0, "released": 60, "newly_assigned": 0}


def test_an_assigned_person_keeps_their_arm_when_the_seed_and_fraction_change_and_only_new_people_are_drawn(model: RiskModel) -> None:
    first = _score(model, 0.25)
    later = _score(model, 0.5, as_of=add_months(AS_OF, 1), seed=9, capacity={"Ash": 80, "Birch": 40}, history=_history(first))
    arms = _arms(later)
    assert {p: arms[p] for p in first.holdout["person_id"]} == _arms(first)
    new = later.holdout.loc[later.holdout["first_assigned"] == pd.Timestamp(add_months(AS_OF, 1))]
    assert len(new) == 60 and set(new["person_id"]).isdisjoint(first.holdout["person_id"])
    assert new["arm"].eq("holdout").tolist() == [_independent_draw(p, 9) < 0.5 for p in new["person_id"]]
    # the new seed would have drawn some of the first month's people into the other arm: their arms came from the record
    carried = first.holdout["person_id"]
    assert (np.array([_independent_draw(p, 9) < 0.5 for p in carried]) != first.holdout["arm"].eq("holdout").to_numpy()).any()


def test_people_on_a_would_be_list_before_the_holdout_began_are_listed_and_never_drawn(model: RiskModel) -> None:
    before = _score(model, 0.0)
    started = _score(model, 0.5, as_of=add_months(AS_OF, 1), capacity={"Ash": 80, "Birch": 40}, history=_history(before))
    earlier = started.holdout.loc[started.holdout["person_id"].isin(before.holdout["person_id"])]
    assert len(earlier) == 60 and set(earlier["arm"]) == {"listed"}
    assert earlier["first_assigned"].isna().all() and earlier["holdout_until"].isna().all()
    assert set(earlier["person_id"]) <= set(started.lists["person_id"])
    assert started.holdout_counts["newly_assigned"] == 60


def test_with_holdout_fraction_zero_nothing_changes_whatever_the_earlier_holdout_records(model: RiskModel) -> None:
    held_before = _score(model, 0.25)
    plain = _score(model, 0.0, as_of=add_months(AS_OF, 1))
    after = _score(model, 0.0, as_of=add_months(AS_OF, 1), history=_history(held_before))
    for name in ("population", "lists", "holdout", "candidates"):
        pd.testing.assert_frame_equal(getattr(after, name), getattr(plain, name))
    assert set(after.holdout["arm"]) == {"listed"} and after.holdout["first_assigned"].isna().all()
    assert after.lists["person_id"].tolist() == after.holdout["person_id"].tolist()


def test_a_would_be_list_of_nobody_assigns_nobody() -> None:
    assigned = assign_arms(pd.Series([], dtype=str), AS_OF, None, fraction=0.5, seed=0, months=18)
    assert list(assigned.columns) == ["arm", "first_assigned", "holdout_until"] and assigned.empty


def _binomial_bound(p: float, n: int) -> float:
    """Half-width of a 4-standard-error interval around ``p`` for ``n`` independent draws (miss rate about 6 in 100,000)."""
    return 4.0 * float(np.sqrt(p * (1.0 - p) / n))


def test_the_holdout_share_among_20000_newly_assigned_people_is_within_a_binomial_bound_of_the_fraction() -> None:
    people = pd.Series([f"N{i:06d}" for i in range(20_000)])
    for fraction in (0.1, 0.3):
        assigned = assign_arms(people, AS_OF, None, fraction=fraction, seed=4, months=18)
        share = float((assigned["arm"] == "holdout").mean())
        assert abs(share - fraction) <= _binomial_bound(fraction, len(people))


# -- three consecutive monthly scorings of a small simulated population, published and read back like score_and_publish does

MONTHS = (date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1))
SIM_FRACTION = 0.3


@dataclass(frozen=True)
class _Monthly:
    data: Path
    table: pd.DataFrame
    root: Path
    results: list


def _monthly_config(month: int) -> ScoreConfig:
    # the seed changes every month, so an arm that did not come from the earlier records would cross
    return ScoreConfig(capacity=CapacityConfig(per_thousand=40), lists=ListsConfig(holdout_fraction=SIM_FRACTION, holdout_seed=month))


def _score_month(model: RiskModel, monthly_table: pd.DataFrame, root: Path, month: int):
    table = monthly_table[monthly_table["as_of"] == pd.Timestamp(MONTHS[month])]
    return score_population(table, model, config=_monthly_config(month), earlier_holdout=holdout_history(list_publications(root)))


@pytest.fixture(scope="module")
def monthly(model: RiskModel, tmp_path_factory: pytest.TempPathFactory) -> _Monthly:
    data = tmp_path_factory.mktemp("holdout_sim") / "data"
    simulate(people=3000, seed=31, out=data, start=date(2022, 1, 1), end=date(2024, 4, 1))
    table = build_features(data, as_of=list(MONTHS))
    root = tmp_path_factory.mktemp("holdout_publications")
    results = []
    for month, as_of in enumerate(MONTHS):
        result = _score_month(model, table, root, month)
        empty = pd.DataFrame({"person_id": pd.Series([], dtype="str")})
        publish(root, population=result.population, lists=result.lists, features=empty, timeline=empty, holdout=result.holdout,
                candidates=result.candidates, clock=lambda: datetime(as_of.year, as_of.month, 2, tzinfo=timezone.utc),
                metadata={"as_of": as_of.isoformat(), "list_policy": {"policy": "risk"}, "holdout": {"fraction": SIM_FRACTION}})
        results.append(result)
    return _Monthly(data, table, root, results)


def test_arms_never_cross_across_three_consecutive_monthly_scorings_on_a_small_simulated_population(monthly: _Monthly) -> None:
    records = _history(*monthly.results)
    per_person = records.groupby("person_id").agg(
        arms=("arm", "nunique"), firsts=("first_assigned", "nunique"), months=("listed_at", "nunique")
    )
    assert (per_person["arms"] == 1).all() and (per_person["firsts"] == 1).all() and records["first_assigned"].notna().all()
    assert (per_person["months"] >= 2).sum() > 0  # people on the would-be lists in several months ...
    newly = [int(r.holdout_counts["newly_assigned"]) for r in monthly.results]
    assert newly[0] == len(monthly.results[0].holdout) and min(newly[1:]) > 0  # ... and people new to them each month
    held = set(records.loc[records["arm"] == "holdout", "person_id"])
    listed = set(pd.concat([r.lists for r in monthly.results])["person_id"])
    assert held and held.isdisjoint(listed)
    # a carried person's arm is the one of their first month, not a redraw with this month's seed
    carried = records.loc[records["listed_at"] > records["first_assigned"]]
    seed = carried["listed_at"].map({pd.Timestamp(m): k for k, m in enumerate(MONTHS)})
    redraw = [_independent_draw(p, s) < SIM_FRACTION for p, s in zip(carried["person_id"], seed)]
    assert (np.array(redraw) != carried["arm"].eq("holdout").to_numpy()).any()


def test_a_rerun_of_a_scoring_date_gives_identical_arms_with_its_own_and_later_publications_present(
    model: RiskModel, monthly: _Monthly
) -> None:
    again = _score_month(model, monthly.table, monthly.root, 1)
    pd.testing.assert_frame_equal(again.holdout, monthly.results[1].holdout)
    pd.testing.assert_frame_equal(again.lists, monthly.results[1].lists)


def test_the_holdout_share_among_newly_assigned_simulated_people_is_within_a_binomial_bound_of_the_fraction(monthly: _Monthly) -> None:
    records = _history(*monthly.results)
    new = records.loc[records["listed_at"] == records["first_assigned"]]
    share = float((new["arm"] == "holdout").mean())
    assert len(new) == sum(r.holdout_counts["newly_assigned"] for r in monthly.results)
    assert abs(share - SIM_FRACTION) <= _binomial_bound(SIM_FRACTION, len(new))


def test_the_impact_evaluation_counts_each_person_once_with_the_first_assignment_date(monthly: _Monthly) -> None:
    records = _history(*monthly.results)
    first = records.sort_values("listed_at", kind="stable").drop_duplicates("person_id").set_index("person_id")
    gathered = impact_records(monthly.root)
    holdout = gathered.holdout.set_index("person_id")
    assert not gathered.holdout["person_id"].duplicated().any() and set(holdout.index) == set(first.index)
    assert (holdout["listed_at"] == first.loc[holdout.index, "first_assigned"]).all()
    assert (holdout["arm"] == first.loc[holdout.index, "arm"]).all()
    assert (holdout["censor_at"] == first.loc[holdout.index, "holdout_until"]).all()  # 18 months after the draw
    assert gathered.repeated_holdout == len(records) - len(first) and gathered.with_holdout == 3
    timeline = load_timeline(monthly.data, data_end=extract_date(monthly.data), cost_settings=ImpactConfig().cost_settings)
    comparison = randomised_comparison(timeline, gathered.holdout, ImpactConfig(bootstrap=100))
    assert comparison.counts == {"n_listed": int((first["arm"] == "listed").sum()), "n_holdout": int((first["arm"] == "holdout").sum())}
    stacked = records[["person_id", "listed_at", "arm"]]
    with pytest.raises(ImpactError, match=r"must hold one row per person \(their first assignment\); row \d+ repeats an earlier person"):
        randomised_comparison(timeline, stacked, ImpactConfig(bootstrap=100))


def _tiny_timeline(tmp_path: Path) -> Timeline:
    persons = pd.DataFrame({"person_id": ["A", "B", "C", "D"], "birth_date": date(1950, 1, 1), "sex": "F", "practice": "P",
                            "neighbourhood": "N", "registered_from": date(2015, 1, 1), "registered_to": None, "death_date": None})
    events = pd.DataFrame({
        "person_id": ["A", "A", "B", "C", "C"], "setting": "ed",
        "event_date": pd.to_datetime(["2022-02-10", "2022-06-10", "2022-03-01", "2022-05-01", "2022-07-01"]),
    })
    persons.to_parquet(tmp_path / "persons.parquet", index=False)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    return load_timeline(tmp_path, data_end=date(2024, 1, 1), cost_settings=("ed",))


def test_randomised_follow_up_runs_from_the_first_assignment_and_stops_at_censor_at(tmp_path: Path) -> None:
    timeline = _tiny_timeline(tmp_path)
    holdout = pd.DataFrame({
        "person_id": ["A", "B", "C", "D"], "arm": ["listed", "listed", "holdout", "holdout"],
        "listed_at": pd.to_datetime(["2022-01-01", "2022-01-01", "2022-01-01", "2022-01-01"]),
        "censor_at": pd.to_datetime(["2022-04-01", None, None, None]),
    })
    ed = randomised_comparison(timeline, holdout, ImpactConfig(bootstrap=100)).estimates["ed"]
    # A: 90 days (1 Jan to 1 Apr) holding one event (the June one is after censoring); B: a year of 365.25 days, one event
    assert ed.rate_enrolled == pytest.approx(2 / (90 + 365.25) * 365.25, rel=1e-12)
    assert ed.rate_controls == pytest.approx(2 / (2 * 365.25) * 365.25, rel=1e-12)
    assert ed.rate_ratio == pytest.approx(ed.rate_enrolled / ed.rate_controls, rel=1e-12)


@pytest.mark.parametrize(("change", "message"), [
    ({"arm": ["released", "listed", "holdout", "holdout"]}, r"holdout record row 0 arm must be 'holdout' or 'listed'; got 'released'"),
    ({"censor_at": pd.to_datetime(["2021-12-01", None, None, None])}, r"holdout record row 0 censor_at must be on or after listed_at"),
    ({"listed_at": pd.to_datetime([None, "2022-01-01", "2022-01-01", "2022-01-01"])}, r"holdout record row 0 listed_at must be the date"),
])
def test_a_bad_holdout_record_row_is_refused_naming_the_row_and_the_fix(tmp_path: Path, change: dict, message: str) -> None:
    holdout = pd.DataFrame({
        "person_id": ["A", "B", "C", "D"], "arm": ["listed", "listed", "holdout", "holdout"],
        "listed_at": pd.to_datetime(["2022-01-01"] * 4), "censor_at": pd.to_datetime([None] * 4),
    }).assign(**change)
    with pytest.raises(ImpactError, match=message):
        randomised_comparison(_tiny_timeline(tmp_path), holdout, ImpactConfig(bootstrap=100))


def _sticky_records(root: Path, as_of: str, hour: int, rows: dict[str, tuple[str, str | None]], *, fraction: float) -> None:
    """Publish a holdout record in today's format: person -> (arm, first_assigned), holdout_until 18 months after the draw."""
    first = pd.to_datetime([f for _, f in rows.values()]).astype("datetime64[us]")
    holdout = pd.DataFrame({
        "person_id": list(rows), "neighbourhood": "Ash", "listed_at": pd.Timestamp(as_of), "arm": [a for a, _ in rows.values()],
        "rank": range(1, len(rows) + 1), "first_assigned": first, "holdout_until": first + pd.DateOffset(months=18),
    })
    empty = pd.DataFrame({"person_id": pd.Series([], dtype="str")})
    publish(root, population=empty, lists=empty, features=empty, timeline=empty, holdout=holdout, candidates=empty.assign(held_out=False),
            metadata={"as_of": as_of, "list_policy": {"policy": "rising"}, "holdout": {"fraction": fraction}}, clock=_clock(hour))


def test_a_scoring_without_a_holdout_ends_every_earlier_assignments_follow_up_that_day(tmp_path: Path) -> None:
    _sticky_records(tmp_path, "2026-10-01", 9, {"A": ("holdout", "2026-10-01"), "B": ("listed", "2026-10-01")}, fraction=0.5)
    _sticky_records(tmp_path, "2026-11-01", 10, {"A": ("listed", None), "B": ("listed", None)}, fraction=0.0)
    _sticky_records(tmp_path, "2026-12-01", 11, {"A": ("holdout", "2026-10-01"), "C": ("holdout", "2026-12-01")}, fraction=0.5)
    gathered = impact_records(tmp_path)
    assert gathered.holdout.assign(**{c: gathered.holdout[c].dt.date.astype(str) for c in ("listed_at", "censor_at")}).to_dict("list") == {
        "person_id": ["A", "B", "C"], "listed_at": ["2026-10-01", "2026-10-01", "2026-12-01"], "arm": ["holdout", "listed", "holdout"],
        "censor_at": ["2026-11-01", "2026-11-01", "2028-06-01"],
    }
    assert (gathered.with_holdout, gathered.repeated_holdout) == (2, 3)


def _clock(hour: int):
    return lambda: datetime(2026, 11, 2, hour, 0, tzinfo=timezone.utc)


def _records(root: Path, as_of: str, hour: int, *, arms: dict[str, str], ranked: list[str], policy: str = "risk",
             fraction: float = 0.5) -> None:
    listed_at = pd.Timestamp(as_of)
    holdout = pd.DataFrame({"person_id": list(arms), "neighbourhood": "Ash", "listed_at": listed_at, "arm": list(arms.values()),
                            "rank": range(1, len(arms) + 1)})
    candidates = pd.DataFrame({
        "person_id": ranked, "neighbourhood": "Ash", "listed_at": listed_at, "rank": range(1, len(ranked) + 1), "capacity": 2,
        "would_be_listed": [i < 2 for i in range(len(ranked))], "held_out": [arms.get(p) == "holdout" for p in ranked],
    })
    empty = pd.DataFrame({"person_id": pd.Series([], dtype="str")})
    publish(root, population=empty, lists=empty, features=empty, timeline=empty, holdout=holdout, candidates=candidates,
            metadata={"as_of": as_of, "list_policy": {"policy": policy}, "holdout": {"fraction": fraction}}, clock=_clock(hour))


def test_impact_records_from_before_sticky_arms_keep_each_persons_earliest_draw_and_drop_the_held_out_from_the_ranks(
    tmp_path: Path,
) -> None:
    empty = pd.DataFrame({"person_id": pd.Series([], dtype="str")})
    publish(tmp_path, population=empty, lists=empty, features=empty, timeline=empty, metadata={"as_of": "2026-09-01"}, clock=_clock(8))
    _records(tmp_path, "2026-10-01", 9, arms={"A": "holdout", "B": "listed"}, ranked=["A", "B", "C", "D"])
    _records(tmp_path, "2026-11-01", 10, arms={"A": "listed", "E": "holdout"}, ranked=["A", "E", "F", "C"])
    _records(tmp_path, "2026-12-01", 11, arms={"G": "holdout", "H": "listed"}, ranked=["G", "H", "I", "J"], policy="rising")
    records = impact_records(tmp_path)
    assert records.holdout.assign(listed_at=records.holdout["listed_at"].dt.date.astype(str)).to_dict("list") == {
        "person_id": ["A", "B", "E", "G", "H"],
        "listed_at": ["2026-10-01", "2026-10-01", "2026-11-01", "2026-12-01", "2026-12-01"],
        "arm": ["holdout", "listed", "holdout", "holdout", "listed"],
        "censor_at": [pd.NaT] * 5,  # these records have no holdout period, and no publication paused the holdout
    }
    assert records.ranks[["person_id", "rank", "capacity"]].to_dict("list") == {
        "person_id": ["B", "C", "D", "A", "F"], "rank": [2, 3, 4, 1, 3], "capacity": [2, 2, 2, 2, 2],
    }
    assert (records.publications, records.with_holdout, records.with_ranks, records.without_records) == (4, 3, 2, 1)
    assert (records.repeated_holdout, records.repeated_ranks) == (1, 1)


def test_publications_without_a_holdout_give_no_randomised_record(tmp_path: Path) -> None:
    _records(tmp_path, "2026-10-01", 9, arms={"A": "listed", "B": "listed"}, ranked=["A", "B", "C"], fraction=0.0)
    records = impact_records(tmp_path)
    assert records.holdout is None and records.ranks["person_id"].tolist() == ["A", "B", "C"]
    assert impact_records(tmp_path / "absent").ranks is None


@pytest.mark.slow
def test_risingrisk_impact_reads_the_homes_publications_and_reports_the_randomised_and_cut_comparisons(tmp_path, monkeypatch):
    population = burst_population(tmp_path / "data", people=8_000, seed=1, rate_ratio=0.75)
    home = Home(tmp_path / "home").ensure()
    arms = population.holdout.assign(neighbourhood="N1", rank=range(1, len(population.holdout) + 1))
    held = set(arms.loc[arms["arm"] == "holdout", "person_id"])
    candidates = population.ranks.assign(
        neighbourhood="N1", would_be_listed=population.ranks["rank"] <= population.ranks["capacity"],
        held_out=population.ranks["person_id"].isin(held),
    )
    empty = pd.DataFrame({"person_id": pd.Series([], dtype="str")})
    publish(home, population=empty, lists=empty, features=empty, timeline=empty, holdout=arms, candidates=candidates,
            metadata={"as_of": "2023-07-01", "list_policy": {"policy": "risk"}, "holdout": {"fraction": 0.5}}, clock=_clock(9))
    monkeypatch.setenv("RISINGRISK_HOME", str(home.root))
    app = typer.Typer()
    app.command()(impact_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["impact-command", "--data", str(population.data), "--out", str(tmp_path / "out"),
                                      "--from", "2022-01-01", "--to", "2023-12-01", "--no-track"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{len(held):,} held out and {300 - len(held):,} listed at random from 1 publication(s)" in result.output
    doc = json.loads((tmp_path / "out" / "impact.json").read_text())
    assert set(doc["randomised"]) == set(MEASURES) and set(doc["discontinuity"]) == set(MEASURES)
    assert doc["randomised"]["ed"]["n_holdout"] == len(held) and doc["randomised"]["ed"]["n_listed"] == 300 - len(held)
    assert doc["randomised"]["ed"]["ci_low"] <= 0.75 <= doc["randomised"]["ed"]["ci_high"]
    inside = int(candidates["rank"].between(151, 300).mul(~candidates["held_out"]).sum())  # bandwidth: half the capacity
    assert doc["discontinuity"]["ed"]["n_listed"] == inside and doc["discontinuity"]["ed"]["n_not_listed"] == 150


def test_a_draw_recorded_before_arms_were_sticky_is_carried_from_its_scoring_date_for_holdout_months(tmp_path: Path) -> None:
    _records(tmp_path, "2026-10-01", 9, arms={"A": "holdout", "B": "listed"}, ranked=["A", "B"])
    history = holdout_history(list_publications(tmp_path))
    people = pd.Series(["A", "B"])
    during = assign_arms(people, date(2026, 12, 1), history, fraction=0.5, seed=1, months=3)
    assert during["arm"].tolist() == ["holdout", "listed"]
    assert (during["first_assigned"] == pd.Timestamp("2026-10-01")).all() and (during["holdout_until"] == pd.Timestamp("2027-01-01")).all()
    assert assign_arms(people, date(2027, 1, 1), history, fraction=0.5, seed=1, months=3)["arm"].tolist() == ["released", "released"]


def test_between_two_runs_of_one_scoring_date_the_later_publications_draw_is_the_assignment(tmp_path: Path) -> None:
    _sticky_records(tmp_path, "2026-10-01", 9, {"A": ("holdout", "2026-10-01"), "B": ("listed", "2026-10-01")}, fraction=0.5)
    _sticky_records(tmp_path, "2026-10-01", 10, {"A": ("listed", "2026-10-01"), "B": ("listed", "2026-10-01")}, fraction=0.5)
    assignments = first_assignments(holdout_history(list_publications(tmp_path)))
    assert assignments["arm"].to_dict() == {"A": "listed", "B": "listed"}
