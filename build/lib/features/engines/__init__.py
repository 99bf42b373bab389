"""Feature engines: the one choice point between embedded DuckDB (the default) and Apache Spark for the same declared SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from features import build as duckdb_build
from features.config import FeatureConfig
from features.engines import spark as spark_build
from features.engines.spark_session import SparkSettings, spark_session
from features.errors import FeatureConfigError
from features.progress import ProgressCallback

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["ENGINES", "EngineName", "DuckDBEngine", "SparkEngine", "FeatureEngine", "engine_named"]

#: Engine names the commands accept (``--engine``).
ENGINES: tuple[str, ...] = ("duckdb", "spark")
EngineName = Literal["duckdb", "spark"]


@dataclass(frozen=True)
class DuckDBEngine:
    """Embedded DuckDB on this machine: :func:`features.build.build_features`, unchanged."""

    name: str = field(default="duckdb", init=False)

    def start(self) -> None:
        """Nothing to start: DuckDB is embedded."""

    def build_features(
        self,
        source: Path | str,
        *,
        as_of: date | str | Sequence[date | str] | None = None,
        index: pd.DataFrame | None = None,
        labels: bool = False,
        config: FeatureConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> pd.DataFrame:
        """The feature table (see :func:`features.build.build_features`; labels look after T, never predictors)."""
        return duckdb_build.build_features(source, as_of=as_of, index=index, labels=labels, config=config, progress=progress)


@dataclass(frozen=True)
class SparkEngine:
    """Apache Spark with ``settings`` (the experiment's ``[spark]`` table): :func:`features.engines.spark.build_features`."""

    settings: SparkSettings = field(default_factory=SparkSettings)
    name: str = field(default="spark", init=False)

    def session(self) -> SparkSession:
        """The Spark session (started on first use, then reused by Spark).

        Raises
        ------
        EngineUnavailableError
            If pyspark or a Java 17+ runtime is missing; the message says what to install.
        """
        return spark_session(self.settings)

    def start(self) -> None:
        """Start the session now, so a missing pyspark or Java is reported before any long work."""
        self.session()

    def build_features(
        self,
        source: Path | str,
        *,
        as_of: date | str | Sequence[date | str] | None = None,
        index: pd.DataFrame | None = None,
        labels: bool = False,
        config: FeatureConfig | None = None,
        progress: ProgressCallback | None = None,
    ) -> pd.DataFrame:
        """The feature table built on Spark and collected: the same frame DuckDB gives (labels never predictors)."""
        return spark_build.build_features(
            source, spark=self.session(), as_of=as_of, index=index, labels=labels, config=config, progress=progress
        )


#: Either engine; both build the same table from the same declarations.
FeatureEngine = DuckDBEngine | SparkEngine


def engine_named(name: str, *, spark: SparkSettings | None = None, master: str | None = None) -> FeatureEngine:
    """The engine called ``name``; for Spark, ``spark`` settings with ``master`` (when given) replacing theirs.

    Raises
    ------
    FeatureConfigError
        If ``name`` is not one of :data:`ENGINES`, or a master is given for DuckDB.
    """
    if name not in ENGINES:
        raise FeatureConfigError(f"engine must be one of {list(ENGINES)}; got {name!r}. Pass --engine duckdb or --engine spark.")
    if name == "duckdb":
        if master is not None:
            raise FeatureConfigError(f"a Spark master must only be given with the Spark engine; got {master!r} with duckdb. "
                                     "Add --engine spark or drop --spark-master.")
        return DuckDBEngine()
    settings = spark or SparkSettings()
    if master is not None:
        settings = SparkSettings.model_validate({**settings.model_dump(), "master": master})
    return SparkEngine(settings)
