"""Scoring honours the teams' actions read from the database as of the scoring date: held back, refilled, flagged, counted."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from database_support import database_url  # noqa: F401 - fixture
from features.caseload import CaseloadConfig, record_action
from features.database import create_database_engine, sqlite_url, upgrade
from service_support import AS_OF, FEATURES, NEIGHBOURHOODS, TestModel, feature_frame, fit_model
from serving.capacity import CapacityConfig
from serving.score import ScoreConfig, ScoredPopulation, score_population
from features.caseload import read_actions

BEFORE = datetime(2026, 10, 20, 9, 0, tzinfo=timezone.utc)  # recorded before the scoring date AS_OF
CONFIG = ScoreConfig(capacity=CapacityConfig(per_thousand=100.0), caseload=CaseloadConfig(suppress_months=6))


@pytest.fixture(scope="module")
def model() -> TestModel:
    return fit_model()


@pytest.fixture
def engine(database_url: str) -> Engine:  # noqa: F811
    upgrade(database_url)
    made = create_database_engine(database_url)
    yield made
    made.dispose()


def table(as_of: date = AS_OF, people: int = 60) -> pd.DataFrame:
    """A feature table of ``people`` in three neighbourhoods as of ``as_of`` (lists of 2 each at 100 per 1,000)."""
    X, _ = feature_frame(people, 11)
    return pd.DataFrame({
        "person_id": pd.array([f"P{i:07d}" for i in range(1, people + 1)], dtype="str"),
        "as_of": pd.Timestamp(as_of),
        "neighbourhood": pd.array([NEIGHBOURHOODS[i % 3] for i in range(people)], dtype="str"),
        "in_cohort": True,
        "excluded_reason": pd.array([pd.NA] * people, dtype="str"),
        **{c: X[c] for c in FEATURES},
    })


def listed(result: ScoredPopulation, neighbourhood: str) -> list[str]:
    return list(result.lists.loc[result.lists["neighbourhood"] == neighbourhood, "person_id"])


def act(engine: Engine, person: str, action: str, when: datetime = BEFORE, reason: str | None = None) -> None:
    record_action(engine, person_id=person, neighbourhood="Alpha Vale", action=action, token_id="t1", reason=reason, now=when)


def test_without_actions_the_lists_are_the_ranked_candidates_and_nobody_has_a_status(model: TestModel) -> None:
    result = score_population(table(), model.model, config=CONFIG)
    assert result.list_sizes == {n: 2 for n in NEIGHBOURHOODS}
    assert result.caseload == {"listed": 6, "on_caseload": 0, "recently_declined": 0, "refilled": 0, "previously_declined": 0,
                               "reviewed": 0, "contacted": 0, "unreachable": 0, "closed": 0}
    assert result.lists["status"].isna().all() and not result.lists["previously_declined"].any()


def test_a_publication_after_declined_no_longer_lists_that_person_and_still_fills_capacity(model: TestModel, engine: Engine) -> None:
    before = score_population(table(), model.model, config=CONFIG)
    top, second = listed(before, "Alpha Vale")
    act(engine, top, "declined", reason="person_declined")
    after = score_population(table(), model.model, config=CONFIG, actions=read_actions(engine, AS_OF))
    alpha = listed(after, "Alpha Vale")
    ranked = before.population.loc[before.population["neighbourhood"] == "Alpha Vale"].sort_values("score", ascending=False)
    assert alpha == [second, ranked["person_id"].iloc[2]] and len(alpha) == 2
    assert list(after.lists.loc[after.lists["neighbourhood"] == "Alpha Vale", "rank"]) == [1, 2]
    person = after.population.set_index("person_id").loc[top]
    assert (person["excluded_reason"], person["status"], bool(person["previously_declined"])) == ("recently declined", "declined", True)
    assert pd.isna(person["list_rank"]) and person["score"] == before.population.set_index("person_id").loc[top, "score"]
    assert {k: after.caseload[k] for k in ("listed", "recently_declined", "refilled", "on_caseload")} == {
        "listed": 6, "recently_declined": 1, "refilled": 1, "on_caseload": 0
    }
    assert listed(after, "Cedar") == listed(before, "Cedar")


def test_after_suppress_months_a_declined_person_may_return_flagged_previously_declined(model: TestModel, engine: Engine) -> None:
    top = listed(score_population(table(), model.model, config=CONFIG), "Alpha Vale")[0]
    act(engine, top, "not_appropriate", reason="moved_away")
    for months_later, back in ((date(2027, 4, 19), False), (date(2027, 4, 20), True)):
        result = score_population(table(months_later), model.model, config=CONFIG, actions=read_actions(engine, months_later))
        assert (top in listed(result, "Alpha Vale")) is back
    entry = result.lists.set_index("person_id").loc[top]
    assert (entry["status"], bool(entry["previously_declined"]), result.caseload["previously_declined"]) == ("not_appropriate", True, 1)


def test_enrolled_is_held_back_on_caseload_while_reviewed_contacted_and_unreachable_stay_listed_with_their_status(
    model: TestModel, engine: Engine
) -> None:
    people = listed(score_population(table(people=120), model.model, config=CONFIG), "Alpha Vale")
    assert len(people) == 4
    for person, action in zip(people, ("enrolled", "reviewed", "contacted", "unreachable")):
        act(engine, person, action)
    result = score_population(table(people=120), model.model, config=CONFIG, actions=read_actions(engine, AS_OF))
    entries = result.lists.loc[result.lists["neighbourhood"] == "Alpha Vale"].set_index("person_id")
    assert people[0] not in entries.index and len(entries) == 4
    assert entries.loc[people[1:], "status"].tolist() == ["reviewed", "contacted", "unreachable"]
    assert result.population.set_index("person_id").loc[people[0], "excluded_reason"] == "on caseload"
    assert {k: result.caseload[k] for k in ("on_caseload", "reviewed", "contacted", "unreachable", "refilled")} == {
        "on_caseload": 1, "reviewed": 1, "contacted": 1, "unreachable": 1, "refilled": 1
    }


def test_an_action_recorded_after_the_scoring_date_does_not_change_that_dates_list(model: TestModel, engine: Engine) -> None:
    before = score_population(table(), model.model, config=CONFIG)
    top = listed(before, "Alpha Vale")[0]
    act(engine, top, "enrolled", when=datetime(2026, 11, 1, 0, 0, 1, tzinfo=timezone.utc))
    actions = read_actions(engine, AS_OF)
    assert actions.empty
    after = score_population(table(), model.model, config=CONFIG, actions=actions)
    assert after.lists[["neighbourhood", "person_id"]].equals(before.lists[["neighbourhood", "person_id"]])
    assert len(read_actions(engine, date(2026, 11, 2))) == 1


def test_a_database_never_migrated_holds_no_actions(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    assert read_actions(sqlite_url(missing), AS_OF).empty and not missing.exists()
