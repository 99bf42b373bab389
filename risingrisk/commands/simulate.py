"""``risingrisk simulate``: a synthetic population in the data contract."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from features.simulation.calibration import CalibrationRow
from features.simulation.errors import SimulationError
from features.simulation.run import SimulationSummary, simulate
from risingrisk.console import DATE, DIR, FittedTable, new_console, stage_progress

__all__ = ["simulate_command", "calibration_table", "summary_table"]

_DATE = ["%Y-%m-%d"]


def calibration_table(rows: list[CalibrationRow]) -> FittedTable:
    """The calibration rows: simulated figure, target, accepted range, pass or FAIL."""
    return FittedTable(
        "Calibration: simulated vs target",
        ["figure", "simulated", "target", "accepted range", "unit", ""],
        [[r.figure, f"{r.simulated:.4g}", f"{r.target:.4g}", f"{r.low:.4g} - {r.high:.4g}", r.unit,
          "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"] for r in rows],
        right={"simulated", "target", "accepted range", ""},
    )


def summary_table(summary: SimulationSummary) -> FittedTable:
    """The files written and their row counts."""
    rows = [[str(summary.files.get(name, name)), f"{n:,}"] for name, n in summary.rows.items()]
    rows.append(["rows recorded after the window end (not in the extract)", f"{summary.dropped_unrecorded:,}"])
    if summary.uncoded_categories:
        rows.append(["categories with no code in the code lists (not coded)", ", ".join(summary.uncoded_categories)])
    if summary.dirty_manifest is not None:
        planted = sum(n for rules in summary.dirty_manifest.values() for n in rules.values())
        rows.append(["planted bad rows (see _truth/dirty_manifest.json)", f"{planted:,}"])
    rows.append(["seconds", f"{summary.seconds:.1f}"])
    return FittedTable(
        f"Simulated {summary.people:,} people, {summary.start} to {summary.end} (seed {summary.seed})",
        ["output", "rows / value"], rows, right={"rows / value"},
    )


def simulate_command(
    people: Annotated[int, typer.Option("--people", metavar="N", help="Number of people to simulate (persons rows).", min=100)],
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Random seed; the same arguments give byte-identical files.")],
    out: Annotated[Path, typer.Option("--out", metavar=DIR, help="Output data directory (created if missing).")],
    start: Annotated[
        datetime | None,
        typer.Option("--start", formats=_DATE, metavar=DATE, help="First day of the first simulated month (YYYY-MM-01); default: 4 years before --end."),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--end", formats=_DATE, metavar=DATE, help="First day after the last simulated month (YYYY-MM-01); default: first day of the current month (UTC)."),
    ] = None,
    dirty: Annotated[
        bool,
        typer.Option("--dirty", help="Plant known bad rows of every validation rule and write CSV; manifest in OUT/_truth/dirty_manifest.json."),
    ] = False,
) -> None:
    """Simulate a calibrated synthetic population in the data contract's format."""
    console = new_console()
    try:
        with stage_progress("simulate", console) as progress:
            summary = simulate(
                people=people, seed=seed, out=out, start=start.date() if start else None,
                end=end.date() if end else None, dirty=dirty, progress=progress,
            )
    except SimulationError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from error
    console.print(calibration_table(summary.calibration))
    console.print(summary_table(summary))
    failed = [r.figure for r in summary.calibration if not r.passed]
    if failed:
        console.print(f"[yellow]{len(failed)} calibration figure(s) outside tolerance[/yellow]")
