"""``risingrisk features``: point-in-time predictors, cohort and labels as a Parquet table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.config import FeatureConfig
from features.dates import to_date
from features.errors import FeatureConfigError
from risingrisk.commands.engine_options import EngineOption, SparkMasterOption, start_engine
from risingrisk.console import DATE, FILE, DataOption, ExperimentOption, FittedTable, new_console, stage_progress

__all__ = ["features_command", "summary_table"]


def summary_table(frame: pd.DataFrame, *, labels: bool) -> FittedTable:
    """One column per index date (stacked when they do not fit): rows, cohort size, exclusions by reason, label prevalence in the cohort."""
    groups = [(f"{day:%Y-%m-%d}", part) for day, part in frame.groupby("as_of", sort=True)]
    if len(groups) > 1:
        groups.append(("all", frame))
    rows: list[list[str]] = [["rows", *(f"{len(part):,}" for _, part in groups)]]
    rows.append(["in cohort", *(f"{int(part['in_cohort'].sum()):,}" for _, part in groups)])
    for reason in sorted(frame["excluded_reason"].dropna().unique()):
        rows.append([f"excluded: {reason}", *(f"{int((part['excluded_reason'] == reason).sum()):,}" for _, part in groups)])
    if labels:
        cohorts = [part[part["in_cohort"]] for _, part in groups]
        rows.append(["labelled (cohort)", *(f"{int(c['label_high_intensity_use'].notna().sum()):,}" for c in cohorts)])
        for column in ("label_high_intensity_use", "label_emergency_admission"):
            cells = [f"{c[column].mean():.2%}" if c[column].notna().any() else "-" for c in cohorts]
            rows.append([column.removeprefix("label_").replace("_", " "), *cells])
    dates = [name for name, _ in groups]
    return FittedTable("Feature table", ["", *dates], rows, right=dates)


def features_command(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", metavar=FILE, help="Parquet file to write the feature table to.")],
    as_of: Annotated[
        list[str] | None,
        typer.Option("--as-of", metavar=DATE, help="Index date; repeat for several. Default: the extract date."),
    ] = None,
    labels: Annotated[bool, typer.Option("--labels", help="Add outcome labels (needs follow-up after each date).")] = False,
    experiment: ExperimentOption = None,
    data_end: Annotated[
        str | None, typer.Option("--data-end", metavar=DATE, help="Last day the data cover (default: the latest event date).")
    ] = None,
    engine: EngineOption = "duckdb",
    spark_master: SparkMasterOption = None,
) -> None:
    """Build predictors, cohort flags and (optionally) labels as of one or more dates.

    The experiment's \\[features] table sets the predictors, cohort and labels; its \\[spark] table starts Spark with --engine spark.
    """
    feature_config = experiment.features
    if data_end:
        try:
            feature_config = FeatureConfig.load(feature_config.to_dict() | {"data_end": data_end}, where="[features]")
        except FeatureConfigError as error:
            raise typer.BadParameter(str(error), param_hint="'--data-end'") from None
    dates = [to_date(d) for d in as_of] if as_of else None
    console = new_console()
    started = datetime.now()
    chosen = start_engine(console, engine, spark_master, experiment.spark)
    with stage_progress("features", console) as progress:
        frame = chosen.build_features(data, as_of=dates, labels=labels, config=feature_config, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    console.print(summary_table(frame, labels=labels))
    seconds = (datetime.now() - started).total_seconds()
    console.print(f"Wrote {len(frame):,} rows x {frame.shape[1]} columns to {out} in {seconds:.1f} s ({chosen.name}).")
