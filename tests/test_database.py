"""Tests for features.database: engines, Alembic migrations from empty and from the pre-database audit log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from database_support import database_url  # noqa: F401 - fixture
from features.database import (
    DATABASE_URL_ENV,
    create_database_engine,
    current_revision,
    database_url as configured_url,
    display_url,
    head_revision,
    is_up_to_date,
    require_up_to_date,
    sqlite_url,
    upgrade,
)
from features.errors import DatabaseNotMigratedError, DatabaseUrlError
from features.home import Home
from serving.audit import AuditLog

#: The audit schema serving/audit.py created before the database issue (copied verbatim).
LEGACY_SCHEMA = """
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

LEGACY_ROWS = [
    ("2026-11-30T09:00:00.000001+00:00", "a1", "GET /v1/neighbourhoods/{neighbourhood}/list", "Cedar", 200, "p1", ["P2", "P1"]),
    ("2026-11-30T09:00:01.000000+00:00", "b2", "GET /v1/people/{person_id}/explanation", None, 404, "p1", []),
    ("2026-11-30T09:00:02.500000+00:00", "a1", "GET /pages/neighbourhoods/{neighbourhood}", "Cedar", 403, None, []),
]


def write_legacy_audit(path: Path, rows: list[tuple] = LEGACY_ROWS) -> None:
    """The pre-database audit.sqlite, written with the old code's SQL."""
    with sqlite3.connect(path) as connection:
        connection.executescript(LEGACY_SCHEMA)
        connection.executemany(
            "INSERT INTO audit (time, token_id, endpoint, neighbourhood, status, publication_id, n_people, person_ids) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(t, tok, ep, nb, st, pub, len(ids), json.dumps(ids)) for t, tok, ep, nb, st, pub, ids in rows],
        )
    connection.close()


def expected_entries() -> list[tuple]:
    return [(t, tok, ep, nb, st, pub, tuple(ids)) for t, tok, ep, nb, st, pub, ids in LEGACY_ROWS]


