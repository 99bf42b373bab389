"""``risingrisk learning-curve``: out-of-time AUROC and calibration against the number of training rows, logged to MLflow."""

from __future__ import annotations

from typing import Annotated

import typer

from features.errors import ContractError, FeatureConfigError
from features.home import home as resolve_home
from risingrisk.commands.engine_options import EngineOption, SparkMasterOption, start_engine
from risingrisk.console import DataOption, ExperimentOption, FittedTable, HomeOption, new_console, refuse_stale_database, stage_progress
from training.errors import TrainingError
from training.learning_curve import LearningCurve, learning_curve

__all__ = ["curve_table", "learning_curve_command", "parse_sizes"]


def parse_sizes(text: str | None) -> list[int] | None:
    """``"25000,50000"`` as numbers (``25k`` and ``1m`` allowed); ``None`` = the default sizes.

    Raises
    ------
    typer.BadParameter
        If a size is not a whole number.
    """
    if text is None:
        return None
    sizes = []
    for part in (p.strip().lower().replace("_", "") for p in text.split(",") if p.strip()):
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        digits = part[:-1] if scale > 1 else part
        if not digits.isdigit():
            raise typer.BadParameter(f"sizes must be whole numbers of rows separated by commas; got {part!r}. Pass e.g. 25000,50000,100k.")
        sizes.append(int(digits) * scale)
    return sizes


def curve_table(curve: LearningCurve) -> FittedTable:
    """One row per training size: rows, people, outcomes, AUROC, calibration slope, ECE, Brier, trees."""
    headers = ["training rows", "people", "outcomes", "AUROC", "cal. slope", "ECE", "Brier", "trees"]
    rows = [
        [f"{p.rows:,}" + ("" if p.requested is not None else " (all)"), f"{p.people:,}", f"{p.outcomes:,}", f"{p.auroc:.3f}",
         f"{p.calibration_slope:.2f}", f"{p.ece:.4f}", f"{p.brier:.4f}", f"{p.best_iteration}"]
        for p in curve.points
    ]
    title = f"Learning curve: out-of-time metrics on the same {curve.validation_rows:,} rows ({curve.validation_outcomes:,} outcomes)"
    return FittedTable(title, headers, rows, right=headers)


def learning_curve_command(
    data: DataOption,
    experiment: ExperimentOption = None,
    sizes: Annotated[
        str | None,
        typer.Option(metavar="N,N,...", help="Training rows to try, e.g. 25000,50000,100k (those below the rows available); "
                     "all rows are always the last point. Default: 25k, 50k, 100k, ... doubling."),
    ] = None,
    home: HomeOption = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Fit the model on growing person-level samples of the training slice; show out-of-time AUROC and calibration for each."""
    console = new_console()
    where = resolve_home(home)
    refuse_stale_database(console, where)
    wanted = parse_sizes(sizes)
    chosen = start_engine(console, engine, spark_master, experiment.spark)
    try:
        with stage_progress("learning-curve", console, where=where) as progress:
            curve = learning_curve(data, experiment, sizes=wanted, home=where, engine=chosen, progress=progress)
    except (TrainingError, ContractError, FeatureConfigError) as exc:
        console.print(f"[red]learning-curve failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    console.print(curve_table(curve))
    console.print(
        f"training slice: {curve.training_rows:,} rows of {curve.training_people:,} people; subsamples take whole people. "
        f"run {curve.run_id} · figure {curve.figure}", soft_wrap=True,
    )
