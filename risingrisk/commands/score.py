"""``risingrisk score``: score the population and publish neighbourhood lists."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from features.dates import to_date
from features.home import home
from features.typed_config import read_toml
from serving.capacity import CapacityConfig
from serving.score import ScoreConfig
from serving.scoring_run import score_and_publish
from training.errors import ModelNotFoundError
from training.registry import load_model

__all__ = ["score_command"]

#: The capacity defaults (``CapacityConfig``) shown as the options' defaults.
_CAPACITY = CapacityConfig()


def score_command(
    data: Annotated[Path, typer.Option(help="Data directory (persons, events, codes).")],
    out: Annotated[Path | None, typer.Option(help="Publications root; default: the home's publications folder.")] = None,
    as_of: Annotated[str | None, typer.Option(help="Scoring date (YYYY-MM-DD); default: the latest event date.")] = None,
    model: Annotated[str, typer.Option(help="Registered model alias to score with.")] = "champion",
    capacity_per_thousand: Annotated[float, typer.Option(help="List places per 1,000 registered people.")] = _CAPACITY.per_thousand,
    capacity_rule: Annotated[
        str, typer.Option(help="per_population (ceil per neighbourhood) or allocation (Tier 2 formula).")
    ] = _CAPACITY.rule,
    capacity_file: Annotated[
        Path | None,
        typer.Option(help="TOML file with a \\[capacity] table (per_thousand, rule, weights, overrides); overrides the two options above."),
    ] = None,
) -> None:
    """Score the population with a registered model and publish capacity-sized neighbourhood lists."""
    console = Console()
    capacity = CapacityConfig(per_thousand=capacity_per_thousand, rule=capacity_rule)  # type: ignore[arg-type]
    if capacity_file is not None:
        settings = {"per_thousand": capacity_per_thousand, "rule": capacity_rule}
        settings.update(read_toml(capacity_file).get("capacity", {}))
        capacity = CapacityConfig.from_dict(settings)
    config = ScoreConfig(capacity=capacity)
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Loading model", total=5)
        try:
            loaded = load_model(model, home=home())
        except ModelNotFoundError as error:
            progress.stop()
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None

        def on_progress(step: str, done: int, total: int) -> None:
            progress.update(task, completed=done + 1, total=total + 1, description=step)

        run = score_and_publish(
            data, loaded.model, feature_config=loaded.feature_config,
            model_metadata={
                "model_name": loaded.name, "model_version": loaded.version, "model_alias": loaded.alias,
                "model_run_id": loaded.run_id, "outcome": loaded.outcome,
            },
            as_of=to_date(as_of) if as_of else None, where=out if out is not None else home(), config=replace(config, lists=loaded.lists), progress=on_progress,
        )
    result = run.result
    summary = Table(title=f"Published {run.publication.id}")
    summary.add_column("item")
    summary.add_column("value", justify="right")
    for label, value in (
        ("model", f"{loaded.name} v{loaded.version} ({loaded.alias})"),
        ("as of / extract date", f"{run.as_of} / {run.extract_date}"),
        ("people in", f"{result.rows_in:,}"),
        ("scored (eligible)", f"{result.rows_scored:,}"),
        ("excluded", f"{result.rows_excluded:,}"),
        ("without neighbourhood (not listed)", f"{result.rows_without_neighbourhood:,}"),
        ("neighbourhood lists", f"{len(result.capacity)}"),
        ("people listed", f"{len(result.lists):,} (new {int(result.lists['is_new'].sum()):,})"),
        ("previous publication", run.previous_id or "none"),
        ("seconds", f"{time.perf_counter() - started:.1f}"),
        ("folder", str(run.publication.path)),
    ):
        summary.add_row(label, value)
    console.print(summary)
