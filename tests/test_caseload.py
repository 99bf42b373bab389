"""Tests for features.caseload: validation, the state machine, idempotency, history and actions as of a date."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine

from database_support import database_url  # noqa: F401 - fixture
from features.caseload import (
    ACTIONS,
    ActionRecord,
    CaseloadConfig,
    actions_as_of,
    allowed_actions,
    caseload,
    check_transition,
    current_status,
    history,
    record_action,
    validate_action,
)
from features.database import create_database_engine, upgrade
from features.errors import ActionValidationError, ConfigError, IdempotencyConflictError, TransitionConflictError

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 10, 9, 30, tzinfo=timezone.utc)
CONFIG = CaseloadConfig()


@pytest.fixture
def engine(database_url: str) -> Engine:  # noqa: F811
    upgrade(database_url)
    made = create_database_engine(database_url)
    yield made
    made.dispose()


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def past(*actions: str) -> list[ActionRecord]:
    """A person's history: one action a day from T0."""
    return [ActionRecord(i + 1, "P1", "Cedar", a, "moved_away" if a in ("declined", "not_appropriate") else None, None, "t1", at(i), None)
            for i, a in enumerate(actions)]


# --- validation -------------------------------------------------------------------------------------------------


def test_the_actions_are_the_seven_the_teams_record() -> None:
    assert ACTIONS == ("reviewed", "contacted", "enrolled", "declined", "not_appropriate", "unreachable", "closed")


def test_an_unknown_action_is_refused_naming_every_allowed_action() -> None:
    with pytest.raises(ActionValidationError, match="action must be one of reviewed, contacted, enrolled, declined, "
                                                     "not_appropriate, unreachable, closed; got 'phoned'"):
        validate_action("phoned", None, None, CONFIG)


@pytest.mark.parametrize("action", ["declined", "not_appropriate"])
def test_a_decision_without_a_reason_is_refused_naming_the_reasons(action: str) -> None:
    with pytest.raises(ActionValidationError, match=f"reason must be one of already_supported_elsewhere, moved_away, "
                                                     f"end_of_life_care, person_declined when action is {action}; got none"):
        validate_action(action, None, None, CONFIG)


def test_an_unknown_reason_is_refused_and_a_reason_on_other_actions_must_be_known_too() -> None:
    with pytest.raises(ActionValidationError, match="reason must be one of .*; got 'bored'"):
        validate_action("declined", "bored", None, CONFIG)
    with pytest.raises(ActionValidationError, match="got 'bored'"):
        validate_action("closed", "bored", None, CONFIG)
    validate_action("closed", "moved_away", None, CONFIG)


def test_a_note_may_hold_500_characters_and_no_more() -> None:
    validate_action("contacted", None, "x" * 500, CONFIG)
    with pytest.raises(ActionValidationError, match="note must be at most 500 characters; got 501"):
        validate_action("contacted", None, "x" * 501, CONFIG)


def test_the_reasons_and_suppression_come_from_config_with_documented_defaults() -> None:
    assert list(CONFIG.reasons) == ["already_supported_elsewhere", "moved_away", "end_of_life_care", "person_declined"]
    assert CONFIG.suppress_months == 6
    custom = CaseloadConfig.load({"reasons": {"in_hospital": "In hospital"}, "suppress_months": 3})
    assert (list(custom.reasons), custom.suppress_months) == (["in_hospital"], 3)
    with pytest.raises(ActionValidationError, match="reason must be one of in_hospital"):
        validate_action("declined", "moved_away", None, custom)


def test_a_misspelt_or_invalid_caseload_setting_is_a_config_error_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="did you mean 'suppress_months'"):
        CaseloadConfig.load({"supress_months": 3}, where="[caseload]")
    with pytest.raises(ConfigError, match="reason codes must be lower_snake_case"):
        CaseloadConfig.load({"reasons": {"Moved Away": "Moved away"}})
    with pytest.raises(ConfigError, match="suppress_months"):
        CaseloadConfig.load({"suppress_months": -1})


# --- the state machine ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (None, {"reviewed", "contacted", "unreachable", "enrolled", "declined", "not_appropriate"}),
        ("reviewed", set(ACTIONS)),
        ("contacted", set(ACTIONS)),
        ("unreachable", set(ACTIONS)),
        ("enrolled", {"closed"}),
        ("declined", {"enrolled", "declined", "not_appropriate", "closed"}),
        ("not_appropriate", {"enrolled", "declined", "not_appropriate", "closed"}),
        ("closed", set()),
    ],
)
def test_each_status_allows_exactly_its_next_actions(status: str | None, allowed: set[str]) -> None:
    assert allowed_actions(status) == allowed


def test_a_new_listing_opens_a_new_episode() -> None:
    assert allowed_actions("closed", relisted=True) == {"reviewed", "contacted", "unreachable", "enrolled", "declined", "not_appropriate"}
    assert allowed_actions("declined", relisted=True) == set(ACTIONS)


