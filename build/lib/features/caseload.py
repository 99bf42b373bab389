"""What neighbourhood teams did for each listed person: validated, idempotent, point-in-time caseload actions.

Actions
-------
``reviewed``, ``contacted``, ``unreachable``
    Work in progress: the person stays on the list, shown with this status.
``enrolled``
    On the integrated care pathway's caseload: later lists exclude the person ("on caseload").
``declined``, ``not_appropriate``
    A decision with a reason from :attr:`CaseloadConfig.reasons`: later lists leave the person out
    for ``suppress_months``, then may list them again flagged "previously declined".
``closed``
    The team's episode with the person is over (left the caseload, or finished without enrolling).

State machine
-------------
The status is the latest action. Without a new listing, an action is allowed after the status:

================================  ====================================================================
status                            allowed next actions
================================  ====================================================================
none (no action yet)              reviewed, contacted, unreachable, enrolled, declined, not_appropriate
reviewed, contacted, unreachable  any action
enrolled                          closed (take the person off the caseload first)
declined, not_appropriate         enrolled (the person or team changed its mind), declined,
                                  not_appropriate (a corrected reason), closed
closed                            nothing: the episode is over
================================  ====================================================================

A **new listing** — a publication published after the person's latest action lists them again —
opens a new episode: then every action allowed from "none" is allowed too. So ``enrolled`` after
``closed`` is refused (409) until a later list names the person again.

Point in time
-------------
Scoring, training and impact evaluation read :func:`actions_as_of`: only actions with
``recorded_at <= T`` (a date T means midnight UTC at its start, the extract's rule), so an action
recorded after the scoring date never changes a list, a training row or an evaluation of that date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Literal, get_args

import pandas as pd
from pydantic import Field, field_validator
from sqlalchemy import Connection, Engine, Row, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from features.database.engine import WRITE, create_database_engine, lock_person
from features.database.migrate import current_revision, require_up_to_date
from features.database.tables import ID_MAX_LENGTH, NOTE_MAX_LENGTH, Action, utc
from features.errors import ActionValidationError, IdempotencyConflictError, TransitionConflictError
from features.typed_config import TypedConfig

__all__ = [
    "read_actions",
    "ACTIONS",
    "ActionName",
    "ACTION_COLUMNS",
    "DECISIONS",
    "NEEDS_REASON",
    "NOTE_MAX_LENGTH",
    "ActionRecord",
    "CaseloadConfig",
    "PersonStatus",
    "RecordedAction",
    "actions_as_of",
    "allowed_actions",
    "as_of_moment",
    "caseload",
    "check_transition",
    "current_status",
    "history",
    "record_action",
    "status_of",
    "statuses",
    "validate_action",
]

ActionName = Literal["reviewed", "contacted", "enrolled", "declined", "not_appropriate", "unreachable", "closed"]

#: Every action a team can record, in the order pages offer them.
ACTIONS: tuple[str, ...] = get_args(ActionName)

#: Actions that need a reason from the configured list.
NEEDS_REASON: frozenset[str] = frozenset({"declined", "not_appropriate"})

#: Decisions that suppress a person from later lists for ``suppress_months``.
DECISIONS: frozenset[str] = NEEDS_REASON

_WORKING = frozenset({"reviewed", "contacted", "unreachable"})
_FROM_NONE = frozenset(ACTIONS) - {"closed"}

#: Allowed next actions by current status (None: no action yet) when the person was not listed again.
_ALLOWED: dict[str | None, frozenset[str]] = {
    None: _FROM_NONE,
    **{status: frozenset(ACTIONS) for status in _WORKING},
    "enrolled": frozenset({"closed"}),
    **{status: frozenset({"enrolled", "declined", "not_appropriate", "closed"}) for status in DECISIONS},
    "closed": frozenset(),
}

#: Columns of :func:`actions_as_of` (one row per action).
ACTION_COLUMNS = ("id", "person_id", "neighbourhood", "action", "reason", "token_id", "recorded_at")

_REASON_CODE = r"^[a-z][a-z0-9_]*$"


class CaseloadConfig(TypedConfig):
    """How caseload actions are checked and how long decisions keep a person off the lists."""

    reasons: dict[str, str] = Field(
        default_factory=lambda: {
            "already_supported_elsewhere": "Already supported by another service",
            "moved_away": "Moved away",
            "end_of_life_care": "Receiving end-of-life care",
            "person_declined": "The person declined",
        },
        description="Reasons a team may give for declined or not_appropriate: code (lower_snake_case, stored) -> label (shown on pages).",
        min_length=1,
    )
    suppress_months: int = Field(
        6,
        ge=0,
        le=120,
        description="Months a declined or not_appropriate person is left out of later lists; afterwards they may return flagged 'previously declined'.",
    )

    @field_validator("reasons")
    @classmethod
    def _codes_are_snake_case(cls, reasons: dict[str, str]) -> dict[str, str]:
        bad = [code for code in reasons if re.fullmatch(_REASON_CODE, code) is None or len(code) > ID_MAX_LENGTH]
        if bad:
            raise ValueError(f"reason codes must be lower_snake_case (e.g. moved_away); got {bad}")
        return reasons


@dataclass(frozen=True)
class ActionRecord:
    """One stored action (the note is free text kept for the team; it never goes to logs)."""

    id: int
    person_id: str
    neighbourhood: str
    action: str
    reason: str | None
    note: str | None
    token_id: str
    recorded_at: datetime
    idempotency_key: str | None


@dataclass(frozen=True)
class RecordedAction:
    """The result of :func:`record_action`: the stored record, and whether it was an idempotent replay."""

    record: ActionRecord
    replayed: bool


@dataclass(frozen=True)
class PersonStatus:
    """A person's current status: their latest action, when, and their latest decline (if any)."""

    person_id: str
    neighbourhood: str
    status: str
    since: datetime
    reason: str | None
    action_id: int
    declined_at: datetime | None

    @property
    def previously_declined(self) -> bool:
        """True when the person ever declined or was judged not appropriate."""
        return self.declined_at is not None


