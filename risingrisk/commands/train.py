"""``risingrisk train``: fit, evaluate and register a challenger model, showing the stages and the out-of-time comparison."""

from __future__ import annotations

import typer

from features.errors import ContractError, FeatureConfigError
from features.home import home as resolve_home
from risingrisk.commands.engine_options import EngineOption, SparkMasterOption, start_engine
from risingrisk.console import DataOption, ExperimentOption, FittedTable, HomeOption, new_console, refuse_stale_database, stage_progress
from training.errors import TrainingError
from training.train import TrainResult, train

__all__ = ["SHORT_NAMES", "summary_table", "train_command"]

#: Short model names for the console summary (keys as in ``training.evaluate.MODELS``).
SHORT_NAMES: dict[str, str] = {"lightgbm": "LightGBM", "ed_count": "ED count 12m", "herts_segmentation": "Herts rules", "logistic": "Logistic"}


def summary_table(result: TrainResult) -> FittedTable:
    """The out-of-time comparison (point estimate and 95% CI per model); intervals wrap under the estimate, never cut."""
    headers = ["model", "AUROC", "AUPRC", "PPV @ capacity", "lift @ capacity", "cal. slope", "Brier"]
    rows = [
        [SHORT_NAMES.get(key, key), values["auroc"].text(), values["auprc"].text(), values["ppv_capacity"].text(),
         values["lift_capacity"].text(1), values["calibration_slope"].text(2), values["brier"].text(4)]
        for key, values in result.metrics.items()
    ]
    if result.oracle is not None:
        rows.append([
            "Oracle (sim truth)",
            f"{result.oracle['oracle_auroc']:.3f} ({result.oracle['oracle_auroc_low']:.3f}–{result.oracle['oracle_auroc_high']:.3f})",
            "", f"{result.oracle['oracle_ppv_capacity']:.3f}", "", "", "",
        ])
    return FittedTable(
        f"{result.model_name} v{result.version}: out-of-time evaluation, 95% CI (alias challenger)", headers, rows,
        right=headers[1:],
    )


def train_command(
    data: DataOption,
    experiment: ExperimentOption = None,
    home: HomeOption = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Train, calibrate and validate the model out-of-time against the baselines; register it as the challenger."""
    console = new_console()
    where = resolve_home(home)
    refuse_stale_database(console, where)
    chosen = start_engine(console, engine, spark_master, experiment.spark)
    try:
        with stage_progress("train", console, where=where) as progress:
            result = train(data, experiment, home=where, progress=progress, engine=chosen)
    except (TrainingError, ContractError, FeatureConfigError) as exc:
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
    console.print(f"run {result.run_id} · model card {result.model_card}")
    console.print(f"Next: risingrisk promote --home {where.root}", soft_wrap=True)
