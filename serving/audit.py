"""Append-only SQLite audit log of every list and person view: who (token id), what, when, which people."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["AuditEntry", "AuditLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    token_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    neighbourhood TEXT,
    status INTEGER NOT NULL,
    publication_id TEXT,
    n_people INTEGER NOT NULL,
    person_ids TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE INDEX IF NOT EXISTS audit_token ON audit (token_id);
"""


@dataclass(frozen=True)
class AuditEntry:
    """One audited view; ``person_ids`` are the people whose data the response carried (none if refused)."""

    time: str
    token_id: str
    endpoint: str
    neighbourhood: str | None
    status: int
    publication_id: str | None
    person_ids: tuple[str, ...]


class AuditLog:
    """Audit store in SQLite (WAL mode); safe to share between the service's threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # commits append to the WAL without fsync; checkpoints (which fsync) run off the request path
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._conn.executescript(_SCHEMA)

    def record(
        self,
        *,
        token_id: str,
        endpoint: str,
        neighbourhood: str | None,
        status: int,
        publication_id: str | None,
        person_ids: Sequence[str] = (),
    ) -> None:
        """Append one view to the log (committed before the response is sent).

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
        """
        row = (
            datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            token_id,
            endpoint,
            neighbourhood,
            int(status),
            publication_id,
            len(person_ids),
            json.dumps(list(person_ids)),
        )
        with self._lock:
            self._conn.execute(
                "INSERT INTO audit (time, token_id, endpoint, neighbourhood, status, publication_id, n_people, person_ids) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file (fsync); call periodically, off the request path."""
        with sqlite3.connect(self.path, timeout=30.0) as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        conn.close()

    def entries(self, *, token_id: str | None = None) -> list[AuditEntry]:
        """Every entry (of one token if given), oldest first."""
        query = "SELECT time, token_id, endpoint, neighbourhood, status, publication_id, person_ids FROM audit"
        params: tuple[str, ...] = ()
        if token_id is not None:
            query += " WHERE token_id = ?"
            params = (token_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id", params).fetchall()
        return [AuditEntry(t, tok, ep, nb, st, pub, tuple(json.loads(ids))) for t, tok, ep, nb, st, pub, ids in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
