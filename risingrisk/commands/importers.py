"""``risingrisk import fhir|omop``: convert FHIR R4 or OMOP CDM exports into a data-contract folder and show the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from features.errors import ConfigError
from features.importers.errors import ImportSourceError
from features.importers.fhir import import_fhir
from features.importers.omop import import_omop
from features.importers.omop_sources import is_database_url
from features.importers.report import REPORT_FILE, ImportReport
from risingrisk.console import DIR, FILE, FittedTable, new_console, stage_progress

__all__ = ["import_app", "render_report"]

import_app = typer.Typer(
    help="Convert FHIR R4 (Bundles, bulk NDJSON) or OMOP CDM tables into a data-contract folder; every input is reported.",
    no_args_is_help=True,
)

_Out = Annotated[Path, typer.Option("--out", metavar=DIR, help="New or empty folder for persons, events, codes and the import report.")]
_Mapping = Annotated[
    Path | None,
    typer.Option("--mapping", metavar=FILE, help="Mapping TOML file (copy the shipped default and edit it); default: the shipped mapping."),
]


def render_report(report: ImportReport, console: Console) -> None:
    """Print what was read, mapped and not mapped by type and reason, the defaults applied and the warnings."""
    rows = []
    for kind, counts in report.inputs.items():
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.not_mapped.items()))
        rows.append([kind, f"{counts.read:,}", f"{counts.mapped:,}", f"{counts.not_mapped_total:,}", reasons])
    rows.append(["[bold]all[/]", f"[bold]{report.read:,}[/]", f"[bold]{report.mapped:,}[/]", f"[bold]{report.not_mapped:,}[/]", ""])
    console.print(FittedTable(f"Import of {report.source} ({report.source_format})", ["type", "read", "mapped", "not mapped", "reasons"],
                              rows, right={"read", "mapped", "not mapped"}))
    written = ", ".join(f"{name} {rows:,}" for name, rows in report.rows_written.items())
    console.print(f"Rows written to {report.out_dir}: {written}")
    for what, count in report.defaults_applied.items():
        console.print(f"default applied {count:,}×: {escape(what)}")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    console.print(f"Report with the first examples of each reason: {Path(report.out_dir) / REPORT_FILE}")
    console.print(f"Next: risingrisk validate --data {report.out_dir}")


def _run(runner: Callable[..., ImportReport], src: Path | str, out: Path, mapping: Path | None, **options: str | None) -> None:
    console = new_console()
    try:
        with stage_progress("import", console) as progress:
            report = runner(src, out, mapping=mapping, progress=progress, **options)
    except (ImportSourceError, ConfigError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(code=2) from error
    render_report(report, console)


@import_app.command("fhir")
def fhir_command(
    src: Annotated[Path, typer.Argument(metavar="SRC", help="Folder or file of FHIR R4 JSON: Bundles, resources, bulk-export NDJSON (.gz accepted).")],
    out: _Out,
    mapping: _Mapping = None,
) -> None:
    """Import FHIR R4 Bundles and bulk-export NDJSON into persons, events and codes."""
    _run(import_fhir, src, out, mapping)


@import_app.command("omop")
def omop_command(
    src: Annotated[
        str,
        typer.Argument(
            metavar="SRC",
            help="Folder of OMOP CDM v5.4 tables as NAME.parquet or NAME.csv, or a database URL "
            "(sqlite:///cdm.sqlite, postgresql://USER:PASSWORD@HOST/DB?schema=cdm).",
        ),
    ],
    out: _Out,
    mapping: _Mapping = None,
    schema: Annotated[
        str | None, typer.Option("--schema", help="Database SRC only: the schema holding the CDM tables (overrides ?schema= in the URL).")
    ] = None,
) -> None:
    """Import OMOP CDM v5.4 tables (folder or database) into persons, events and codes."""
    _run(import_omop, src if is_database_url(src) else Path(src), out, mapping, schema=schema)
