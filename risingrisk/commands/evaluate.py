"""``risingrisk evaluate``: external validation of the champion on another extract (no retraining), rendered as tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.dates import to_date
from features.errors import ContractError
from features.home import home as resolve_home
from risingrisk.commands.rich_progress import progress_bar
from risingrisk.console import DATE, DIR, ExperimentOption, HomeOption
from training.config import OUTCOMES
from training.errors import ModelNotFoundError, TrainingError
from training.external import ExternalValidation, external_validation
from training.registry import CHAMPION

__all__ = ["evaluate_command", "validation_tables"]

_SHOWN = (
    ("AUROC", "auroc", 3),
    ("AUPRC", "auprc", 3),
    ("PPV at capacity", "ppv_capacity", 3),
    ("sensitivity at capacity", "sensitivity_capacity", 3),
    ("listed: observed − mean predicted", "listed_calibration_capacity", 3),
    ("calibration intercept (in the large)", "calibration_intercept", 3),
    ("calibration slope", "calibration_slope", 3),
    ("ECE", "ece", 4),
    ("Brier", "brier", 4),
)


def validation_tables(result: ExternalValidation) -> tuple[Table, Table]:
    """The metrics table (value and 95% interval) and the decision-curve table."""
    metrics = Table(
        title=f"{result.model_name} v{result.model_version} on {result.data_dir} "
        f"({result.rows:,} rows, {result.people:,} people, {result.outcomes:,} outcomes)"
    )
    metrics.add_column("metric")
    metrics.add_column("value (95% CI)", justify="right")
    for label, key, digits in _SHOWN:
        metrics.add_row(label, result.metrics[key].text(digits))
    curve = Table(title=f"Net benefit around capacity (capacity threshold {result.capacity_threshold:.4f})")
    for column in ("threshold", "listed share", "model", "list everyone"):
        curve.add_column(column, justify="right")
    for row in result.net_benefit.itertuples():
        curve.add_row(f"{row.threshold:.4f}", f"{row.listed_share:.4f}", f"{row.model:.5f}", f"{row.treat_all:.5f}")
    return metrics, curve


def evaluate_command(
    data: Annotated[Path, typer.Option(metavar=DIR, help="Another data directory (persons, events, codes) with follow-up after --as-of.")],
    as_of: Annotated[list[str], typer.Option(metavar=DATE, help="Index date; repeat for several. Outcome windows must lie inside the data.")],
    outcome: Annotated[
        str | None, typer.Option(metavar="OUTCOME", help=f"Outcome whose model to validate: {', '.join(OUTCOMES)}; default: the experiment's outcome.")
    ] = None,
    model: Annotated[str, typer.Option(help="Registered model alias to validate.")] = CHAMPION,
    n_bootstrap: Annotated[
        int | None,
        typer.Option(min=10, help="Person-grouped bootstrap resamples for the intervals; default: the experiment's evaluation.n_bootstrap."),
    ] = None,
    experiment: ExperimentOption = None,
    home: HomeOption = None,
) -> None:
    """Validate the champion on another extract without retraining: AUROC, calibration, PPV at capacity, net benefit.

    The experiment gives the outcome and the \\[evaluation] settings (bootstrap, interval, bins, seed); the rest is the model's own.
    """
    console = Console()
    chosen = outcome if outcome is not None else experiment.outcome
    if chosen not in OUTCOMES:
        raise typer.BadParameter(
            f"must be one of {list(OUTCOMES)}; got {chosen!r}. Name one of them, or omit --outcome for the experiment's.", param_hint="'--outcome'"
        )
    settings = experiment.evaluation
    try:
        with progress_bar("Evaluating", console=console, transient=True) as progress:
            result = external_validation(
                data, [to_date(d) for d in as_of], home=resolve_home(home), outcome=chosen, alias=model,
                n_bootstrap=n_bootstrap if n_bootstrap is not None else settings.n_bootstrap, ci_level=settings.ci_level,
                ece_bins=settings.ece_bins, seed=settings.seed, progress=progress,
            )
    except (ModelNotFoundError, TrainingError, ContractError) as exc:
        console.print(f"[red]evaluate failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    for table in validation_tables(result):
        console.print(table)
    console.print(("[yellow]" if result.rows_seen else "[green]") + result.seen_note + "[/]")
    console.print(("[yellow]" if result.recalibrate else "[green]") + result.suggestion + "[/]")
