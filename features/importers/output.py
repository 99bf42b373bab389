"""The output folder of an import: checked before anything is written, finished with the report beside the tables."""

from __future__ import annotations

from pathlib import Path

from features.contract import TABLE_NAMES
from features.importers.errors import ImportSourceError
from features.importers.report import REPORT_FILE

__all__ = ["prepare_out"]


def prepare_out(src: Path | None, out: Path) -> Path:
    """Create ``out``; refuse a folder that already holds contract tables or a report, or that is the source (``None``: a database)."""
    out = Path(out)
    if src is not None and out.resolve() == Path(src).resolve():
        raise ImportSourceError(f"--out must differ from the source; got {out} for both. Choose a new folder for the contract tables.")
    existing = [name for name in (*(f"{table}.parquet" for table in TABLE_NAMES), REPORT_FILE) if (out / name).exists()]
    if existing:
        raise ImportSourceError(
            f"--out must be a new or empty folder; got {out}, which already holds {', '.join(existing)}. "
            "Choose another folder or remove those files."
        )
    out.mkdir(parents=True, exist_ok=True)
    return out
