"""The one contract reader: every stage reads persons, events and codes here, in the contract's types, under the two clocks.

A table file is Parquet or CSV. CSV is read as text and every contract column is cast to the type
the contract declares (never DuckDB's type guessing), so a CSV and its Parquet export give the
same values. Optional columns the file lacks are present as typed NULLs. File paths reach SQL
only as escaped string literals (:func:`sql_string`).

Two clocks (leakage guard), written once here for every SQL reader: an event is known at T when
``event_date < T`` and ``recorded_at <= T`` (:func:`event_known`); a code is active at T when
``start_date < T``, ``recorded_at <= T`` and ``end_date`` is empty or ``>= T`` (:func:`code_active`).
``recorded_at`` defaults to ``event_date`` / ``start_date`` in the typed views.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from features.contract import TABLES, Column, table_path
from features.errors import ContractError, MissingColumnError

__all__ = [
    "CONTRACT_DEFAULTS",
    "SQL_TYPES",
    "sql_string",
    "file_sql",
    "typed_sql",
    "register_tables",
    "read_table",
    "event_date_range",
    "event_known",
    "code_active",
]

#: DuckDB type of each contract column kind.
SQL_TYPES: dict[str, str] = {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP", "int": "INTEGER", "float": "DOUBLE"}

#: Columns whose empty value defaults to another column (the contract's defaults), as SQL every engine runs.
CONTRACT_DEFAULTS: dict[tuple[str, str], str] = {
    ("events", "recorded_at"): "CAST(event_date AS TIMESTAMP)",
    ("codes", "recorded_at"): "CAST(CAST(start_date AS DATE) AS TIMESTAMP)",
}


def sql_string(text: str) -> str:
    """``text`` as a DuckDB string literal, single quotes doubled (safe for any file path)."""
    return "'" + text.replace("'", "''") + "'"


def file_sql(path: Path) -> str:
    """``SELECT *`` over one table file: Parquet as stored, CSV with every column as text."""
    literal = sql_string(Path(path).as_posix())
    if Path(path).suffix == ".parquet":
        return f"SELECT * FROM read_parquet({literal})"
    return f"SELECT * FROM read_csv({literal}, header = true, all_varchar = true)"


def _present(con: duckdb.DuckDBPyConnection, path: Path) -> set[str]:
    return {row[0] for row in con.execute(f"DESCRIBE {file_sql(path)}").fetchall()}


def _column_sql(table: str, column: Column, present: set[str]) -> str:
    kind = SQL_TYPES[column.kind]
    value = f'CAST("{column.name}" AS {kind})' if column.name in present else f"CAST(NULL AS {kind})"
    default = CONTRACT_DEFAULTS.get((table, column.name))
    if default is not None:
        value = f"COALESCE({value}, {default})"
    return f'{value} AS "{column.name}"'


def typed_sql(con: duckdb.DuckDBPyConnection, data_dir: Path, name: str) -> str:
    """``SELECT`` of table ``name`` with every contract column in its declared type (absent optional ones NULL).

    Raises
    ------
    MissingTableError
        If the table file is absent.
    MissingColumnError
        If a required column is absent.
    """
    path = table_path(Path(data_dir), name)
    present = _present(con, path)
    missing = [c.name for c in TABLES[name] if c.required and c.name not in present]
    if missing:
        raise MissingColumnError(
            f"table {path} must have columns {missing}; they are absent. Add them (see the data contract)."
        )
    columns = ", ".join(_column_sql(name, c, present) for c in TABLES[name])
    return f"SELECT {columns} FROM ({file_sql(path)})"


def register_tables(con: duckdb.DuckDBPyConnection, data_dir: Path, names: tuple[str, ...] = tuple(TABLES)) -> None:
    """Create a view ``src_<name>`` per contract table on ``con``, typed by the contract.

    Raises
    ------
    MissingTableError, MissingColumnError
        If a table or a required column is absent.
    ContractError
        If ``person_id`` repeats in persons.
    """
    for name in names:
        con.execute(f"CREATE VIEW src_{name} AS {typed_sql(con, data_dir, name)}")
    if "persons" in names:
        duplicates = con.execute("SELECT COUNT(*) - COUNT(DISTINCT person_id) FROM src_persons").fetchall()[0][0]
        if duplicates:
            raise ContractError(
                f"persons.person_id must be unique; got {duplicates} duplicate rows. "
                "Run `risingrisk validate` and build features from its output."
            )


def read_table(data_dir: Path, name: str) -> pd.DataFrame:
    """Read one contract table into pandas in the contract's types (dates as ``datetime64``, defaults filled).

    Raises
    ------
    ContractError
        If the table, a required column, or a value of a declared type is wrong.
    """
    with duckdb.connect() as con:
        sql = typed_sql(con, data_dir, name)
        try:
            frame = con.sql(sql).df()
        except duckdb.ConversionException as error:
            raise ContractError(
                f"table {name} in {data_dir} must hold values of the data contract's types; got {error}. "
                f"Run `risingrisk validate --data {data_dir}` and read its output."
            ) from error
    for column in TABLES[name]:
        if column.kind in ("date", "timestamp"):
            frame[column.name] = pd.to_datetime(frame[column.name]).astype("datetime64[ns]")
    return frame


def event_date_range(data_dir: Path) -> tuple[datetime | None, datetime | None]:
    """Earliest and latest ``event_date`` in the events table (``None`` when it has no rows)."""
    with duckdb.connect() as con:
        first, last = con.execute(
            f"SELECT MIN(event_date), MAX(event_date) FROM ({typed_sql(con, data_dir, 'events')})"
        ).fetchall()[0]
    return first, last


def event_known(event: str, as_of: str) -> str:
    """SQL condition: the event aliased ``event`` is known at ``as_of`` (``event_date < T AND recorded_at <= T``)."""
    return f"{event}.event_date < {as_of} AND {event}.recorded_at <= {as_of}"


def code_active(code: str, as_of: str) -> str:
    """SQL condition: the code aliased ``code`` is active and recorded at ``as_of``."""
    return (
        f"{code}.start_date < {as_of} AND {code}.recorded_at <= {as_of} "
        f"AND ({code}.end_date IS NULL OR {code}.end_date >= {as_of})"
    )