def test_enrolled_after_closed_without_a_new_listing_is_a_conflict_with_the_reason() -> None:
    history_ = past("contacted", "closed")
    with pytest.raises(TransitionConflictError, match=r"got a person closed on 2026-01-11 \(allowed now: none\); "
                                                      r"it reopens when a later publication lists the person again"):
        check_transition(history_, "enrolled")
    with pytest.raises(TransitionConflictError):
        check_transition(history_, "enrolled", listed_at=at(0.5))  # a listing before the close is not new
    check_transition(history_, "enrolled", listed_at=at(2))


def test_closing_a_person_with_no_actions_is_a_conflict() -> None:
    with pytest.raises(TransitionConflictError, match="closed must follow another action; got a person with no actions"):
        check_transition([], "closed")


def test_an_enrolled_person_must_be_closed_before_anything_else() -> None:
    with pytest.raises(TransitionConflictError, match="got a person enrolled on 2026-01-10.*record closed first"):
        check_transition(past("enrolled"), "contacted")
    with pytest.raises(TransitionConflictError, match="enrolled must follow"):
        check_transition(past("enrolled"), "enrolled")
    check_transition(past("enrolled"), "closed")


def test_after_a_decline_the_team_may_enrol_or_correct_but_not_resume_work_until_relisted() -> None:
    check_transition(past("declined"), "enrolled")
    check_transition(past("declined"), "not_appropriate")
    with pytest.raises(TransitionConflictError, match="record it after a later publication lists the person again"):
        check_transition(past("declined"), "contacted")
    check_transition(past("declined"), "contacted", listed_at=at(30))


# --- storage ----------------------------------------------------------------------------------------------------


def test_a_recorded_action_comes_back_with_its_id_time_and_token(engine: Engine) -> None:
    stored = record_action(engine, person_id="P1", neighbourhood="Cedar", action="declined", reason="moved_away",
                           note="left the area", token_id="t1", now=T0)
    assert not stored.replayed
    assert stored.record == ActionRecord(stored.record.id, "P1", "Cedar", "declined", "moved_away", "left the area", "t1", T0, None)
    assert history(engine, "P1") == [stored.record]
    status = current_status(engine, "P1")
    assert (status.status, status.since, status.reason, status.declined_at, status.previously_declined) == (
        "declined", T0, "moved_away", T0, True)
    assert current_status(engine, "P2") is None


def test_history_is_oldest_first_and_status_is_the_latest_action(engine: Engine) -> None:
    for day, action in enumerate(["reviewed", "contacted", "enrolled", "closed"]):
        record_action(engine, person_id="P1", neighbourhood="Cedar", action=action, token_id="t1", now=at(day))
    assert [r.action for r in history(engine, "P1")] == ["reviewed", "contacted", "enrolled", "closed"]
    assert current_status(engine, "P1").status == "closed"
    assert current_status(engine, "P1", as_of=at(2)).status == "enrolled"


def test_a_retried_request_with_the_same_key_returns_the_first_record(engine: Engine) -> None:
    first = record_action(engine, person_id="P1", neighbourhood="Cedar", action="enrolled", token_id="t1", idempotency_key="k1", now=T0)
    again = record_action(engine, person_id="P1", neighbourhood="Cedar", action="enrolled", token_id="t1", idempotency_key="k1", now=at(1))
    assert again.replayed and again.record == first.record
    assert len(history(engine, "P1")) == 1


def test_the_same_key_for_a_different_action_is_a_conflict_and_keys_belong_to_one_token(engine: Engine) -> None:
    record_action(engine, person_id="P1", neighbourhood="Cedar", action="contacted", token_id="t1", idempotency_key="k1", now=T0)
    with pytest.raises(IdempotencyConflictError, match="Idempotency-Key must be new for a different action; got key 'k1'"):
        record_action(engine, person_id="P1", neighbourhood="Cedar", action="reviewed", token_id="t1", idempotency_key="k1", now=at(1))
    other = record_action(engine, person_id="P1", neighbourhood="Cedar", action="reviewed", token_id="t2", idempotency_key="k1", now=at(1))
    assert not other.replayed
    assert [r.token_id for r in history(engine, "P1")] == ["t1", "t2"]


def test_a_refused_transition_stores_nothing(engine: Engine) -> None:
    record_action(engine, person_id="P1", neighbourhood="Cedar", action="enrolled", token_id="t1", now=T0)
    with pytest.raises(TransitionConflictError):
        record_action(engine, person_id="P1", neighbourhood="Cedar", action="declined", reason="moved_away", token_id="t1", now=at(1))
    assert [r.action for r in history(engine, "P1")] == ["enrolled"]


