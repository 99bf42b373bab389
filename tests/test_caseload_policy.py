"""Tests for serving.caseload_policy: the next publication honours enrolled, declined and in-progress people."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from database_support import database_url  # noqa: F401 - fixture
from features.caseload import ACTION_COLUMNS, CaseloadConfig, actions_as_of, record_action, statuses
from features.database import create_database_engine, upgrade
from features.errors import TransitionConflictError
from serving.caseload_policy import ON_CASELOAD, RECENTLY_DECLINED, apply_caseload, apply_caseload_to_lists, person_decisions
from serving.errors import ScoringError

AS_OF = date(2026, 7, 1)
MONTHS = CaseloadConfig().suppress_months


def moment(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def actions(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """(person_id, action, recorded_at) rows in neighbourhood Cedar."""
    return pd.DataFrame(
        [(i + 1, person, "Cedar", action, "moved_away" if action in ("declined", "not_appropriate") else None, "t1", moment(when))
         for i, (person, action, when) in enumerate(rows)],
        columns=list(ACTION_COLUMNS),
    )


def ranked(*people: str) -> pd.DataFrame:
    return pd.DataFrame({"person_id": list(people), "score": [1.0 - i / 100 for i in range(len(people))]})


NONE = actions()


def test_without_actions_the_list_is_the_top_of_the_ranking() -> None:
    result = apply_caseload(ranked("A", "B", "C", "D"), 2, NONE, as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["A", "B"]
    assert list(result.listed["rank"]) == [1, 2]
    assert result.listed["status"].tolist() == [None, None]
    assert result.held_back.empty
    assert result.counts == {"listed": 2, "on_caseload": 0, "recently_declined": 0, "refilled": 0, "previously_declined": 0,
                             "reviewed": 0, "contacted": 0, "unreachable": 0, "closed": 0}


def test_a_declined_person_is_not_listed_and_capacity_is_still_filled() -> None:
    result = apply_caseload(ranked("A", "B", "C", "D"), 3, actions(("B", "declined", "2026-06-01")), as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["A", "C", "D"]
    assert list(result.listed["rank"]) == [1, 2, 3]
    assert list(result.listed["candidate_rank"]) == [1, 3, 4]
    assert result.held_back[["person_id", "held_back_reason"]].values.tolist() == [["B", RECENTLY_DECLINED]]
    assert result.held_back["held_back_until"].tolist() == [datetime(2026, 12, 1, tzinfo=timezone.utc)]
    assert (result.counts["listed"], result.counts["recently_declined"], result.counts["refilled"]) == (3, 1, 1)


def test_an_enrolled_person_is_held_back_as_on_caseload() -> None:
    result = apply_caseload(ranked("A", "B", "C"), 2, actions(("A", "contacted", "2026-05-01"), ("A", "enrolled", "2026-05-02")),
                            as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["B", "C"]
    assert result.held_back[["person_id", "held_back_reason"]].values.tolist() == [["A", ON_CASELOAD]]
    assert result.counts["on_caseload"] == 1


def test_not_appropriate_is_suppressed_like_a_decline() -> None:
    result = apply_caseload(ranked("A", "B"), 2, actions(("A", "not_appropriate", "2026-06-30")), as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["B"]
    assert result.counts["recently_declined"] == 1


def test_a_decline_older_than_the_suppression_returns_the_person_flagged() -> None:
    # declined 2026-01-01: held back until 2026-07-01 00:00 UTC; listed again from that day, flagged
    history = actions(("A", "declined", "2026-01-01 15:00"))
    held = apply_caseload(ranked("A", "B"), 2, history, as_of=date(2026, 6, 30), suppress_months=MONTHS)
    back = apply_caseload(ranked("A", "B"), 2, history, as_of=date(2026, 7, 1), suppress_months=MONTHS)
    assert list(held.listed["person_id"]) == ["B"]
    assert list(back.listed["person_id"]) == ["A", "B"]
    assert back.listed["previously_declined"].tolist() == [True, False]
    assert back.listed["status"].tolist() == ["declined", None]
    assert back.counts["previously_declined"] == 1


def test_a_decline_followed_by_a_close_still_suppresses_but_enrolment_holds_back_as_caseload() -> None:
    closed = apply_caseload(ranked("A", "B"), 2, actions(("A", "declined", "2026-06-01"), ("A", "closed", "2026-06-02")),
                            as_of=AS_OF, suppress_months=MONTHS)
    enrolled = apply_caseload(ranked("A", "B"), 2, actions(("A", "declined", "2026-06-01"), ("A", "enrolled", "2026-06-02")),
                              as_of=AS_OF, suppress_months=MONTHS)
    assert closed.held_back["held_back_reason"].tolist() == [RECENTLY_DECLINED]
    assert enrolled.held_back["held_back_reason"].tolist() == [ON_CASELOAD]


@pytest.mark.parametrize("status", ["reviewed", "contacted", "unreachable", "closed"])
def test_people_in_progress_stay_listed_in_place_with_their_status(status: str) -> None:
    result = apply_caseload(ranked("A", "B", "C"), 2, actions(("A", status, "2026-06-01")), as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["A", "B"]
    assert result.listed["status"].tolist() == [status, None]
    assert result.counts[status] == 1 and result.counts["refilled"] == 0


def test_an_action_recorded_after_the_scoring_date_changes_nothing() -> None:
    result = apply_caseload(ranked("A", "B"), 1, actions(("A", "enrolled", "2026-07-01 08:00")), as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["A"]
    assert result.listed["status"].tolist() == [None]


def test_statuses_recorded_after_the_scoring_date_are_refused() -> None:
    later = statuses(actions(("A", "enrolled", "2026-07-02")))
    with pytest.raises(ScoringError, match="caseload actions must be recorded at or before the scoring date"):
        person_decisions(pd.Series(["A"]), later, as_of=AS_OF, suppress_months=MONTHS)


def test_a_short_ranking_lists_everyone_not_held_back() -> None:
    result = apply_caseload(ranked("A", "B"), 5, actions(("B", "enrolled", "2026-06-01")), as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["A"]


def test_each_neighbourhood_keeps_its_own_capacity_and_enrolment_anywhere_counts() -> None:
    candidates = pd.DataFrame({"neighbourhood": ["Cedar", "Cedar", "Cedar", "Elm", "Elm", "Elm"],
                               "person_id": ["A", "B", "C", "D", "E", "F"]})
    history = actions(("D", "enrolled", "2026-05-01"), ("B", "contacted", "2026-06-01"))
    result = apply_caseload_to_lists(candidates, {"Cedar": 2, "Elm": 1}, history, as_of=AS_OF, suppress_months=MONTHS)
    assert result.listed[["neighbourhood", "rank", "person_id", "status"]].values.tolist() == [
        ["Cedar", 1, "A", None], ["Cedar", 2, "B", "contacted"], ["Elm", 1, "E", None]]
    assert result.counts["on_caseload"] == 1 and result.counts["refilled"] == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([None, "reviewed", "enrolled", "declined", "closed", "unreachable"]), min_size=0, max_size=12),
    st.integers(min_value=0, max_value=12),
)
def test_the_list_is_always_the_best_ranked_people_not_held_back(kinds: list[str | None], capacity: int) -> None:
    people = [f"P{i:02d}" for i in range(len(kinds))]
    history = actions(*[(p, k, "2026-06-01") for p, k in zip(people, kinds) if k is not None])
    result = apply_caseload(ranked(*people), capacity, history, as_of=AS_OF, suppress_months=MONTHS)
    held = {p for p, k in zip(people, kinds) if k in ("enrolled", "declined")}
    assert list(result.listed["person_id"]) == [p for p in people if p not in held][:capacity]
    assert set(result.held_back["person_id"]) == held
    assert list(result.listed["rank"]) == list(range(1, len(result.listed) + 1))


@pytest.fixture
def engine(database_url: str) -> Engine:  # noqa: F811
    upgrade(database_url)
    made = create_database_engine(database_url)
    yield made
    made.dispose()


def test_a_publication_after_a_decline_recorded_in_the_database_fills_capacity_without_that_person(engine: Engine) -> None:
    record_action(engine, person_id="B", neighbourhood="Cedar", action="contacted", token_id="t1",
                  now=datetime(2026, 6, 1, 10, tzinfo=timezone.utc))
    record_action(engine, person_id="B", neighbourhood="Cedar", action="declined", reason="person_declined", token_id="t1",
                  now=datetime(2026, 6, 2, 10, tzinfo=timezone.utc))
    record_action(engine, person_id="C", neighbourhood="Cedar", action="enrolled", token_id="t1",
                  now=datetime(2026, 6, 3, 10, tzinfo=timezone.utc))
    with pytest.raises(TransitionConflictError):
        record_action(engine, person_id="C", neighbourhood="Cedar", action="reviewed", token_id="t1")
    result = apply_caseload(ranked("A", "B", "C", "D", "E"), 3, actions_as_of(engine, AS_OF), as_of=AS_OF, suppress_months=MONTHS)
    assert list(result.listed["person_id"]) == ["A", "D", "E"]
    assert (result.counts["recently_declined"], result.counts["on_caseload"], result.counts["refilled"]) == (1, 1, 2)
