"""Append-only audit log of every list and person view and every write: who (token id), what, when, which people."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import URL

from features.database.engine import WRITE, create_database_engine, sqlite_url
from features.database.migrate import require_up_to_date, upgrade
from features.database.tables import AuditRecord

__all__ = ["AuditEntry", "AuditLog"]

_AUDIT = AuditRecord.__table__

#: SQLite fast path: one INSERT on a kept connection in autocommit mode (atomic on its own).
_SQLITE_INSERT = (
    "INSERT INTO audit (time, token_id, endpoint, neighbourhood, status, publication_id, n_people, person_ids, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: How SQLAlchemy stores a UTC timestamp in SQLite (features.database.tables.UtcDateTime), so reads parse it.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class AuditEntry:
    """One audited request; ``person_ids`` are the people whose data the response carried (none if refused).

    ``detail`` says what a write did (e.g. ``{"action": "declined", "action_id": 7}``) — never free text.
    """

    time: str
    token_id: str
    endpoint: str
    neighbourhood: str | None
    status: int
    publication_id: str | None
    person_ids: tuple[str, ...]
    detail: dict[str, Any] | None = None


class AuditLog:
    """The audit table of the risingrisk database; safe to share between threads and between service processes.

    Parameters
    ----------
    database
        A URL or engine of a database migrated with ``risingrisk db upgrade`` (refused with
        :class:`~features.errors.DatabaseNotMigratedError` otherwise), or the path of a SQLite file,
        which is migrated on open (a pre-database ``audit.sqlite`` keeps its rows).
    """

    def __init__(self, database: Path | str | URL | Engine) -> None:
        if isinstance(database, Path):
            url: str | URL | Engine = sqlite_url(database)
            upgrade(url)
        else:
            url = database
        self._owned = not isinstance(url, Engine)
        # commits append to the WAL without fsync; checkpoint() (which fsyncs) runs off the request path
        self.engine = url if isinstance(url, Engine) else create_database_engine(url, wal_autocheckpoint=False)
        self._writer = self.engine.execution_options(**WRITE)
        require_up_to_date(self.engine)
        # SQLite: a kept connection under a lock writes ~7x faster than a pooled SQLAlchemy transaction
        self._lock = threading.Lock()
        self._raw = self.engine.raw_connection() if self.engine.dialect.name == "sqlite" else None

    def record(
        self,
        *,
        token_id: str,
        endpoint: str,
        neighbourhood: str | None,
        status: int,
        publication_id: str | None,
        person_ids: Sequence[str] = (),
        detail: Mapping[str, str | int | None] | None = None,
    ) -> None:
        """Append one request to the log (committed before the response is sent).

        Parameters
        ----------
        token_id
            Public id of the token that asked (never the token itself).
        endpoint
            Route template, e.g. ``GET /v1/people/{person_id}/explanation`` (no identifiers in it).
        neighbourhood
            Neighbourhood of the list or person viewed, if known and in scope.
        status
            HTTP status of the response.
        publication_id
            Publication the data came from.
        person_ids
            People whose data the response carried.
        detail
            What a write did, as short codes and ids (never a note's text).
        """
        now = datetime.now(timezone.utc)
        if self._raw is not None:
            values = (now.strftime(_SQLITE_TIME), token_id, endpoint, neighbourhood, int(status), publication_id,
                      len(person_ids), json.dumps([str(p) for p in person_ids]), None if detail is None else json.dumps(dict(detail)))
            with self._lock:
                self._raw.cursor().execute(_SQLITE_INSERT, values)
            return
        row = {
            "time": now,
            "token_id": token_id,
            "endpoint": endpoint,
            "neighbourhood": neighbourhood,
            "status": int(status),
            "publication_id": publication_id,
            "n_people": len(person_ids),
            "person_ids": [str(p) for p in person_ids],
            "detail": None if detail is None else dict(detail),
        }
        with self._writer.begin() as connection:
            connection.execute(insert(_AUDIT), row)

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database file (fsync); call periodically, off the request path.

        Errors are the driver's own (``sqlite3.Error``); PostgreSQL needs no checkpoint.
        """
        if self.engine.dialect.name != "sqlite":
            return
        connection = self.engine.raw_connection()
        try:
            connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    def entries(self, *, token_id: str | None = None) -> list[AuditEntry]:
        """Every entry (of one token if given), oldest first."""
        query = select(_AUDIT).order_by(_AUDIT.c.id)
        if token_id is not None:
            query = query.where(_AUDIT.c.token_id == token_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            AuditEntry(
                row.time.isoformat(timespec="microseconds"),
                row.token_id,
                row.endpoint,
                row.neighbourhood,
                int(row.status),
                row.publication_id,
                tuple(row.person_ids),
                row.detail,
            )
            for row in rows
        ]

    def count(self) -> int:
        """How many entries the log holds."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(_AUDIT)).scalar_one())

    def close(self) -> None:
        """Release the connections (an engine passed in by the caller stays usable)."""
        if self._raw is not None:
            with self._lock:
                self._raw.close()
        if self._owned:
            self.engine.dispose()
