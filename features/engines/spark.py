"""Build the point-in-time feature table on Apache Spark from the same declared SQL as DuckDB, with identical results.

The statements of :func:`features.sql.statements` are transpiled by SQLGlot and run as temporary
views over the helper relations they expect (``src_persons``, ``src_events``, ``src_codes``,
``codelist``, ``bounds`` and, in index mode, ``idx_in``). ``bounds`` is computed in Python by the
DuckDB path's own :func:`features.build.bounds_frame`, so window arithmetic is shared, not repeated.

The same two clocks hold as on DuckDB (leakage guard): an event counts at T only if
``event_date < T`` and ``recorded_at <= T``; a code is active at T if ``start_date < T``,
``recorded_at <= T`` and ``end_date`` is empty or ``>= T``. Labels look after T and are for
training and evaluation only.

Temporary views live in the Spark session: run one build at a time per session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.build import bounds_frame, feature_frame, index_frame
from features.codelists import load_codelists
from features.config import FeatureConfig
from features.contract import TABLES, Column, table_path
from features.dates import to_date
from features.engines.spark_sql import to_spark_sql
from features.errors import ContractError, FeatureConfigError, MissingColumnError
from features.progress import ProgressCallback, report
from features.sources import CONTRACT_DEFAULTS
from features.sql import statements

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkTables", "SPARK_TYPES", "feature_dataframe", "collect_features", "build_features"]

#: The Spark type each contract column kind is read as (CSV text is cast, never inferred).
SPARK_TYPES: dict[str, str] = {"string": "STRING", "date": "DATE", "timestamp": "TIMESTAMP_NTZ", "int": "INT", "float": "DOUBLE"}
_TASK = "Declaring the features on Spark"
_COLLECT = "Building and collecting the feature table"


@dataclass(frozen=True)
class SparkTables:
    """Contract tables already in the Spark catalog: ``{prefix}persons``, ``{prefix}events``, ``{prefix}codes``.

    Attributes
    ----------
    prefix
        Prepended to each table name, e.g. ``"phm.rr_"`` for ``phm.rr_persons``.
    """

    prefix: str

    def name(self, table: str) -> str:
        """The catalog name of contract table ``table``."""
        return f"{self.prefix}{table}"


def _raw(spark: SparkSession, source: Path | SparkTables, name: str) -> tuple[DataFrame, str]:
    """The table as stored, and how to name it in messages."""
    if isinstance(source, SparkTables):
        return spark.table(source.name(name)), source.name(name)
    path = table_path(source, name)
    if path.suffix == ".parquet":
        return spark.read.parquet(str(path)), str(path)
    reader = spark.read.option("header", True).option("inferSchema", False).option("mode", "FAILFAST")
    return reader.option("encoding", "UTF-8").csv(str(path)), str(path)


def _typed(table: str, column: Column, present: dict[str, str]) -> str:
    """The column cast to its contract type, as DuckDB casts it: whole numbers may be written ``2.0`` and round half away
    from zero; an empty column with a contract default (``recorded_at``) takes it, as in :mod:`features.sources`."""
    kind = SPARK_TYPES[column.kind]
    if column.name not in present:
        value = f"CAST(NULL AS {kind})"
    else:
        raw = f"`{present[column.name]}`"
        value = f"CAST({f'ROUND(CAST({raw} AS DOUBLE))' if column.kind == 'int' else raw} AS {kind})"
    default = CONTRACT_DEFAULTS.get((table, column.name))
    if default is not None:
        value = f"COALESCE({value}, {default})"
    return f"{value} AS {column.name}"


def _register_sources(spark: SparkSession, source: Path | SparkTables) -> None:
    """Register ``src_<table>`` with every contract column cast to its declared type (absent optional ones NULL)."""
    for name, columns in TABLES.items():
        raw, where = _raw(spark, source, name)
        present = {c.lower(): c for c in raw.columns}
        missing = [c.name for c in columns if c.required and c.name not in present]
        if missing:
            raise MissingColumnError(
                f"table {where} must have columns {missing}; they are absent. Add them (see the data contract)."
            )
        raw.createOrReplaceTempView(f"raw_{name}")
        select = ", ".join(_typed(name, c, present) for c in columns)
        spark.sql(f"CREATE OR REPLACE TEMP VIEW src_{name} AS SELECT {select} FROM raw_{name}")
    duplicates = spark.sql("SELECT COUNT(*) - COUNT(DISTINCT person_id) FROM src_persons").collect()[0][0]
    if duplicates:
        raise ContractError(
            f"persons.person_id must be unique; got {duplicates} duplicate rows. "
            "Run `risingrisk validate` and build features from its output."
        )



def _extract_date(spark: SparkSession, where: str) -> date:
    latest = spark.sql("SELECT MAX(event_date) FROM src_events").collect()[0][0]
    if latest is None:
        raise ContractError(
            f"events table {where} must hold at least one event to derive the extract date; got none. "
            "Export events, or pass the dates explicitly (as_of, data_end)."
        )
    return to_date(latest)


def _events_name(source: Path | SparkTables) -> str:
    return source.name("events") if isinstance(source, SparkTables) else str(table_path(source, "events"))


def _dates(as_of: date | str | Sequence[date | str]) -> list[date]:
    if isinstance(as_of, (str, date)):
        return [to_date(as_of)]
    dates = sorted({to_date(d) for d in as_of})
    if not dates:
        raise FeatureConfigError("as_of must hold at least one date; got none. Pass --as-of DATE.")
    return dates


def _view(spark: SparkSession, name: str, frame: pd.DataFrame, schema: str) -> None:
    spark.createDataFrame(frame, schema=schema).createOrReplaceTempView(name)


def _bounds_schema(frame: pd.DataFrame) -> str:
    return ", ".join(f"`{c}` {'BOOLEAN' if c == 'covered' else 'TIMESTAMP_NTZ'}" for c in frame.columns)


def feature_dataframe(
    spark: SparkSession,
    source: Path | str | SparkTables,
    *,
    as_of: date | str | Sequence[date | str] | None = None,
    index: pd.DataFrame | None = None,
    labels: bool = False,
    config: FeatureConfig | None = None,
    progress: ProgressCallback | None = None,
) -> DataFrame:
    """Register the helper relations and the feature views in ``spark``; return the (lazy) feature table.

    Parameters
    ----------
    spark
        The session (see :func:`features.engines.spark_session.spark_session`).
    source
        A contract data directory (Parquet or CSV; CSV text is cast to the contract's types), or
        :class:`SparkTables` naming catalog tables.
    as_of, index, labels, config
        As :func:`features.build.build_features`. Labels look after T: never use them as predictors.
    progress
        Called as each view is registered.

    Returns
    -------
    pyspark.sql.DataFrame
        The rows and columns of DuckDB's feature table before conversion to pandas (no
        ``in_cohort`` column yet; Spark types), unordered. Nothing is computed until it is used.

    Raises
    ------
    FeatureConfigError
        If both ``as_of`` and ``index`` are given, or either is empty.
    ContractError
        If a table is missing, lacks a required column, or ``person_id`` repeats in persons.
    """
    config = config or FeatureConfig()
    if as_of is not None and index is not None:
        raise FeatureConfigError("as_of and index must not both be given; got both. Pass dates or an index, not both.")
    if not isinstance(source, SparkTables):
        source = Path(source)
    steps = statements(config, labels=labels, index_mode=index is not None)
    total = len(steps) + 2
    report(progress, _TASK, 0, total)
    _register_sources(spark, source)
    codelist = load_codelists(config.codelists_dir).rename(columns={"group": "grp"})[["code", "code_system", "grp", "category"]]
    _view(spark, "codelist", codelist, "code STRING, code_system STRING, grp STRING, category STRING")
    idx = index_frame(index) if index is not None else None
    if idx is not None and idx.empty:
        raise FeatureConfigError("index must hold at least one (person_id, as_of) row; got none. Pass a non-empty index.")
    needs_extract = config.data_end is None or (idx is None and as_of is None)
    extract = _extract_date(spark, _events_name(source)) if needs_extract else None
    if idx is not None:
        dates = sorted({ts.date() for ts in idx["as_of"].drop_duplicates()})
        _view(spark, "idx_in", idx, "person_id STRING, as_of TIMESTAMP_NTZ")
    else:
        dates = _dates(as_of) if as_of is not None else [extract]
    data_end = config.data_end or extract
    bounds = bounds_frame(dates, config, data_end)
    _view(spark, "bounds", bounds, _bounds_schema(bounds))
    report(progress, _TASK, 2, total)
    for done, (name, select) in enumerate(steps, start=3):
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {to_spark_sql(select)}")
        report(progress, _TASK, done, total)
    return spark.table(steps[-1][0])


def _is_cast_error(error: Exception) -> bool:
    condition = getattr(error, "getCondition", lambda: None)()
    return bool(condition) and str(condition).startswith(("CAST_INVALID_INPUT", "CAST_OVERFLOW"))


def _to_pandas(table: pa.Table, config: FeatureConfig, labels: bool) -> pd.DataFrame:
    """The pandas frame with DuckDB's column order and dtypes, sorted by ``as_of, person_id``."""
    order = pc.sort_indices(table.select(["as_of", "person_id"]), [("as_of", "ascending"), ("person_id", "ascending")])
    return feature_frame(table.take(order), config, labels)