def as_of_moment(as_of: date | datetime) -> datetime:
    """The UTC instant of ``as_of``: a date means midnight UTC at its start (as ``recorded_at <= T`` in the extract)."""
    if isinstance(as_of, datetime):
        return utc(as_of)
    return datetime.combine(as_of, time(0), tzinfo=timezone.utc)


def validate_action(action: str, reason: str | None, note: str | None, config: CaseloadConfig) -> None:
    """Raise :class:`ActionValidationError` (HTTP 422) naming the allowed values when the action is malformed."""
    if action not in ACTIONS:
        raise ActionValidationError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}. Send one of those.")
    allowed = ", ".join(config.reasons)
    if action in NEEDS_REASON and not reason:
        raise ActionValidationError(f"reason must be one of {allowed} when action is {action}; got none. Add a reason.")
    if reason is not None and reason not in config.reasons:
        raise ActionValidationError(f"reason must be one of {allowed}; got {reason!r}. Send one of those codes.")
    if note is not None and len(note) > NOTE_MAX_LENGTH:
        raise ActionValidationError(
            f"note must be at most {NOTE_MAX_LENGTH} characters; got {len(note)}. Shorten it (and keep clinical detail out of it)."
        )


def _check_identifier(name: str, value: str) -> None:
    if not value or len(value) > ID_MAX_LENGTH:
        raise ActionValidationError(f"{name} must be 1 to {ID_MAX_LENGTH} characters; got {len(value)}. Fix the {name}.")


def allowed_actions(status: str | None, *, relisted: bool = False) -> frozenset[str]:
    """Actions allowed after ``status`` (None: no action yet); ``relisted`` opens a new episode (see the module docs)."""
    allowed = _ALLOWED[status]
    return allowed | _FROM_NONE if relisted else allowed


def check_transition(history: Sequence[ActionRecord], action: str, *, listed_at: datetime | None = None) -> None:
    """Raise :class:`TransitionConflictError` (HTTP 409) with the reason when ``action`` cannot follow ``history``.

    Parameters
    ----------
    history
        The person's actions, oldest first.
    action
        The action to record.
    listed_at
        When the publication that lists the person now was published (None if no current list names
        them); later than the latest action means a new listing, which opens a new episode.
    """
    latest = history[-1] if history else None
    status = latest.action if latest is not None else None
    relisted = latest is not None and listed_at is not None and utc(listed_at) > latest.recorded_at
    if action in allowed_actions(status, relisted=relisted):
        return
    if latest is None:
        raise TransitionConflictError(f"{action} must follow another action; got a person with no actions. Nothing is open to close.")
    when = latest.recorded_at.date().isoformat()
    if status == "closed":
        fix = "it reopens when a later publication lists the person again"
    elif status == "enrolled":
        fix = "record closed first to take the person off the caseload" if action != "enrolled" else "nothing to do"
    else:
        fix = "record it after a later publication lists the person again"
    allowed = ", ".join(sorted(allowed_actions(status, relisted=relisted))) or "none"
    raise TransitionConflictError(
        f"{action} must follow one of the states that allow it; got a person {status} on {when} "
        f"(allowed now: {allowed}); {fix}."
    )


def _same_request(record: ActionRecord, person_id: str, action: str, reason: str | None, note: str | None) -> bool:
    return (record.person_id, record.action, record.reason, record.note) == (person_id, action, reason, note)