def test_a_new_listing_after_a_close_lets_the_team_enrol_again(engine: Engine) -> None:
    record_action(engine, person_id="P1", neighbourhood="Cedar", action="enrolled", token_id="t1", now=T0)
    record_action(engine, person_id="P1", neighbourhood="Cedar", action="closed", token_id="t1", now=at(1))
    with pytest.raises(TransitionConflictError):
        record_action(engine, person_id="P1", neighbourhood="Cedar", action="enrolled", token_id="t1", now=at(3))
    again = record_action(engine, person_id="P1", neighbourhood="Cedar", action="enrolled", token_id="t1", listed_at=at(2), now=at(3))
    assert again.record.action == "enrolled"


def test_actions_as_of_a_date_hold_only_actions_recorded_by_then(engine: Engine) -> None:
    record_action(engine, person_id="P1", neighbourhood="Cedar", action="contacted", token_id="t1", now=datetime(2026, 3, 31, 23, 59, tzinfo=timezone.utc))
    record_action(engine, person_id="P2", neighbourhood="Elm", action="enrolled", token_id="t1", now=datetime(2026, 4, 1, 0, 0, tzinfo=timezone.utc))
    record_action(engine, person_id="P3", neighbourhood="Cedar", action="reviewed", token_id="t1", now=datetime(2026, 4, 1, 10, 0, tzinfo=timezone.utc))
    assert list(actions_as_of(engine, date(2026, 4, 1))["person_id"]) == ["P1", "P2"]  # a date is midnight at its start
    assert list(actions_as_of(engine, datetime(2026, 4, 1, 10, 0, tzinfo=timezone.utc))["person_id"]) == ["P1", "P2", "P3"]
    assert list(actions_as_of(engine, date(2026, 3, 1))["person_id"]) == []
    frame = actions_as_of(engine, date(2026, 5, 1), neighbourhoods=["Cedar"])
    assert list(frame.columns) == ["id", "person_id", "neighbourhood", "action", "reason", "token_id", "recorded_at"]
    assert list(frame["person_id"]) == ["P1", "P3"]
    assert str(frame["recorded_at"].dt.tz) == "UTC"


def test_the_caseload_lists_each_persons_latest_status_for_the_teams_neighbourhood(engine: Engine) -> None:
    record_action(engine, person_id="P1", neighbourhood="Cedar", action="contacted", token_id="t1", now=T0)
    record_action(engine, person_id="P1", neighbourhood="Cedar", action="enrolled", token_id="t1", now=at(2))
    record_action(engine, person_id="P2", neighbourhood="Cedar", action="declined", reason="person_declined", token_id="t1", now=at(1))
    record_action(engine, person_id="P3", neighbourhood="Elm", action="reviewed", token_id="t2", now=at(1))
    cedar = caseload(engine, ["Cedar"])
    assert [(s.person_id, s.status, s.since) for s in cedar] == [("P1", "enrolled", at(2)), ("P2", "declined", at(1))]
    assert [s.person_id for s in caseload(engine)] == ["P1", "P2", "P3"]
    assert [(s.person_id, s.status) for s in caseload(engine, ["Cedar"], as_of=at(1.5))] == [("P2", "declined"), ("P1", "contacted")]


# --- concurrent writers -----------------------------------------------------------------------------------------


def test_concurrent_threads_lose_no_action_and_only_one_enrolment_of_a_person_wins(engine: Engine) -> None:
    outcomes: list[str] = []

    def work(worker: int) -> None:
        for i in range(20):
            record_action(engine, person_id=f"W{worker}-{i}", neighbourhood="Cedar", action="reviewed", token_id=f"t{worker}")
        try:
            record_action(engine, person_id="SAME", neighbourhood="Cedar", action="enrolled", token_id=f"t{worker}")
            outcomes.append("stored")
        except TransitionConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    frame = actions_as_of(engine, datetime.now(timezone.utc))
    assert len(frame) == 6 * 20 + 1
    assert sorted(outcomes) == ["conflict"] * 5 + ["stored"]
    assert frame.loc[frame["person_id"] == "SAME", "action"].tolist() == ["enrolled"]


_WRITER = """
import sys
from features.caseload import record_action
from features.database import create_database_engine
from features.errors import TransitionConflictError
engine = create_database_engine(sys.argv[1])
name = sys.argv[2]
for i in range(40):
    record_action(engine, person_id=f"{name}-{i}", neighbourhood="Cedar", action="contacted", token_id=name)
    record_action(engine, person_id="SHARED", neighbourhood="Cedar", action="reviewed", token_id=name, idempotency_key=f"k{i}")
"""


def test_two_service_processes_writing_at_once_lose_no_action(engine: Engine, database_url: str) -> None:  # noqa: F811
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    workers = [subprocess.Popen([sys.executable, "-c", _WRITER, database_url, f"proc{w}"], env=env, stderr=subprocess.PIPE, text=True)
               for w in range(2)]
    for worker in workers:
        _, errors = worker.communicate(timeout=300)
        assert worker.returncode == 0, errors
    frame = actions_as_of(engine, datetime.now(timezone.utc))
    assert len(frame) == 2 * 80
    assert frame.groupby("token_id").size().to_dict() == {"proc0": 80, "proc1": 80}
    assert (frame["person_id"] == "SHARED").sum() == 80
