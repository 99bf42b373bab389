"""Server-side sessions of the clinician pages: random ids kept only as SHA-256 hashes, with absolute and idle expiry."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, delete, insert, select, update

from features.database.engine import WRITE
from features.database.tables import PageSession

__all__ = ["SESSION_COOKIE", "Session", "SessionPolicy", "create_session", "end_session", "end_token_sessions", "find_session", "purge_sessions"]

#: Cookie holding the session id (HttpOnly, SameSite=Strict, path /pages); never the bearer token.
SESSION_COOKIE = "rr_session"

_TABLE = PageSession.__table__
_ID_BYTES = 32


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", errors="replace")).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions last: ``absolute`` after sign-in, ``idle`` after the last request; ``clock`` gives UTC now."""

    absolute: timedelta
    idle: timedelta
    clock: Callable[[], datetime] = _now


@dataclass(frozen=True)
class Session:
    """A live page session: the hash of its id, the token it was opened with, its times and its CSRF secret."""

    id_hash: str
    token_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    csrf_secret: str


def create_session(engine: Engine, token_id: str, policy: SessionPolicy) -> tuple[str, Session]:
    """Open a session for ``token_id``; return the random session id (for the cookie, never stored) and the session."""
    session_id = secrets.token_urlsafe(_ID_BYTES)
    now = policy.clock()
    session = Session(_hash(session_id), token_id, now, now, now + policy.absolute, secrets.token_urlsafe(_ID_BYTES))
    with engine.execution_options(**WRITE).begin() as connection:
        connection.execute(
            insert(_TABLE),
            {"id_hash": session.id_hash, "token_id": token_id, "created_at": now, "last_seen_at": now,
             "expires_at": session.expires_at, "csrf_secret": session.csrf_secret},
        )
    return session_id, session


def find_session(engine: Engine, session_id: str, policy: SessionPolicy) -> Session | None:
    """The live session with id ``session_id``, its last-seen time moved to now; None (and the row deleted) if expired."""
    if not session_id or len(session_id) > 200:
        return None
    key = _hash(session_id)
    now = policy.clock()
    with engine.execution_options(**WRITE).begin() as connection:
        row = connection.execute(select(_TABLE).where(_TABLE.c.id_hash == key)).first()
        if row is None:
            return None
        if now >= row.expires_at or now - row.last_seen_at >= policy.idle:
            connection.execute(delete(_TABLE).where(_TABLE.c.id_hash == key))
            return None
        connection.execute(update(_TABLE).where(_TABLE.c.id_hash == key).values(last_seen_at=now))
    return Session(row.id_hash, row.token_id, row.created_at, now, row.expires_at, row.csrf_secret)


def end_session(engine: Engine, session_id: str) -> bool:
    """End (delete) the session with id ``session_id``; True if there was one."""
    with engine.execution_options(**WRITE).begin() as connection:
        return bool(connection.execute(delete(_TABLE).where(_TABLE.c.id_hash == _hash(session_id))).rowcount)


def end_token_sessions(engine: Engine, token_id: str) -> int:
    """End every session opened with ``token_id`` (its token was revoked); return how many."""
    with engine.execution_options(**WRITE).begin() as connection:
        return int(connection.execute(delete(_TABLE).where(_TABLE.c.token_id == token_id)).rowcount)


def purge_sessions(engine: Engine, policy: SessionPolicy) -> int:
    """Delete every session past its absolute or idle expiry; return how many."""
    now = policy.clock()
    stale = (_TABLE.c.expires_at <= now) | (_TABLE.c.last_seen_at <= now - policy.idle)
    with engine.execution_options(**WRITE).begin() as connection:
        return int(connection.execute(delete(_TABLE).where(stale)).rowcount)
