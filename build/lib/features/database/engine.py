"""Which database risingrisk uses and how to connect: SQLite in the home folder (WAL) or PostgreSQL by URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from features.errors import DatabaseUrlError
from features.home import Home, home as default_home

__all__ = [
    "DATABASE_URL_ENV",
    "BUSY_TIMEOUT_SECONDS",
    "WRITE",
    "database_url",
    "sqlite_url",
    "create_database_engine",
    "display_url",
    "lock_key",
    "lock_person",
]

#: Environment variable naming the database, e.g. ``postgresql://user:secret@db.example/risingrisk``.
DATABASE_URL_ENV = "RISINGRISK_DATABASE_URL"

#: How long a SQLite writer waits for another process's write to finish before failing.
BUSY_TIMEOUT_SECONDS = 30.0

#: Execution option that opens a write transaction: ``with engine.execution_options(**WRITE).begin()``.
#: On SQLite it starts with ``BEGIN IMMEDIATE`` (the write lock is taken first, so a read-then-write
#: transaction never fails half-way); PostgreSQL ignores it.
WRITE = {"risingrisk_write": True}

_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).expanduser().absolute()}"


def database_url(where: Home | None = None) -> str:
    """``$RISINGRISK_DATABASE_URL`` if set, else the SQLite file :attr:`Home.database` of ``where`` (default home)."""
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return configured
    return sqlite_url((where or default_home()).database)


def display_url(url: str | URL) -> str:
    """The URL with its password masked, safe for messages and logs."""
    return _parse(url).render_as_string(hide_password=True)


def _parse(url: str | URL) -> URL:
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise DatabaseUrlError(
            f"database URL must look like sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME; got {str(url)!r}. "
            f"Fix {DATABASE_URL_ENV}."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise DatabaseUrlError(
            f"database URL must use sqlite or postgresql; got {backend!r} in {parsed.render_as_string(hide_password=True)!r}. "
            f"Fix {DATABASE_URL_ENV}."
        )
    if parsed.drivername in _DRIVERS:  # no driver named: use the maintained one we pin (psycopg 3)
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    return parsed


def create_database_engine(url: str | URL, *, wal_autocheckpoint: bool = True) -> Engine:
    """An engine for ``url``; SQLite files get WAL, ``synchronous=NORMAL`` and a busy timeout.

    Parameters
    ----------
    url
        SQLAlchemy URL; ``postgresql://`` without a driver uses psycopg 3 (``pip install risingrisk[postgres]``).
    wal_autocheckpoint
        SQLite only: when False, commits never checkpoint the write-ahead log; the owner must call
        ``PRAGMA wal_checkpoint`` off the request path (the audit log's ``checkpoint``).
    """
    parsed = _parse(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed, wal_autocheckpoint=wal_autocheckpoint)
        return create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError:
        raise DatabaseUrlError(
            f"database driver {parsed.drivername!r} must be installed; got a URL {display_url(parsed)!r} that needs it. "
            "Install it with pip install 'risingrisk[postgres]'."
        ) from None
    except ModuleNotFoundError as error:
        raise DatabaseUrlError(
            f"database driver must be installed for {display_url(parsed)!r}; got {error}. "
            "Install it with pip install 'risingrisk[postgres]'."
        ) from None


def _sqlite_engine(url: URL, *, wal_autocheckpoint: bool) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own BEGIN is deferred and late)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not wal_autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("risingrisk_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL advisory locks)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_person(connection: Connection, person_id: str) -> None:
    """Serialise writers of one person until the transaction ends.

    PostgreSQL takes a transaction-scoped advisory lock on the person; SQLite needs nothing more
    because a write transaction (:data:`WRITE`) already holds the database's single write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(f"person:{person_id}")})
