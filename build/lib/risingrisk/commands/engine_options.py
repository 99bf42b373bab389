"""The ``--engine`` and ``--spark-master`` options the feature-building commands share, and starting the chosen engine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from features.engines import ENGINES, FeatureEngine, engine_named
from features.engines.spark_session import SparkSettings
from features.errors import EngineUnavailableError, FeatureConfigError

__all__ = ["EngineOption", "SparkMasterOption", "start_engine"]

EngineOption = Annotated[
    str,
    typer.Option(
        "--engine", metavar="|".join(ENGINES),
        help="Feature engine: duckdb (embedded, this machine) or spark (needs the spark extra and Java 17+; README: Scaling).",
    ),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        "--spark-master", metavar="URL",
        help="Spark master with --engine spark, e.g. local[4] or spark://host:7077; default: the experiment's \\[spark] master (local[*]).",
    ),
]


def start_engine(console: Console, name: str, master: str | None, settings: SparkSettings) -> FeatureEngine:
    """The engine called ``name``, started now so a missing pyspark or Java stops the command (exit 2) before any work."""
    try:
        engine = engine_named(name, spark=settings, master=master)
        engine.start()
    except (EngineUnavailableError, FeatureConfigError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    return engine
