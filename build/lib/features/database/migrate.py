"""Run the database's Alembic migrations from code: upgrade, current revision, and the check the service starts with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from features.database.engine import WRITE, create_database_engine, display_url, lock_key
from features.errors import DatabaseNotMigratedError

__all__ = [
    "MIGRATIONS",
    "UpgradeResult",
    "head_revision",
    "current_revision",
    "is_up_to_date",
    "require_up_to_date",
    "upgrade",
]

#: The Alembic script directory shipped inside the package.
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class UpgradeResult:
    """What ``upgrade`` did: the database (password masked), its revision before and after, audit rows imported."""

    url: str
    before: str | None
    after: str
    imported_audit_rows: int


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision the code ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}; reinstall risingrisk")
    return head


def _engine(database: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(database, Engine):
        return database, False
    return create_database_engine(database), True


def current_revision(database: str | URL | Engine) -> str | None:
    """The revision the database is at (None when it was never migrated; a missing SQLite file is not created)."""
    if not isinstance(database, Engine):
        parsed = make_url(database) if isinstance(database, str) else database
        if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
            return None
    engine, owned = _engine(database)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def is_up_to_date(database: str | URL | Engine) -> bool:
    """True when the database is at the code's newest revision."""
    return current_revision(database) == head_revision()


def require_up_to_date(database: str | URL | Engine) -> None:
    """Raise :class:`DatabaseNotMigratedError` naming the command to run unless the database is at the newest revision."""
    engine, owned = _engine(database)
    try:
        current, head = current_revision(engine), head_revision()
        if current != head:
            raise DatabaseNotMigratedError(
                f"database {display_url(engine.url)} must be at migration {head}; got "
                f"{'no migrations' if current is None else current}. Run: risingrisk db upgrade"
            )
    finally:
        if owned:
            engine.dispose()


def upgrade(database: str | URL | Engine, *, legacy_audit: Path | None = None) -> UpgradeResult:
    """Migrate the database to the newest revision; safe to run again (it then does nothing).

    Parameters
    ----------
    database
        URL or engine of the database.
    legacy_audit
        The home folder's pre-database ``audit.sqlite``; when the database first reaches revision
        0002 its rows are copied into the ``audit`` table (the file is left untouched). A database
        opened on that very file keeps its rows in place (revision 0001 adopts them).
    """
    engine, owned = _engine(database)
    config = _config()
    config.attributes["legacy_audit"] = None if legacy_audit is None else Path(legacy_audit)
    try:
        with engine.execution_options(**WRITE).begin() as connection:
            if connection.dialect.name == "postgresql":  # two upgrades at once: the second waits, then finds nothing to do
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("risingrisk:migrations")})
            before = MigrationContext.configure(connection).get_current_revision()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            after = MigrationContext.configure(connection).get_current_revision()
        return UpgradeResult(
            url=display_url(engine.url),
            before=before,
            after=str(after),
            imported_audit_rows=int(config.attributes.get("imported_audit_rows", 0)),
        )
    finally:
        if owned:
            engine.dispose()
