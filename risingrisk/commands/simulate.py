"""``risingrisk simulate``: a synthetic population in the data contract."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from features.simulation.calibration import CalibrationRow
from features.contract import SETTINGS
from features.simulation.errors import SimulationError
from features.simulation.faults import Fault, parse_outage, plant_feed_outage, plant_lag_increase, plant_recoding
from features.simulation.run import SimulationSummary, simulate
from risingrisk.console import DATE, DIR, FittedTable, new_console, stage_progress

__all__ = ["simulate_command", "calibration_table", "summary_table", "faults_table", "parse_recoding", "parse_lag_increase"]

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


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SimulationError(f"{what} must end with a date YYYY-MM-DD; got {text!r}.") from None


def parse_recoding(text: str) -> tuple[str, str, date]:
    """``"CODE:NEWCODE:YYYY-MM-DD"`` to ``(code, new_code, since)``."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise SimulationError(f"a recoding must be CODE:NEWCODE:YYYY-MM-DD; got {text!r}. Use e.g. 22298006:NEW-MI:2024-06-01.")
    return parts[0], parts[1], _date(parts[2], "a recoding")


def parse_lag_increase(text: str) -> tuple[int, date, str | None]:
    """``"DAYS:YYYY-MM-DD[:SETTING]"`` to ``(days, since, setting or None)``."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit() or int(parts[0]) < 1 or (len(parts) == 3 and parts[2] not in SETTINGS):
        raise SimulationError(
            f"a lag increase must be DAYS:YYYY-MM-DD[:SETTING] with DAYS >= 1 and SETTING one of {list(SETTINGS)}; got {text!r}. "
            "Use e.g. 30:2024-08-01:ed."
        )
    return int(parts[0]), _date(parts[1], "a lag increase"), parts[2] if len(parts) == 3 else None


def faults_table(faults: list[Fault]) -> FittedTable:
    """The faults planted after simulation: kind, subject, since, rows changed and removed."""
    return FittedTable(
        "Planted faults (recorded in _truth/faults.json)", ["fault", "subject", "since", "rows changed", "rows removed", "detail"],
        [[f.kind, f.subject, f.since, f"{f.rows_changed:,}", f"{f.rows_removed:,}", f.detail] for f in faults],
        right={"rows changed", "rows removed"},
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
        typer.Option("--dirty", help="Plant known bad rows of every validation rule and write CSV; manifest in the _truth folder (dirty_manifest.json)."),
    ] = False,
    outage: Annotated[
        list[str] | None,
        typer.Option(metavar="SETTING:DAYS", help="Plant a feed outage: drop SETTING's events of the extract's last DAYS days (repeatable)."),
    ] = None,
    recode: Annotated[
        list[str] | None,
        typer.Option(metavar="CODE:NEWCODE:DATE", help="Plant a recoding: codes rows of CODE recorded from DATE carry NEWCODE (repeatable)."),
    ] = None,
    lag_increase: Annotated[
        list[str] | None,
        typer.Option(metavar="DAYS:DATE[:SETTING]", help="Plant a recording-lag increase: events from DATE (of SETTING, or all) recorded DAYS later (repeatable)."),
    ] = None,
) -> None:
    """Simulate a calibrated synthetic population in the data contract's format, optionally with planted operational faults."""
    console = new_console()
    faults: list[Fault] = []
    try:
        outages = [parse_outage(text) for text in outage or ()]
        recodings = [parse_recoding(text) for text in recode or ()]
        lags = [parse_lag_increase(text) for text in lag_increase or ()]
        with stage_progress("simulate", console) as progress:
            summary = simulate(
                people=people, seed=seed, out=out, start=start.date() if start else None,
                end=end.date() if end else None, dirty=dirty, progress=progress,
            )
            if outages or recodings or lags:
                progress("Planting faults", 0, 0)
                faults += [plant_feed_outage(out, setting, days) for setting, days in outages]
                faults += [plant_recoding(out, code, new, since) for code, new, since in recodings]
                faults += [plant_lag_increase(out, days, since, setting=setting) for days, since, setting in lags]
    except SimulationError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from error
    console.print(calibration_table(summary.calibration))
    console.print(summary_table(summary))
    if faults:
        console.print(faults_table(faults))
    failed = [r.figure for r in summary.calibration if not r.passed]
    if failed:
        console.print(f"[yellow]{len(failed)} calibration figure(s) outside tolerance[/yellow]")
