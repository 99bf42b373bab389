"""``risingrisk validate``: check an extract against the data contract, quarantining bad rows with reasons."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.errors import ContractError, ValidationOutputError
from features.validate import REJECTED_DIR, REPORT_FILE, ValidationReport, validate
from risingrisk.commands.rich_progress import progress_bar

__all__ = ["validate_command", "print_report"]


def print_report(report: ValidationReport, console: Console) -> None:
    """Print the per-table summary, the quarantined rows by rule and where the outputs are."""
    summary = Table(title=f"Validation of {report.data_dir} (extract date {report.extract_date})")
    for heading in ("table", "file", "rows read", "accepted", "quarantined"):
        summary.add_column(heading, justify="right" if heading not in ("table", "file") else "left")
    for table in report.tables.values():
        summary.add_row(
            table.table, Path(table.file).name, f"{table.rows_read:,}", f"{table.rows_accepted:,}", f"{table.rows_quarantined:,}"
        )
    console.print(summary)
    if report.rows_quarantined:
        rules = Table(title="Quarantined rows by rule (first example)")
        for heading in ("table", "rule", "rows", "row", "column"):
            rules.add_column(heading, justify="right" if heading in ("rows", "row") else "left", no_wrap=True)
        rules.add_column("value", overflow="fold")
        for table in report.tables.values():
            for rule, count in table.quarantined_by_rule.items():
                if count:
                    first = table.examples[rule][0]
                    shown = "(empty)" if first.value is None else first.value
                    rules.add_row(table.table, rule, f"{count:,}", str(first.row), first.column, shown)
        console.print(rules)
    for system, counts in report.codes_not_in_codelists.items():
        console.print(f"codes not in any code list ({system}): {counts['rows']:,} rows, {counts['distinct_codes']:,} distinct codes")
    console.print(f"accepted rows: {report.out_dir}/{{table}}.parquet; quarantined rows: {report.out_dir}/{REJECTED_DIR}/; report: {report.out_dir}/{REPORT_FILE}")


def validate_command(
    data: Annotated[Path, typer.Option("--data", help="Folder holding persons, events and codes (Parquet or CSV).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder for accepted rows, rejected rows and the report (default: DATA/validated).")
    ] = None,
    extract_date: Annotated[
        datetime | None, typer.Option("--extract-date", formats=["%Y-%m-%d"], help="Dates after this day are future_date (default: today, UTC).")
    ] = None,
) -> None:
    """Check a data directory against the data contract; quarantine bad rows with their reason; report."""
    console = Console()
    try:
        with progress_bar("validate", console=console, transient=True) as progress:
            report = validate(data, out=out, extract_date=extract_date.date() if extract_date else None, progress=progress)
    except (ContractError, ValidationOutputError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(code=1) from error
    print_report(report, console)