def build_features(
    source: Path | str | SparkTables,
    *,
    spark: SparkSession,
    as_of: date | str | Sequence[date | str] | None = None,
    index: pd.DataFrame | None = None,
    labels: bool = False,
    config: FeatureConfig | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Build the feature table on Spark and collect it: the same frame as :func:`features.build.build_features`.

    Parameters
    ----------
    source
        A contract data directory or :class:`SparkTables`.
    spark
        The session to run on.
    as_of, index, labels, config
        As :func:`features.build.build_features` (labels are for training only, never predictors).
    progress
        Called as the views are registered and when the table is collected.

    Returns
    -------
    pandas.DataFrame
        Every row, column and dtype as DuckDB's builder gives, sorted by ``as_of, person_id``.

    Raises
    ------
    ContractError
        As :func:`feature_dataframe`, and if a value does not cast to its contract type.
    """
    config = config or FeatureConfig()
    table = feature_dataframe(spark, source, as_of=as_of, index=index, labels=labels, config=config, progress=progress)
    return collect_features(table, source, labels=labels, config=config, progress=progress)


def collect_features(
    table: DataFrame,
    source: Path | str | SparkTables,
    *,
    labels: bool = False,
    config: FeatureConfig | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Compute and collect a :func:`feature_dataframe` result as the pandas frame DuckDB's builder gives.

    Parameters
    ----------
    table
        The lazy feature table (possibly persisted by the caller).
    source
        Where it was read from, named in errors.
    labels, config
        As given to :func:`feature_dataframe`.
    progress
        Called when collection starts and ends.

    Raises
    ------
    ContractError
        If a value does not cast to its contract type.
    """
    config = config or FeatureConfig()
    report(progress, _COLLECT, 0, 1)
    try:
        arrow = table.toArrow()
    except Exception as error:
        if _is_cast_error(error):
            raise ContractError(
                f"tables in {source} must hold values of the data contract's types; got {error.getCondition()}. "
                f"Run `risingrisk validate` and build features from its output."
            ) from error
        raise
    frame = _to_pandas(arrow, config, labels)
    report(progress, _COLLECT, 1, 1)
    return frame