def record_action(
    engine: Engine,
    *,
    person_id: str,
    neighbourhood: str,
    action: str,
    token_id: str,
    reason: str | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    listed_at: datetime | None = None,
    config: CaseloadConfig | None = None,
    now: datetime | None = None,
) -> RecordedAction:
    """Validate and store one action; the same ``idempotency_key`` from the same token returns the first record.

    Parameters
    ----------
    engine
        The migrated database.
    person_id, neighbourhood
        Who the action is for and the neighbourhood whose list they are on (the caller checks scope).
    action, reason, note
        What happened; ``reason`` from ``config.reasons`` (required for declined and not_appropriate);
        ``note`` at most 500 characters of free text (never clinical detail, never logged).
    token_id
        Public id of the token that recorded it.
    idempotency_key
        A client's retry key: a second call with the same key and token returns the first record
        (``replayed=True``); the same key with a different action raises :class:`IdempotencyConflictError`.
    listed_at
        When the publication that now lists the person was published (see :func:`check_transition`).
    config
        Reasons and suppression; default :class:`CaseloadConfig`.
    now
        The recording time (default: the clock, UTC).

    Raises
    ------
    ActionValidationError
        Unknown action, missing or unknown reason, note too long (HTTP 422).
    TransitionConflictError
        The action makes no sense after the person's history (HTTP 409).
    """
    config = config or CaseloadConfig()
    validate_action(action, reason, note, config)
    for name, value in (("person_id", person_id), ("neighbourhood", neighbourhood), ("token_id", token_id)):
        _check_identifier(name, value)
    if idempotency_key is not None:
        _check_identifier("idempotency_key", idempotency_key)
    moment = utc(now) if now is not None else datetime.now(timezone.utc)
    try:
        with engine.execution_options(**WRITE).begin() as connection:
            lock_person(connection, person_id)
            if idempotency_key is not None:
                replay = _find_key(connection, token_id, idempotency_key)
                if replay is not None:
                    return _replayed(replay, person_id, action, reason, note, idempotency_key)
            past = _history(connection, person_id, None)
            check_transition(past, action, listed_at=listed_at)
            values = dict(person_id=person_id, neighbourhood=neighbourhood, action=action, reason=reason, note=note,
                          token_id=token_id, recorded_at=moment, idempotency_key=idempotency_key)
            new_id = connection.execute(Action.__table__.insert().returning(Action.__table__.c.id), values).scalar_one()
            return RecordedAction(ActionRecord(id=int(new_id), **{**values, "recorded_at": moment}), replayed=False)
    except IntegrityError:
        # another writer stored the same (token, key) for a different person between our check and insert
        if idempotency_key is None:
            raise
        with engine.connect() as connection:
            replay = _find_key(connection, token_id, idempotency_key)
        if replay is None:
            raise
        return _replayed(replay, person_id, action, reason, note, idempotency_key)


def _replayed(replay: ActionRecord, person_id: str, action: str, reason: str | None, note: str | None, key: str) -> RecordedAction:
    if not _same_request(replay, person_id, action, reason, note):
        raise IdempotencyConflictError(
            f"Idempotency-Key must be new for a different action; got key {key!r} already used by this token "
            f"for action {replay.id}. Send a new key for a new action."
        )
    return RecordedAction(replay, replayed=True)


def _find_key(connection: Connection, token_id: str, key: str) -> ActionRecord | None:
    row = connection.execute(
        select(Action.__table__).where(Action.token_id == token_id, Action.idempotency_key == key)
    ).first()
    return None if row is None else _from_row(row)


def _from_row(row: Row) -> ActionRecord:
    return ActionRecord(int(row.id), row.person_id, row.neighbourhood, row.action, row.reason, row.note, row.token_id,
                        utc(row.recorded_at), row.idempotency_key)


def _history(connection: Connection, person_id: str, as_of: date | datetime | None) -> list[ActionRecord]:
    query = select(Action.__table__).where(Action.person_id == person_id)
    if as_of is not None:
        query = query.where(Action.recorded_at <= as_of_moment(as_of))
    rows = connection.execute(query.order_by(Action.recorded_at, Action.id)).all()
    return [_from_row(row) for row in rows]


def history(engine: Engine, person_id: str, *, as_of: date | datetime | None = None) -> list[ActionRecord]:
    """The person's actions, oldest first (only those recorded at or before ``as_of`` when given)."""
    with engine.connect() as connection:
        return _history(connection, person_id, as_of)


def status_of(records: Sequence[ActionRecord]) -> PersonStatus | None:
    """The status the person's actions (oldest first) leave them in; None without actions."""
    if not records:
        return None
    latest = records[-1]
    declines = [r.recorded_at for r in records if r.action in DECISIONS]
    return PersonStatus(latest.person_id, latest.neighbourhood, latest.action, latest.recorded_at, latest.reason,
                        latest.id, declines[-1] if declines else None)


