"""Write the contract tables in chunks with fixed Arrow schemas, so an import of any size runs in bounded memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["SCHEMAS", "CHUNK_ROWS", "TableWriter", "open_writers"]

_TIME = pa.timestamp("us")
#: Arrow schema of each table the importers write (contract columns in contract order).
SCHEMAS: dict[str, pa.Schema] = {
    "persons": pa.schema(
        [
            ("person_id", pa.string()),
            ("nhs_number", pa.string()),
            ("birth_date", pa.date32()),
            ("sex", pa.string()),
            ("ethnic_group", pa.string()),
            ("lsoa", pa.string()),
            ("imd_decile", pa.int64()),
            ("practice", pa.string()),
            ("neighbourhood", pa.string()),
            ("registered_from", pa.date32()),
            ("registered_to", pa.date32()),
            ("death_date", pa.date32()),
        ]
    ),
    "events": pa.schema(
        [
            ("person_id", pa.string()),
            ("event_date", _TIME),
            ("setting", pa.string()),
            ("recorded_at", _TIME),
            ("cost_gbp", pa.float64()),
        ]
    ),
    "codes": pa.schema(
        [
            ("person_id", pa.string()),
            ("code", pa.string()),
            ("code_system", pa.string()),
            ("start_date", pa.date32()),
            ("end_date", pa.date32()),
            ("recorded_at", _TIME),
        ]
    ),
}
#: Rows buffered per table before a row group is written.
CHUNK_ROWS = 100_000


class TableWriter:
    """Buffer rows (tuples in schema order) and write them to one Parquet file a row group at a time."""

    def __init__(self, path: Path, schema: pa.Schema, chunk_rows: int = CHUNK_ROWS) -> None:
        self.path = path
        self.schema = schema
        self.chunk_rows = chunk_rows
        self.rows_written = 0
        self._buffer: list[tuple[Any, ...]] = []
        self._writer = pq.ParquetWriter(path, schema)

    def add(self, row: tuple[Any, ...]) -> None:
        """Buffer one row; write the buffer when it is full."""
        self._buffer.append(row)
        if len(self._buffer) >= self.chunk_rows:
            self.flush()

    def write_table(self, table: pa.Table) -> None:
        """Write an Arrow table of this schema directly (after the buffered rows)."""
        self.flush()
        self._writer.write_table(table)
        self.rows_written += table.num_rows

    def flush(self) -> None:
        """Write the buffered rows as one row group."""
        if not self._buffer:
            return
        columns = list(zip(*self._buffer, strict=True))
        arrays = [pa.array(values, type=field.type) for values, field in zip(columns, self.schema, strict=True)]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.rows_written += len(self._buffer)
        self._buffer.clear()

    def close(self) -> None:
        """Write what is buffered and close the file."""
        self.flush()
        self._writer.close()


def open_writers(out: Path, schemas: dict[str, pa.Schema], chunk_rows: int = CHUNK_ROWS) -> dict[str, TableWriter]:
    """One :class:`TableWriter` per ``NAME.parquet`` in ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    return {name: TableWriter(out / f"{name}.parquet", schema, chunk_rows) for name, schema in schemas.items()}
