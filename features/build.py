"""Build the point-in-time feature table (predictors, cohort flags, outcome labels) on embedded DuckDB.

Rows are one per ``(person_id, as_of)``: with ``as_of`` dates, everyone registered and alive at each
date (excluded people kept, with ``excluded_reason``); with an ``index``, exactly the caller's rows.

Two clocks (leakage guard): an event counts at T only if ``event_date < T`` and
``recorded_at <= T``; a code is active at T if ``start_date < T``, ``recorded_at <= T`` and
``end_date`` is empty or ``>= T``. The persons table is a current snapshot: only registration and
death dates relative to T are used from it, never anything recorded later about the person.

Outcome labels (``labels=True``) look at ``[T + 6 months, T + 18 months)`` by default and count
events by ``event_date`` however late they were recorded (the outcome is what happened).
Follow-up rule, applied to every label:

1. The label is ``<NA>`` unless the data cover the whole window: its last day is on or before the
   data end (``config.data_end``, default the extract date = latest event date).
2. A person who meets the outcome in the window is positive (1), even if they died or left the
   practice inside the window: the events happened.
3. A person who has not met the outcome and died (``death_date`` before the window end) or
   deregistered (``registered_to`` before the window end) has no label (``<NA>``): follow-up was
   incomplete, so "negative" would be a guess.
4. Everyone else is negative (0).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.codelists import load_codelists
from features.config import OUTCOMES, FeatureConfig
from features.dates import add_months, extract_date, to_date, window_covered
from features.definitions import predictor_specs
from features.errors import ContractError, FeatureConfigError
from features.progress import ProgressCallback, report
from features.sources import register_tables
from features.sql import plan, statements

__all__ = ["build_features", "KEYS", "label_names", "bounds_frame", "index_frame", "feature_frame"]

KEYS: tuple[str, ...] = ("person_id", "as_of")


def label_names() -> list[str]:
    """Names of the label columns, ``label_<outcome>`` for every outcome."""
    return [f"label_{outcome}" for outcome in OUTCOMES]


def bounds_frame(dates: Sequence[date], config: FeatureConfig, data_end: date) -> pd.DataFrame:
    """One row per index date with every window edge precomputed (calendar months, clipped at month end).

    Parameters
    ----------
    dates
        Distinct index dates T.
    config
        Supplies the lookback offsets and the outcome window.
    data_end
        Last day the data cover; ``covered`` is true when the outcome window ends on or before it.
    """
    offsets = plan(config).offsets
    start, end = config.outcome_window
    rows = []
    for day in sorted(set(dates)):
        row: dict[str, object] = {"as_of": pd.Timestamp(day)}
        for k in offsets:
            row[f"lb_{k}"] = pd.Timestamp(add_months(day, -k))
        row["ob_start"] = pd.Timestamp(add_months(day, start))
        row["ob_end"] = pd.Timestamp(add_months(day, end))
        row["covered"] = window_covered(add_months(day, end), data_end)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if column != "covered":
            frame[column] = frame[column].astype("datetime64[us]")
    return frame


def index_frame(index: pd.DataFrame) -> pd.DataFrame:
    """The caller's ``person_id, as_of`` index, typed and checked (no repeats); every engine reads it so."""
    missing = [c for c in KEYS if c not in index.columns]
    if missing:
        raise ContractError(f"index must have columns {list(KEYS)}; missing {missing}. Pass person_id and as_of.")
    frame = pd.DataFrame(
        {
            "person_id": index["person_id"].astype(str),
            "as_of": pd.to_datetime(index["as_of"]).dt.normalize().astype("datetime64[us]"),
        }
    )
    if frame.duplicated().any():
        raise ContractError(
            f"index must hold each (person_id, as_of) once; got {int(frame.duplicated().sum())} repeats. Drop duplicates."
        )
    return frame


def feature_frame(table: pa.Table, config: FeatureConfig, labels: bool) -> pd.DataFrame:
    """The feature table as pandas in the contract's column dtypes, with ``in_cohort``; every engine returns it so."""
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    frame["as_of"] = frame["as_of"].astype("datetime64[us]")
    for column in ("person_id", "neighbourhood", "practice", "sex", "ethnic_group", "age_band", "excluded_reason"):
        frame[column] = frame[column].astype("str")
    frame["imd_quintile"] = frame["imd_quintile"].astype("Int8")
    frame.insert(frame.columns.get_loc("excluded_reason") + 1, "in_cohort", frame["excluded_reason"].isna())
    for name, spec in predictor_specs(config).items():
        frame[name] = frame[name].astype(spec.dtype)
    if labels:
        for name in label_names():
            frame[name] = frame[name].astype("Int8")
    return frame


