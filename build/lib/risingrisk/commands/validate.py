"""``risingrisk validate``: check an extract against the data contract, quarantining bad rows with reasons."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from features.errors import ContractError, ValidationOutputError
from features.validate import REJECTED_DIR, REPORT_FILE, ValidationReport, validate
from risingrisk.console import DATE, DIR, FittedTable, new_console, stage_progress

__all__ = ["validate_command", "print_report"]


def print_report(report: ValidationReport, console: Console) -> None:
    """Print the per-table summary, the quarantined rows by rule and where the outputs are."""
    console.print(FittedTable(
        f"Validation of {report.data_dir} (extract date {report.extract_date})",
        ["table", "file", "rows read", "accepted", "quarantined"],
        [[table.table, Path(table.file).name, f"{table.rows_read:,}", f"{table.rows_accepted:,}", f"{table.rows_quarantined:,}"]
         for table in report.tables.values()],
        right={"rows read", "accepted", "quarantined"},
    ))
    if report.rows_quarantined:
        rows = []
        for table in report.tables.values():
            for rule, count in table.quarantined_by_rule.items():
                if count:
                    first = table.examples[rule][0]
                    shown = "(empty)" if first.value is None else first.value
                    rows.append([table.table, rule, f"{count:,}", str(first.row), first.column, shown])
        console.print(FittedTable("Quarantined rows by rule (first example)", ["table", "rule", "rows", "row", "column", "value"],
                                  rows, keys=2, right={"rows", "row"}))
    for system, counts in report.codes_not_in_codelists.items():
        console.print(f"codes not in any code list ({system}): {counts['rows']:,} rows, {counts['distinct_codes']:,} distinct codes")
    console.print(f"accepted rows: {report.out_dir}/{{table}}.parquet; quarantined rows: {report.out_dir}/{REJECTED_DIR}/; report: {report.out_dir}/{REPORT_FILE}")


def validate_command(
    data: Annotated[Path, typer.Option("--data", metavar=DIR, help="Folder holding persons, events and codes (Parquet or CSV).")],
    out: Annotated[
        Path | None, typer.Option("--out", metavar=DIR, help="Output folder for accepted rows, rejected rows and the report (default: DATA/validated).")
    ] = None,
    extract_date: Annotated[
        datetime | None, typer.Option("--extract-date", formats=["%Y-%m-%d"], metavar=DATE, help="Dates after this day are future_date (default: today, UTC).")
    ] = None,
) -> None:
    """Check a data directory against the data contract; quarantine bad rows with their reason; report."""
    console = new_console()
    try:
        with stage_progress("validate", console) as progress:
            report = validate(data, out=out, extract_date=extract_date.date() if extract_date else None, progress=progress)
    except (ContractError, ValidationOutputError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(code=1) from error
    print_report(report, console)
