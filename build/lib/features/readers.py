"""Read a contract table from Parquet or CSV into Arrow, keeping CSV values as the text that was written."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from features.errors import UnreadableTableError

__all__ = ["read_table"]

_EXPORT_AGAIN = "Export the table again (Parquet, or UTF-8 CSV with a header row and ISO dates)."


def read_table(path: Path) -> pa.Table:
    """Read ``path`` (``.parquet`` or ``.csv``) into an Arrow table.

    CSV columns are read as strings, so that a value that fails to parse can be reported as written;
    an empty field is null. Parquet columns keep their stored types. Error messages name the file and
    line but never quote row contents, which hold identifiers.

    Raises
    ------
    UnreadableTableError
        If the file cannot be read as its suffix says (corrupt Parquet, CSV without a header row,
        text that is not UTF-8, rows with more or fewer fields than the header).
    """
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as error:
            raise UnreadableTableError(f"{path} must be a readable Parquet file; reading it failed with: {error}. {_EXPORT_AGAIN}") from error
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
        if not header:
            raise UnreadableTableError(
                f"{path} must start with a header row naming the columns; got an empty file. "
                "Export the table again with a header row (see the data contract in README)."
            )
        ragged: list[tuple[int, int]] = []
        table = _read_csv(path, header, ragged, use_threads=True)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as error:
        kind = str(error).split(":")[0]  # Arrow appends the offending row, which may hold identifiers
        raise UnreadableTableError(f"{path} must be a readable UTF-8 CSV file; reading it failed ({kind}). {_EXPORT_AGAIN}") from error
    if ragged:
        in_order: list[tuple[int, int]] = []
        lines: list[int | None] = []
        _read_csv(path, header, in_order, use_threads=False, lines=lines)
        expected, actual = in_order[0]
        raise UnreadableTableError(
            f"{path} line {lines[0]} must have {expected} fields like the header; got {actual} "
            f"({len(in_order)} such lines). Quote values that contain commas, or export the table again."
        )
    return table


def _read_csv(
    path: Path, header: list[str], ragged: list[tuple[int, int]], *, use_threads: bool, lines: list[int | None] | None = None
) -> pa.Table:
    """Read the CSV as strings, skipping ragged lines but recording them.

    Parameters
    ----------
    path
        The CSV file.
    header
        Its column names; every column is read as a string.
    ragged
        Receives (expected, actual) field counts of each line whose field count differs from the header.
    use_threads
        Read in parallel (fast); Arrow only knows line numbers when this is False.
    lines
        When given, receives the line number of each ragged line.
    """

    def on_ragged(row: pa_csv.InvalidRow) -> str:
        ragged.append((row.expected_columns, row.actual_columns))
        if lines is not None:
            lines.append(row.number)
        return "skip"

    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(use_threads=use_threads),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=on_ragged),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
