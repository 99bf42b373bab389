"""The randomised holdout: a reproducible, recorded share of would-be-listed people kept off the lists, never refilled."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.config import FeatureConfig
from features.dates import add_months
from features.errors import ConfigError
from features.home import Home
from models.risk_model import RiskModel
from risingrisk.commands.impact import impact_command
from serving.capacity import CapacityConfig
from serving.holdout import HOLDOUT_COLUMNS, HOLDOUT_REASON, holdout_draw, holdout_months
from serving.impact_records import impact_records
from serving.publish import publish
from serving.score import ScoreConfig, score_population
from training.impact import MEASURES
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
