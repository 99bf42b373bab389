"""DuckDB aggregations over the contract tables: monthly volumes, recording-lag histograms and windows, unmapped codes.

Every query reads the Parquet/CSV files with SQL and returns small frames; no table is loaded into
pandas whole. All counts use the two clocks as of the monitoring date A: ``event_date < A`` (or
``start_date < A``) and ``recorded_at <= A``, ``recorded_at`` defaulting to the event's own date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from features.codelists import load_codelists
from features.contract import table_path
from serving.monitoring.config import MonitorConfig
from serving.monitoring.errors import MonitorInputError

__all__ = ["Aggregates", "aggregate", "CODES_SUBJECT"]

#: Subject of the codes table as one feed.
CODES_SUBJECT = "codes"


@dataclass(frozen=True)
class Aggregates:
    """Everything the feed, code and lag checks need, as small frames.

    Attributes
    ----------
    as_of
        The monitoring date A (first day not covered).
    data_start
        First month of the events table (its first, possibly partial, month is never judged).
    volumes
        ``table, subject, month, rows``: events per setting, codes per category and in all, by month
        of ``event_date`` / ``start_date``.
    lag_histogram
        ``table, subject, days, rows``: whole days from event to recording, capped at horizon + 1, for
        events in the lag-learning period.
    lag_windows
        ``table, subject, window, rows, q<p>...``: lag quantiles (days) of rows recorded in window
        ``window`` (0 = the last ``lag_window_days`` before A, 1 = the one before, ...).
    unmapped
        ``code_system, code, first_recorded, rows, rows_recent``: codes in no code list.
    """

    as_of: date
    data_start: date
    volumes: pd.DataFrame
    lag_histogram: pd.DataFrame
    lag_windows: pd.DataFrame
    unmapped: pd.DataFrame


def _source(path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet('{path.as_posix()}')"
    return f"read_csv('{path.as_posix()}', header = true, all_varchar = true)"


def _view(con: duckdb.DuckDBPyConnection, data_dir: Path, name: str, when: str, extra: str) -> None:
    path = table_path(data_dir, name)
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {_source(path)}").fetchall()}
    need = {"person_id", when, *(c for c in extra.split(",") if c)}
    missing = sorted(need - present)
    if missing:
        raise MonitorInputError(
            f"table {path} must have columns {sorted(need)}; missing {missing}. Add them (see the data contract)."
        )
    happened = f"CAST({when} AS TIMESTAMP)"
    recorded = f"coalesce(CAST(recorded_at AS TIMESTAMP), {happened})" if "recorded_at" in present else happened
    system = "coalesce(lower(trim(CAST(code_system AS VARCHAR))), 'snomed')" if "code_system" in present else "'snomed'"
    columns = {
        "events": "CAST(setting AS VARCHAR) AS subject",
        "codes": f"trim(CAST(code AS VARCHAR)) AS code, {system} AS code_system",
    }[name]
    con.execute(
        f"CREATE TEMP VIEW m_{name} AS SELECT {happened} AS happened, {recorded} AS recorded, {columns} FROM {_source(path)}"
    )


def aggregate(data_dir: Path | str, as_of: date, config: MonitorConfig, *, codelists_dir: Path | None = None) -> Aggregates:
    """Run the monitoring aggregations on ``data_dir`` as of ``as_of`` (the first day the data do not cover).

    Parameters
    ----------
    data_dir
        A contract data directory.
    as_of
        Monitoring date A; rows happening on or after A or recorded after A are invisible.
    config
        Lag horizon and windows, new-code window, DuckDB threads.
    codelists_dir
        Code-list folder (``None`` = the lists shipped with the package).

    Raises
    ------
    MonitorInputError
        If a table lacks a needed column, holds values of the wrong type, or has no events before A.
    """
    try:
        return _aggregate(Path(data_dir), as_of, config, codelists_dir)
    except duckdb.ConversionException as error:
        raise MonitorInputError(
            f"tables in {data_dir} must hold values of the data contract's types; got {str(error).splitlines()[0]}. "
            f"Run `risingrisk validate --data {data_dir}` and monitor its output."
        ) from None


def _aggregate(data_dir: Path, as_of: date, config: MonitorConfig, codelists_dir: Path | None) -> Aggregates:
    horizon = config.lag_horizon_days
    a = pd.Timestamp(as_of).to_pydatetime()
    with duckdb.connect(config={"threads": str(config.threads)}) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        _view(con, data_dir, "events", "event_date", "setting")
        _view(con, data_dir, "codes", "start_date", "code")
        lists = load_codelists(codelists_dir)[["code", "code_system", "category"]]
        con.register("codelist", lists)
        con.execute(
            """
            CREATE TEMP VIEW m_codes_cat AS
            SELECT c.happened, c.recorded, c.code, c.code_system, l.category
            FROM m_codes c LEFT JOIN (SELECT DISTINCT code, code_system, category FROM codelist) l
              ON c.code = l.code AND c.code_system = l.code_system
            """
        )
        # one scan of each file: the visible rows (two clocks) are kept in memory for every aggregation below
        con.execute("CREATE TEMP TABLE v_events AS SELECT subject, happened, recorded FROM m_events WHERE happened < $a AND recorded <= $a", {"a": a})
        con.execute("CREATE TEMP TABLE v_codes AS SELECT * FROM m_codes_cat WHERE happened < $a AND recorded <= $a", {"a": a})
        first = con.execute("SELECT min(happened) FROM v_events").fetchone()[0]
        if first is None:
            raise MonitorInputError(
                f"events in {data_dir} must hold rows before the monitoring date {as_of}; got none. "
                "Check the extract or pass a later as_of."
            )
        data_start = pd.Timestamp(first).to_period("M").to_timestamp().date()
        volumes = con.execute(
            f"""
            SELECT 'events' AS "table", subject, CAST(date_trunc('month', happened) AS DATE) AS month, count(*) AS rows
            FROM v_events WHERE happened >= $start GROUP BY ALL
            UNION ALL
            SELECT 'codes', coalesce(category, '(no list)'), CAST(date_trunc('month', happened) AS DATE), count(*)
            FROM v_codes WHERE happened >= $start GROUP BY ALL
            UNION ALL
            SELECT 'codes', '{CODES_SUBJECT}', CAST(date_trunc('month', happened) AS DATE), count(*)
            FROM v_codes WHERE happened >= $start GROUP BY ALL
            """,
            {"start": pd.Timestamp(data_start).to_pydatetime()},
        ).df()
        lag_from = a - timedelta(days=horizon + config.lag_history_days)
        lag_to = a - timedelta(days=horizon)
        lag_days = f"least(floor(epoch(recorded - happened) / 86400), {horizon + 1})::INTEGER"
        lag_histogram = con.execute(
            f"""
            SELECT 'events' AS "table", subject, {lag_days} AS days, count(*) AS rows
            FROM v_events WHERE happened >= $lo AND happened < $hi GROUP BY ALL
            UNION ALL
            SELECT 'codes', '{CODES_SUBJECT}', {lag_days}, count(*)
            FROM v_codes WHERE happened >= $lo AND happened < $hi GROUP BY ALL
            """,
            {"lo": lag_from, "hi": lag_to},
        ).df()
        width = config.lag_window_days
        qs = ", ".join(str(q) for q in config.lag_quantiles)
        q_cols = ", ".join(f"q[{i + 1}] AS q{int(round(q * 100))}" for i, q in enumerate(config.lag_quantiles))
        window = f"floor(epoch($a - recorded) / 86400 / {width})::INTEGER"
        lag_windows = con.execute(
            f"""
            WITH w AS (
              SELECT 'events' AS "table", subject, {window} AS "window", count(*) AS rows,
                     quantile_cont(epoch(recorded - happened) / 86400, [{qs}]) AS q
              FROM v_events WHERE recorded > $since GROUP BY ALL
              UNION ALL
              SELECT 'codes', '{CODES_SUBJECT}', {window}, count(*), quantile_cont(epoch(recorded - happened) / 86400, [{qs}])
              FROM v_codes WHERE recorded > $since GROUP BY ALL
            )
            SELECT "table", subject, "window", rows, {q_cols} FROM w
            """,
            {"a": a, "since": a - timedelta(days=width * (config.lag_history_windows + 1))},
        ).df()
        unmapped = con.execute(
            f"""
            SELECT code_system, code, CAST(min(recorded) AS TIMESTAMP) AS first_recorded, count(*) AS rows,
                   count(*) FILTER (WHERE recorded > $recent) AS rows_recent
            FROM v_codes WHERE category IS NULL GROUP BY ALL
            """,
            {"recent": a - timedelta(days=config.new_code_days)},
        ).df()
    volumes["month"] = pd.to_datetime(volumes["month"]).dt.date
    return Aggregates(as_of, data_start, volumes, lag_histogram, lag_windows, unmapped)