def current_status(engine: Engine, person_id: str, *, as_of: date | datetime | None = None) -> PersonStatus | None:
    """The person's status now (or as of ``as_of``); None when no action was recorded."""
    return status_of(history(engine, person_id, as_of=as_of))


def statuses(actions: pd.DataFrame) -> dict[str, PersonStatus]:
    """Every person's status from an :func:`actions_as_of` frame (any order): person_id -> status."""
    if actions.empty:
        return {}
    ordered = actions.sort_values(["person_id", "recorded_at", "id"], kind="stable")
    latest = ordered.drop_duplicates("person_id", keep="last")
    declines = ordered.loc[ordered["action"].isin(DECISIONS)].drop_duplicates("person_id", keep="last")
    declined_at = dict(zip(declines["person_id"], declines["recorded_at"]))
    return {
        str(person): PersonStatus(
            str(person), str(neighbourhood), str(action), pd.Timestamp(moment).to_pydatetime(),
            None if pd.isna(reason) else str(reason), int(action_id),
            None if person not in declined_at else pd.Timestamp(declined_at[person]).to_pydatetime(),
        )
        for person, neighbourhood, action, moment, reason, action_id in zip(
            latest["person_id"], latest["neighbourhood"], latest["action"], latest["recorded_at"], latest["reason"], latest["id"]
        )
    }


def caseload(engine: Engine, neighbourhoods: Iterable[str] | None = None, *, as_of: date | datetime | None = None) -> list[PersonStatus]:
    """Current status of every person with an action whose latest action was for one of ``neighbourhoods`` (None: all).

    Sorted by neighbourhood, then most recent first. ``as_of`` gives the caseload as it stood then.
    """
    wanted = None if neighbourhoods is None else {str(n) for n in neighbourhoods}
    frame = actions_as_of(engine, as_of if as_of is not None else datetime.now(timezone.utc), person_neighbourhoods=wanted)
    found = [s for s in statuses(frame).values() if wanted is None or s.neighbourhood in wanted]
    return sorted(found, key=lambda s: (s.neighbourhood, -s.since.timestamp(), s.person_id))


def actions_as_of(
    engine: Engine,
    as_of: date | datetime,
    *,
    neighbourhoods: Iterable[str] | None = None,
    person_neighbourhoods: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every action recorded at or before ``as_of`` (point in time), oldest first; notes are not read.

    Parameters
    ----------
    engine
        The migrated database.
    as_of
        The scoring, training or evaluation date T: only ``recorded_at <= T`` (a date means midnight
        UTC at its start). Leakage: an action recorded after T must not shape T's list or labels.
    neighbourhoods
        Only actions recorded for these neighbourhoods (None: all).
    person_neighbourhoods
        Only the full histories of people who have any action for these neighbourhoods (None: all).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ACTION_COLUMNS`; ``recorded_at`` is a UTC ``datetime64``.
    """
    table = Action.__table__
    query = select(*(table.c[name] for name in ACTION_COLUMNS)).where(table.c.recorded_at <= as_of_moment(as_of))
    if neighbourhoods is not None:
        query = query.where(table.c.neighbourhood.in_(sorted({str(n) for n in neighbourhoods})))
    if person_neighbourhoods is not None:
        people = select(table.c.person_id).where(table.c.neighbourhood.in_(sorted({str(n) for n in person_neighbourhoods})))
        query = query.where(table.c.person_id.in_(people))
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(table.c.recorded_at, table.c.id)).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=list(ACTION_COLUMNS))
    frame["id"] = frame["id"].astype("int64")
    frame["recorded_at"] = pd.to_datetime([utc(t) for t in frame["recorded_at"]], utc=True) if len(frame) else pd.Series(
        [], dtype="datetime64[us, UTC]"
    )
    for column in ("person_id", "neighbourhood", "action", "reason", "token_id"):
        frame[column] = frame[column].astype("object")
    return frame

def read_actions(database: str | URL | Engine, as_of: date) -> pd.DataFrame:
    """The caseload actions recorded at or before ``as_of`` (:func:`actions_as_of`), opening the database by URL.

    A database that was never migrated holds no actions table, so no action can have been recorded:
    an empty frame. One migrated to an older revision raises
    :class:`~features.errors.DatabaseNotMigratedError` naming ``risingrisk db upgrade``.
    """
    if current_revision(database) is None:
        return pd.DataFrame(columns=list(ACTION_COLUMNS))
    engine = database if isinstance(database, Engine) else create_database_engine(database)
    try:
        require_up_to_date(engine)
        return actions_as_of(engine, as_of)
    finally:
        if engine is not database:
            engine.dispose()
