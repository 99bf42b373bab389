"""``risingrisk train``: fit, evaluate and register a challenger model, showing the stages and the out-of-time comparison."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.errors import ContractError, FeatureConfigError
from training.config import load_config
from training.errors import TrainingError
from training.train import STAGES, TrainResult, train

__all__ = ["SHORT_NAMES", "summary_table", "train_command"]

#: Short model names for the console summary (keys as in ``training.evaluate.MODELS``).
SHORT_NAMES: dict[str, str] = {"lightgbm": "LightGBM", "ed_count": "ED count 12m", "herts_segmentation": "Herts rules", "logistic": "Logistic"}


def summary_table(result: TrainResult) -> Table:
    """A rich table of the out-of-time comparison (point estimate and 95% CI per model)."""
    table = Table(title=f"{result.model_name} v{result.version} — out-of-time evaluation (alias challenger)")
    table.add_column("model", no_wrap=True)
    for column in ("AUROC", "AUPRC", "PPV @ capacity", "lift @ capacity", "cal. slope", "Brier"):
        table.add_column(column, justify="right")
    for key, values in result.metrics.items():
        table.add_row(
            SHORT_NAMES[key], values["auroc"].text(), values["auprc"].text(), values["ppv_capacity"].text(),
            values["lift_capacity"].text(1), values["calibration_slope"].text(2), values["brier"].text(4),
        )
    if result.oracle is not None:
        table.add_row(
            "Oracle (sim truth)",
            f"{result.oracle['oracle_auroc']:.3f} ({result.oracle['oracle_auroc_low']:.3f}–{result.oracle['oracle_auroc_high']:.3f})",
            "", f"{result.oracle['oracle_ppv_capacity']:.3f}", "", "", "",
        )
    return table


def train_command(
    data: Annotated[Path, typer.Option(help="Data directory (persons, events, codes).")],
    config: Annotated[Path, typer.Option(help="Experiment config (TOML).")] = Path("experiments/default.toml"),
) -> None:
    """Train, calibrate and validate the model out-of-time against the baselines; register it as the challenger."""
    console = Console()
    started = time.perf_counter()
    with Progress(TextColumn("[bold]train[/]"), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(STAGES[0], total=len(STAGES))

        def show(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        try:
            result = train(data, load_config(config), progress=show)
        except (TrainingError, ContractError, FeatureConfigError) as exc:
            progress.stop()
            console.print(f"[red]train failed:[/] {exc}")
            raise typer.Exit(code=1) from None
    console.print(summary_table(result))
    console.print(
        "slices: " + ", ".join(f"{r.slice} {int(r.rows):,} rows" for r in result.slices.itertuples())
        + f" · calibration {result.calibration_method} · capacity = top {100 * result.capacity_fraction:.3f}% of cohort rows"
    )
    if result.oracle is not None:
        console.print(f"model AUROC / oracle AUROC = {result.oracle['model_auroc']:.3f} / {result.oracle['oracle_auroc']:.3f} = {result.oracle['ratio']:.3f}")
    gates = "[green]passed[/]" if result.equity_passed else "[red]failed[/]: " + "; ".join(result.equity_failures[:5])
    console.print(f"equity gates {gates}")
    console.print(f"run {result.run_id} · model card {result.model_card} · {time.perf_counter() - started:.0f} s")
