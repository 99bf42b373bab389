"""``risingrisk db``: migrate the caseload and audit database and show its revision."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from features.database import (
    DATABASE_URL_ENV,
    current_revision,
    database_url,
    display_url,
    head_revision,
    upgrade,
)
from features.errors import ContractError, DatabaseUrlError
from features.home import home as resolve_home
from risingrisk.console import FittedTable, HomeOption, library_log, new_console

__all__ = ["db_app", "upgrade_command", "current_command"]

db_app = typer.Typer(help="The database of caseload actions and the audit log: migrate it, show its revision.", no_args_is_help=True)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", metavar="URL", help=f"Database URL; default ${DATABASE_URL_ENV}, else the SQLite file risingrisk.sqlite in the home."),
]


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(2)


@db_app.command("upgrade")
def upgrade_command(url: UrlOption = None, home: HomeOption = None) -> None:
    """Migrate the database to the newest schema; copies the rows of an older audit.sqlite in the home once."""
    console = new_console()
    where = resolve_home(home)
    target = url or database_url(where)
    try:
        with library_log(where):
            result = upgrade(target, legacy_audit=where.audit_db)
    except (DatabaseUrlError, ContractError) as error:
        raise _fail(console, str(error)) from None
    except SQLAlchemyError as error:
        raise _fail(console, f"database {display_url(target)} could not be migrated: {type(error).__name__}: "
                             f"{getattr(error, 'orig', error)}. Check the URL and that the server is running.") from None
    console.print(FittedTable(
        "Database migrated" if result.before != result.after else "Database already up to date",
        ["database", "revision before", "revision now", "audit rows imported"],
        [[result.url, result.before or "none", result.after, str(result.imported_audit_rows)]],
    ))
    if result.imported_audit_rows:
        console.print(f"Imported from {where.audit_db} (left in place; delete it once you no longer need it).")


@db_app.command("current")
def current_command(url: UrlOption = None, home: HomeOption = None) -> None:
    """Show the database's migration revision and whether it is the newest."""
    console = new_console()
    where = resolve_home(home)
    target = url or database_url(where)
    try:
        with library_log(where):
            current = current_revision(target)
    except DatabaseUrlError as error:
        raise _fail(console, str(error)) from None
    except SQLAlchemyError as error:
        raise _fail(console, f"database {display_url(target)} could not be read: {type(error).__name__}: "
                             f"{getattr(error, 'orig', error)}. Check the URL and that the server is running.") from None
    head = head_revision()
    console.print(FittedTable("Database revision", ["database", "revision", "newest", "up to date"],
                              [[display_url(target), current or "none", head, "yes" if current == head else "no"]]))
    if current != head:
        console.print("Run: risingrisk db upgrade")
