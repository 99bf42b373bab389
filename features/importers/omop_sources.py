"""Where OMOP CDM tables are read from: a folder of Parquet/CSV files or a database URL, both streamed a batch at a time.

Both sources yield the same thing, lists of row dicts with lower-case column names and plain Python
values, so :mod:`features.importers.omop` has one mapping path. The database source streams each
table with a server-side cursor (SQLAlchemy ``yield_per``) and hands over the driver's own values
(int, str, date, None): ``pandas.read_sql`` would turn integer columns with NULLs into floats and
NULLs into NaN, which the row mapping would then have to undo.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from sqlalchemy import Engine, create_engine, inspect, literal_column, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from features.database import create_database_engine, display_url
from features.importers.errors import ImportSourceError

__all__ = ["BATCH_ROWS", "OmopSource", "FolderSource", "DatabaseSource", "is_database_url", "open_source"]

#: Rows per batch read from a file or fetched from a database cursor.
BATCH_ROWS = 65_536
_BACKENDS = ("sqlite", "postgresql", "postgres")


class OmopSource(Protocol):
    """A set of OMOP tables, each read a batch at a time."""

    #: How the source is named in the report and in messages (a database password masked).
    name: str

    def has(self, table_name: str) -> bool:
        """Whether the source holds the table."""

    def where(self, table_name: str) -> str:
        """The file or database table named in report examples."""

    def batches(self, table_name: str) -> Iterator[list[dict[str, Any]]]:
        """The rows of the table (none when absent), a batch at a time, as dicts with lower-case keys."""

    def missing_person_message(self) -> str:
        """The error when the required ``person`` table is absent, naming the source and the fix."""

    def close(self) -> None:
        """Release what the source holds open."""


class FolderSource:
    """OMOP tables as ``NAME.parquet`` or ``NAME.csv`` (header row, ISO dates) in one folder."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ImportSourceError(
                f"SRC must be a folder of OMOP CDM tables (Parquet or CSV) or a database URL; got {folder}, which is not a folder. "
                "Check the path, or give a URL such as sqlite:///cdm.sqlite or postgresql://USER@HOST/DB?schema=cdm."
            )
        self.folder = folder
        self.name = str(folder)
        self._files = {path.name.lower(): path for path in sorted(folder.iterdir())}

    def _file(self, table_name: str) -> Path | None:
        return self._files.get(f"{table_name}.parquet") or self._files.get(f"{table_name}.csv")

    def has(self, table_name: str) -> bool:
        return self._file(table_name) is not None

    def where(self, table_name: str) -> str:
        return str(self._file(table_name) or self.folder / f"{table_name}.parquet")

    def batches(self, table_name: str) -> Iterator[list[dict[str, Any]]]:
        path = self._file(table_name)
        if path is None:
            return
        try:
            if path.suffix.lower() == ".parquet":
                batches = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
            else:
                with path.open("r", encoding="utf-8-sig") as handle:
                    header = handle.readline().strip().split(",")
                types = {column.strip().strip('"'): pa.string() for column in header}
                batches = pcsv.open_csv(path, convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=True))
            for batch in batches:
                yield [{key.lower(): value for key, value in row.items()} for row in batch.to_pylist()]
        except (pa.ArrowInvalid, OSError) as exc:
            raise ImportSourceError(f"{path} must be a readable Parquet or CSV OMOP table; got: {exc}. Re-export the table.") from None

    def missing_person_message(self) -> str:
        return f"SRC must hold the OMOP person table as person.parquet or person.csv; found neither in {self.folder}. Export the person table."

    def close(self) -> None:
        """Nothing is held open between tables."""


def is_database_url(src: Path | str) -> bool:
    """Whether ``src`` is a database URL (``scheme://…``) rather than a path."""
    return isinstance(src, str) and "://" in src


class DatabaseSource:
    """OMOP tables in a database schema, read through SQLAlchemy with server-side cursors.

    Parameters
    ----------
    url
        A ``sqlite:///PATH`` or ``postgresql[+psycopg]://USER:PASSWORD@HOST/DB`` URL; a ``schema``
        query parameter names the CDM schema (and is not passed to the driver).
    schema
        The CDM schema; overrides the URL's ``schema`` parameter; the connection's default when neither.
    batch_rows
        Rows fetched per round trip.
    """

    def __init__(self, url: str, schema: str | None = None, batch_rows: int = BATCH_ROWS) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ImportSourceError(
                "SRC must be a folder or a database URL such as sqlite:///cdm.sqlite or postgresql://USER@HOST/DB; "
                "got a value that is neither. Check the argument."
            ) from None
        if parsed.get_backend_name() not in _BACKENDS:
            raise ImportSourceError(
                f"SRC database URL must use sqlite or postgresql; got {parsed.get_backend_name()!r} in "
                f"{parsed.render_as_string(hide_password=True)!r}. Export the CDM to PostgreSQL, SQLite or Parquet files."
            )
        self.schema = schema or parsed.query.get("schema") or None  # type: ignore[assignment]
        parsed = parsed.difference_update_query(["schema"])
        self.name = display_url(parsed) + (f" (schema {self.schema})" if self.schema else "")
        self.batch_rows = batch_rows
        self.engine = self._engine(parsed)
        try:
            names = inspect(self.engine).get_table_names(schema=self.schema)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise ImportSourceError(
                f"SRC database {self.name} must be reachable and readable; got {type(exc.orig or exc).__name__}: "
                f"{str(exc.orig or exc).splitlines()[0]}. Check the host, user, password and schema."
            ) from None
        self._tables = {name.lower(): name for name in names}

    def _engine(self, parsed: Any) -> Engine:
        if parsed.get_backend_name() != "sqlite":
            return create_database_engine(parsed)
        path = Path(parsed.database or "")
        if not parsed.database or not path.is_file():
            raise ImportSourceError(f"SRC database {self.name} must be an existing SQLite file; got no file at {path}. Check the path.")
        return create_engine(parsed)  # a plain engine: the source is only read, its journal mode left as it is

    def has(self, table_name: str) -> bool:
        return table_name in self._tables

    def where(self, table_name: str) -> str:
        qualified = f"{self.schema}.{self._tables.get(table_name, table_name)}" if self.schema else self._tables.get(table_name, table_name)
        return f"{self.name} table {qualified}"

    def batches(self, table_name: str) -> Iterator[list[dict[str, Any]]]:
        actual = self._tables.get(table_name)
        if actual is None:
            return
        query = select(literal_column("*")).select_from(table(actual, schema=self.schema))
        with self.engine.connect() as connection:
            result = connection.execution_options(yield_per=self.batch_rows).execute(query)
            keys = [key.lower() for key in result.keys()]
            for partition in result.partitions():
                yield [dict(zip(keys, row, strict=True)) for row in partition]

    def missing_person_message(self) -> str:
        found = ", ".join(sorted(self._tables)) or "no tables"
        return (
            f"SRC database {self.name} must hold the OMOP person table; found {found}. "
            "Name the CDM schema with --schema or ?schema=NAME in the URL."
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()


def open_source(src: Path | str, schema: str | None = None) -> FolderSource | DatabaseSource:
    """A :class:`DatabaseSource` for a URL, else a :class:`FolderSource`; ``schema`` only applies to a database."""
    if is_database_url(src):
        return DatabaseSource(str(src), schema)
    if schema is not None:
        raise ImportSourceError(f"--schema must only be given with a database URL; got a folder {src}. Drop --schema.")
    return FolderSource(Path(src))