def build_features(
    data_dir: Path | str,
    *,
    as_of: date | str | Sequence[date | str] | None = None,
    index: pd.DataFrame | None = None,
    labels: bool = False,
    config: FeatureConfig | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Build one row per ``(person_id, as_of)`` with carried columns, cohort flags, predictors and labels.

    Parameters
    ----------
    data_dir
        A contract data directory (``persons``, ``events``, ``codes`` as Parquet or CSV).
    as_of
        Index date(s) T; rows are everyone registered and alive at T. Default (with no
        ``index``): the extract date.
    index
        Alternatively, a frame of ``person_id, as_of`` rows to build exactly; people not registered
        or not alive at their date are kept with ``excluded_reason`` ``not_registered``/``deceased``.
    labels
        Add ``label_high_intensity_use`` and ``label_emergency_admission`` (``Int8``, ``<NA>``
        where follow-up is incomplete; see the module docstring). Labels look after T, so they are
        for training and evaluation only and are never predictors.
    config
        Windows, thresholds, exclusions; ``FeatureConfig()`` when ``None``.
    progress
        Called with ``("Building features", scans done, scans + 1)`` as each scan of the events finishes.

    Returns
    -------
    pandas.DataFrame
        Columns: ``person_id, as_of``, the carried columns, ``excluded_reason, in_cohort``, the
        predictors in ``predictor_names(config)`` order, then the labels. Sorted by
        ``as_of, person_id``.

    Raises
    ------
    FeatureConfigError
        If both ``as_of`` and ``index`` are given, or ``as_of`` is an empty list.
    ContractError
        If a table is missing, lacks a required column, or ``person_id`` repeats in persons.
    """
    config = config or FeatureConfig()
    data_dir = Path(data_dir)
    if as_of is not None and index is not None:
        raise FeatureConfigError("as_of and index must not both be given; got both. Pass dates or an index, not both.")
    report(progress, "Reading tables", 0, 0)
    con = duckdb.connect(config=_duckdb_settings(config))
    con.execute("SET enable_progress_bar = false")  # DuckDB's own bar writes to stdout
    try:
        register_tables(con, data_dir)
        codelist = load_codelists(config.codelists_dir).rename(columns={"group": "grp"})
        con.register("codelist", codelist[["code", "code_system", "grp", "category"]])
        idx = index_frame(index) if index is not None else None
        dates = _dates(data_dir, as_of, idx)
        data_end = config.data_end or extract_date(data_dir)
        con.register("bounds", bounds_frame(dates, config, data_end))
        if idx is not None:
            con.register("idx_in", idx)
        for name, select in statements(config, labels=labels, index_mode=idx is not None):
            con.execute(f"CREATE TEMP VIEW {name} AS {select}")
        if idx is not None:
            sizes = idx["as_of"].dt.date.value_counts().to_dict()
        else:
            sizes = {to_date(d): n for d, n in con.sql("SELECT as_of, COUNT(*) FROM idx GROUP BY as_of").fetchall()}
        chunks = _chunks(dates, sizes, config.rows_per_scan)
        report(progress, f"Building {len(dates)} date(s)", 0, len(chunks) + 1)
        tables = []
        for done, chunk in enumerate(chunks, start=1):
            con.register("bounds", bounds_frame(chunk, config, data_end))
            if idx is not None:
                con.register("idx_in", idx[idx["as_of"].dt.date.isin(chunk)])
            table = _run(con, data_dir)
            order = pc.sort_indices(table.select(["as_of", "person_id"]), [("as_of", "ascending"), ("person_id", "ascending")])
            tables.append(table.take(order))
            del table
            report(progress, f"Built {chunk[-1]:%Y-%m-%d}", done, len(chunks) + 1)
    finally:
        con.close()
    combined = pa.concat_tables(tables)
    tables.clear()  # let the self-destructing conversion free each column as it goes
    frame = feature_frame(combined, config, labels)
    report(progress, "Built features", len(chunks) + 1, len(chunks) + 1)
    return frame


def _run(con: duckdb.DuckDBPyConnection, data_dir: Path) -> pa.Table:
    try:
        return con.sql("SELECT * FROM feature_table").to_arrow_table()
    except duckdb.ConversionException as error:
        raise ContractError(
            f"tables in {data_dir} must hold values of the data contract's types; got {error}. "
            f"Run `risingrisk validate --data {data_dir}` and build features from its output."
        ) from error


def _dates(data_dir: Path, as_of: date | str | Sequence[date | str] | None, idx: pd.DataFrame | None) -> list[date]:
    if idx is not None:
        if idx.empty:
            raise FeatureConfigError("index must hold at least one (person_id, as_of) row; got none. Pass a non-empty index.")
        return sorted({ts.date() for ts in idx["as_of"].drop_duplicates()})
    if as_of is None:
        return [extract_date(data_dir)]
    if isinstance(as_of, (str, date)):
        return [to_date(as_of)]
    dates = sorted({to_date(d) for d in as_of})
    if not dates:
        raise FeatureConfigError("as_of must hold at least one date; got none. Pass --as-of DATE.")
    return dates


def _chunks(dates: list[date], sizes: dict[date, int], limit: int) -> list[list[date]]:
    """Group consecutive dates so each scan builds at most ``limit`` rows (a single date may exceed it)."""
    chunks: list[list[date]] = []
    current: list[date] = []
    rows = 0
    for day in dates:
        n = sizes.get(day, 0)
        if current and rows + n > limit:
            chunks.append(current)
            current, rows = [], 0
        current.append(day)
        rows += n
    chunks.append(current)
    return chunks


def _duckdb_settings(config: FeatureConfig) -> dict[str, str]:
    settings = {"threads": str(config.threads), "preserve_insertion_order": "false"}
    if config.memory_limit:
        settings["memory_limit"] = config.memory_limit
    return settings
