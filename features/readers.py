"""Read a contract table from Parquet or CSV into Arrow, keeping CSV values as the text that was written."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from features.errors import UnreadableTableError

__all__ = ["read_table"]


def read_table(path: Path) -> pa.Table:
    """Read ``path`` (``.parquet`` or ``.csv``) into an Arrow table.

    CSV columns are read as strings, so that a value that fails to parse can be reported as written;
    an empty field is null. Parquet columns keep their stored types.

    Raises
    ------
    UnreadableTableError
        If the file cannot be read as its suffix says (corrupt Parquet, CSV without a header row,
        text that is not UTF-8, ragged rows).
    """
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
        if not header:
            raise UnreadableTableError(
                f"{path} must start with a header row naming the columns; got an empty file. "
                "Export the table again with a header row (see the data contract in README)."
            )
        options = pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        return pa_csv.read_csv(path, convert_options=options)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as error:
        raise UnreadableTableError(
            f"{path} must be a readable {path.suffix.lstrip('.')} file; reading it failed with: {error}. "
            "Export the table again (Parquet, or UTF-8 CSV with a header row and ISO dates)."
        ) from error