def test_an_empty_database_is_migrated_to_the_newest_revision_with_both_tables(database_url: str) -> None:
    assert current_revision(database_url) is None
    assert not is_up_to_date(database_url)
    result = upgrade(database_url)
    assert (result.before, result.after, result.imported_audit_rows) == (None, head_revision(), 0)
    assert current_revision(database_url) == head_revision() == "0004"
    assert is_up_to_date(database_url)
    engine = create_database_engine(database_url)
    assert {"actions", "audit", "rate_buckets", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    upgrade(database_url)
    again = upgrade(database_url)
    assert (again.before, again.after, again.imported_audit_rows) == ("0004", "0004", 0)


def test_an_unmigrated_database_is_refused_with_the_command_to_run(database_url: str) -> None:
    with pytest.raises(DatabaseNotMigratedError, match=r"got no migrations\. Run: risingrisk db upgrade"):
        require_up_to_date(database_url)
    with pytest.raises(DatabaseNotMigratedError, match="risingrisk db upgrade"):
        AuditLog(database_url)


def test_the_old_audit_file_is_copied_into_the_new_database_without_losing_rows(database_url: str, tmp_path: Path) -> None:
    legacy = tmp_path / "audit.sqlite"
    write_legacy_audit(legacy)
    result = upgrade(database_url, legacy_audit=legacy)
    assert result.imported_audit_rows == 3
    log = AuditLog(database_url)
    entries = log.entries()
    assert log.count() == 3
    assert [(e.time, e.token_id, e.endpoint, e.neighbourhood, e.status, e.publication_id, e.person_ids) for e in entries] == expected_entries()
    log.close()
    with sqlite3.connect(legacy) as connection:  # the source is left untouched
        assert connection.execute("SELECT count(*) FROM audit").fetchone() == (3,)
    connection.close()


def test_a_missing_old_audit_file_imports_nothing(database_url: str, tmp_path: Path) -> None:
    assert upgrade(database_url, legacy_audit=tmp_path / "absent.sqlite").imported_audit_rows == 0


def test_the_old_audit_file_opened_as_the_database_keeps_its_rows_in_place(tmp_path: Path) -> None:
    legacy = tmp_path / "audit.sqlite"
    write_legacy_audit(legacy)
    result = upgrade(sqlite_url(legacy), legacy_audit=legacy)
    assert (result.before, result.after, result.imported_audit_rows) == (None, "0004", 0)
    log = AuditLog(legacy)
    log.record(token_id="c3", endpoint="e", neighbourhood=None, status=200, publication_id=None, person_ids=["P9"])
    entries = log.entries()
    assert [(e.time, e.token_id, e.endpoint, e.neighbourhood, e.status, e.publication_id, e.person_ids) for e in entries[:3]] == expected_entries()
    assert [e.token_id for e in entries] == ["a1", "b2", "a1", "c3"]
    assert "audit_pre_alembic" not in inspect(log.engine).get_table_names()
    log.close()


def test_a_malformed_old_audit_row_names_the_file_the_row_and_the_fix(tmp_path: Path) -> None:
    legacy = tmp_path / "audit.sqlite"
    write_legacy_audit(legacy, [("yesterday", "a1", "e", None, 200, None, [])])
    with pytest.raises(ValueError, match=r"audit\.sqlite row id 1: time must be an ISO timestamp.*got time='yesterday'.*risingrisk db upgrade"):
        upgrade(sqlite_url(tmp_path / "new.sqlite"), legacy_audit=legacy)
    assert current_revision(sqlite_url(tmp_path / "new.sqlite")) is None  # the failed upgrade left nothing behind


def test_sqlite_files_use_write_ahead_logging_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_database_engine(sqlite_url(tmp_path / "db.sqlite"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000
    engine.dispose()


def test_the_database_is_the_home_folders_sqlite_file_unless_the_environment_names_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    assert configured_url(Home(tmp_path)) == f"sqlite:///{tmp_path / 'risingrisk.sqlite'}"
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://rr:secret@db.example/risingrisk")
    assert configured_url(Home(tmp_path)) == "postgresql://rr:secret@db.example/risingrisk"


def test_passwords_are_masked_and_postgresql_urls_use_psycopg() -> None:
    assert display_url("postgresql://rr:secret@db.example/risingrisk") == "postgresql+psycopg://rr:***@db.example/risingrisk"


@pytest.mark.parametrize("url", ["mysql://rr@db/risingrisk", "not a url"])
def test_an_unsupported_database_url_names_the_setting_to_fix(url: str) -> None:
    with pytest.raises(DatabaseUrlError, match=f"database URL must .*; got .*Fix {DATABASE_URL_ENV}"):
        create_database_engine(url)


def test_the_db_commands_migrate_the_home_database_and_report_the_imported_audit_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from risingrisk.commands.db import db_app

    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    app = typer.Typer()
    app.add_typer(db_app, name="db")
    write_legacy_audit(tmp_path / "audit.sqlite")
    runner = CliRunner()
    before = runner.invoke(app, ["db", "current", "--home", str(tmp_path)], terminal_width=200)
    assert before.exit_code == 0 and "Run: risingrisk db upgrade" in before.output
    assert not (tmp_path / "risingrisk.sqlite").exists()  # looking does not create the database
    migrated = runner.invoke(app, ["db", "upgrade", "--home", str(tmp_path)], terminal_width=200)
    assert migrated.exit_code == 0, migrated.output
    assert "│ none            │ 0004         │ 3" in migrated.output
    assert is_up_to_date(sqlite_url(tmp_path / "risingrisk.sqlite"))
    after = runner.invoke(app, ["db", "current", "--home", str(tmp_path)], terminal_width=200)
    assert "│ 0004     │ 0004   │ yes" in after.output
    refused = runner.invoke(app, ["db", "upgrade", "--url", "mysql://x/y"], terminal_width=200)
    assert refused.exit_code == 2 and "must use sqlite or postgresql" in refused.output
