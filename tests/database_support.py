"""Test helpers for the database tests: a fresh, empty database per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from features.database import sqlite_url

__all__ = ["POSTGRES_ENV", "BACKENDS", "fresh_database_url", "database_url"]

#: Set by CI (``eval "$(bash .ci/postgres)"``): a PostgreSQL database whose role may create databases.
POSTGRES_ENV = "RISINGRISK_TEST_POSTGRES_URL"

BACKENDS = ["sqlite", "postgresql"]


def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new empty database on ``backend``; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "risingrisk.sqlite")
        return
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}: run eval \"$(bash .ci/postgres)\" to start a local server")
    name = f"rr_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty (unmigrated) database per test, once on SQLite and once on PostgreSQL."""
    yield from fresh_database_url(request.param, tmp_path)
