"""The ``risingrisk simulate`` command: run the simulator and print the calibration and summary tables."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.simulation.calibration import render_calibration
from features.simulation.errors import SimulationError
from features.simulation.run import simulate

__all__ = ["simulate_command"]

_DATE = ["%Y-%m-%d"]


def simulate_command(
    people: Annotated[int, typer.Option("--people", help="Number of people to simulate (persons rows).", min=100)],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same arguments give byte-identical files.")],
    out: Annotated[Path, typer.Option("--out", help="Output data directory (created if missing).")],
    start: Annotated[
        datetime | None,
        typer.Option("--start", formats=_DATE, help="First day of the first simulated month (YYYY-MM-01); default: 4 years before --end."),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--end", formats=_DATE, help="First day after the last simulated month (YYYY-MM-01); default: first day of the current month (UTC)."),
    ] = None,
    dirty: Annotated[
        bool,
        typer.Option("--dirty", help="Plant known bad rows of every validation rule and write CSV; manifest in OUT/_truth/dirty_manifest.json."),
    ] = False,
) -> None:
    """Simulate a calibrated synthetic population in the data contract's format."""
    console = Console()
    try:
        summary = simulate(
            people=people, seed=seed, out=out, start=start.date() if start else None,
            end=end.date() if end else None, dirty=dirty, progress=True,
        )
    except SimulationError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from error
    console.print(render_calibration(summary.calibration))
    table = Table(title=f"Simulated {summary.people:,} people, {summary.start} to {summary.end} (seed {summary.seed})")
    table.add_column("output")
    table.add_column("rows / value", justify="right")
    for name, n in summary.rows.items():
        table.add_row(str(summary.files.get(name, name)), f"{n:,}")
    table.add_row("rows recorded after the window end (not in the extract)", f"{summary.dropped_unrecorded:,}")
    if summary.uncoded_categories:
        table.add_row("categories with no code in the code lists (not coded)", ", ".join(summary.uncoded_categories))
    if summary.dirty_manifest is not None:
        planted = sum(n for rules in summary.dirty_manifest.values() for n in rules.values())
        table.add_row("planted bad rows (see _truth/dirty_manifest.json)", f"{planted:,}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    console.print(table)
    failed = [r.figure for r in summary.calibration if not r.passed]
    if failed:
        console.print(f"[yellow]{len(failed)} calibration figure(s) outside tolerance[/yellow]")
