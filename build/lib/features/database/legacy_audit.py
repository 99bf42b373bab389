"""Copy rows of the pre-database audit log (``audit.sqlite``, written before Alembic) into the ``audit`` table."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from features.database.tables import UtcDateTime
from features.errors import ContractError

__all__ = ["LEGACY_COLUMNS", "BATCH_ROWS", "legacy_rows", "copy_rows", "import_audit_file"]

#: Columns of the pre-Alembic ``audit`` table (serving/audit.py before the database issue), in order.
LEGACY_COLUMNS = ("id", "time", "token_id", "endpoint", "neighbourhood", "status", "publication_id", "n_people", "person_ids")

#: Rows copied per INSERT (bounded memory for large logs).
BATCH_ROWS = 10_000

_AUDIT = sa.table(
    "audit",
    sa.column("time", UtcDateTime()),
    sa.column("token_id", sa.Text()),
    sa.column("endpoint", sa.Text()),
    sa.column("neighbourhood", sa.Text()),
    sa.column("status", sa.Integer()),
    sa.column("publication_id", sa.Text()),
    sa.column("n_people", sa.Integer()),
    sa.column("person_ids", sa.JSON(none_as_null=True)),
    sa.column("detail", sa.JSON(none_as_null=True)),
)


def _converted(row: tuple[Any, ...], where: str) -> dict[str, Any]:
    values = dict(zip(LEGACY_COLUMNS, row))
    try:
        moment = datetime.fromisoformat(str(values["time"]))
        people = json.loads(values["person_ids"])
    except (ValueError, TypeError) as error:
        raise ContractError(
            f"{where} row id {values['id']}: time must be an ISO timestamp and person_ids a JSON list; "
            f"got time={values['time']!r} ({error}). Fix or delete that row, then run risingrisk db upgrade again."
        ) from None
    return {
        "time": moment,
        "token_id": values["token_id"],
        "endpoint": values["endpoint"],
        "neighbourhood": values["neighbourhood"],
        "status": int(values["status"]),
        "publication_id": values["publication_id"],
        "n_people": int(values["n_people"]),
        "person_ids": list(people),
        "detail": None,
    }


def legacy_rows(fetch: Iterator[list[tuple[Any, ...]]], where: str) -> Iterator[list[dict[str, Any]]]:
    """Batches of legacy rows (tuples in :data:`LEGACY_COLUMNS` order) converted to new ``audit`` rows."""
    for batch in fetch:
        yield [_converted(row, where) for row in batch]


def copy_rows(target: Connection, batches: Iterator[list[dict[str, Any]]]) -> int:
    """Insert converted batches into ``audit`` in order; return how many rows were copied."""
    copied = 0
    for batch in batches:
        if batch:
            target.execute(_AUDIT.insert(), batch)
            copied += len(batch)
    return copied


def _batches(cursor: Any) -> Iterator[list[tuple[Any, ...]]]:
    while rows := cursor.fetchmany(BATCH_ROWS):
        yield [tuple(row) for row in rows]


def import_audit_file(target: Connection, path: Path) -> int:
    """Copy every row of the legacy SQLite audit file at ``path`` into ``audit`` (oldest first); return the count.

    The file is opened read-only and left in place. A file without an ``audit`` table copies nothing.
    """
    source = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, timeout=30.0)
    try:
        found = source.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchone()
        if found is None:
            return 0
        cursor = source.execute(f"SELECT {', '.join(LEGACY_COLUMNS)} FROM audit ORDER BY id")
        return copy_rows(target, legacy_rows(_batches(cursor), str(path)))
    finally:
        source.close()
