"""``risingrisk audit summary``: who looked at what in a period, per token, with warnings of enumeration."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Annotated

import typer

from features.database import database_url, require_up_to_date
from features.dates import to_date
from features.errors import DatabaseNotMigratedError
from features.home import home as resolve_home
from risingrisk.console import DATE, FittedTable, HomeOption, new_console
from serving.audit import AuditLog
from serving.audit_summary import AuditSummary, summarise_audit
from serving.config import service_config

__all__ = ["audit_app", "summary_command", "summary_table"]

audit_app = typer.Typer(help="The audit log of every view, export and write: summaries for the information governance lead.", no_args_is_help=True)


def summary_table(summary: AuditSummary) -> FittedTable:
    """One row per token: requests, person lookups (outside the lists), 404s, refusals and rate limiting."""
    headers = ["token", "requests", "person lookups", "outside lists", "404 lookups", "refused (4xx)", "rate limited"]
    rows = [
        [a.token_id, f"{a.requests:,}", f"{a.person_lookups:,}", f"{a.outside_list:,}", f"{a.not_found:,}", f"{a.refused:,}", f"{a.rate_limited:,}"]
        for a in summary.tokens
    ]
    since = f"{summary.since:%Y-%m-%d %H:%M}" if summary.since else "the first entry"
    return FittedTable(f"Audit log from {since} to {summary.until:%Y-%m-%d %H:%M} UTC", headers, rows, right=headers[1:])


@audit_app.command("summary")
def summary_command(
    since: Annotated[str | None, typer.Option(metavar=DATE, help="First day of the period (UTC); default 30 days ago.")] = None,
    until: Annotated[str | None, typer.Option(metavar=DATE, help="Last day of the period (UTC), inclusive; default today.")] = None,
    home: HomeOption = None,
) -> None:
    """Per-token activity in a period, warning of repeated 404 person lookups (enumeration) and rate limiting."""
    console = new_console()
    where = resolve_home(home)
    end = datetime.combine(to_date(until), time.max, tzinfo=timezone.utc) if until else datetime.now(timezone.utc)
    start = datetime.combine(to_date(since), time.min, tzinfo=timezone.utc) if since else end - timedelta(days=30)
    url = database_url(where)
    try:
        require_up_to_date(url)
    except DatabaseNotMigratedError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    audit = AuditLog(url)
    try:
        summary = summarise_audit(
            audit, since=start, until=end, not_found_warning=service_config(where).security.not_found_warning
        )
    finally:
        audit.close()
    console.print(summary_table(summary))
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if not summary.tokens:
        console.print("No requests in the period.")
