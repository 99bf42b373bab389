"""``risingrisk monitor``: check an extract (feeds, codes, lag, drift, backtests, staleness) and write the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from features.dates import to_date
from features.home import home as resolve_home
from features.typed_config import read_toml
from serving.monitoring import DriftInputs, MonitorConfig, run_monitor, write_report
from serving.monitoring.alerts import Alert
from serving.monitoring.tracking import log_report

__all__ = ["monitor_command", "alerts_table"]

_STYLE = {"critical": "bold white on red", "warning": "black on yellow"}


def alerts_table(alerts: Sequence[Alert]) -> Table:
    """A rich table of alerts, most severe first."""
    table = Table(title="Monitoring alerts")
    for column in ("severity", "kind", "subject", "message"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        table.add_row(f"[{_STYLE[alert.severity]}]{alert.severity}[/]", alert.kind, alert.subject, alert.message)
    return table


def monitor_command(
    data: Annotated[Path, typer.Option("--data", help="Data directory (persons, events, codes) to check.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for monitor.json and monitor.html.")],
    as_of: Annotated[str | None, typer.Option(help="First day the data do not cover (YYYY-MM-DD); default: the day after the latest event.")] = None,
    home: Annotated[Path | None, typer.Option(help="risingrisk home (publications for backtest and staleness, MLflow store); default $RISINGRISK_HOME or ./.risingrisk.")] = None,
    publications: Annotated[Path | None, typer.Option(help="Publications root, overriding the home's.")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file whose \\[monitor] table overrides thresholds (see MonitorConfig).")] = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="Parquet sample of the champion's training rows (its features, 'neighbourhood' and 'score'), for drift against the current publication."),
    ] = None,
    backtest: Annotated[bool, typer.Option(help="Backtest past publications whose outcome window has passed.")] = True,
    mlflow: Annotated[bool, typer.Option(help="Log the report to the home's MLflow store.")] = True,
) -> None:
    """Check the extract and the lists; exit 1 when a critical alert fires (a feed dropped or stopped)."""
    console = Console()
    where = resolve_home(home)
    settings = MonitorConfig.load(read_toml(config).get("monitor", {}) if config else None, where="[monitor]")
    drift = None
    if reference is not None:
        frame = pd.read_parquet(reference)
        if "score" not in frame.columns:
            console.print(f"[red]--reference must be a Parquet file with a 'score' column; {reference} has none. Add the training scores.[/red]")
            raise typer.Exit(2)
        drift = DriftInputs(reference=frame, reference_scores=frame["score"].to_numpy())
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("Monitoring", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total or None)

        report = run_monitor(
            data, as_of=to_date(as_of) if as_of else None, config=settings,
            publications=publications if publications is not None else where, drift=drift, backtest=backtest, progress=progress,
        )
    paths = write_report(report, out)
    if report.alerts:
        console.print(alerts_table(report.alerts))
    else:
        console.print("[green]No alerts.[/green]")
    if mlflow:
        run_id = log_report(report, where, paths=paths)
        console.print(f"Logged to MLflow run {run_id}.")
    console.print(f"Report: {paths['json']} and {paths['html']} (data as of {report.as_of}, {report.seconds['total']:.1f} s).")
    if report.critical:
        raise typer.Exit(1)
