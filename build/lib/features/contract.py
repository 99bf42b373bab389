"""The data contract v1: tables, columns, types and allowed values, and where to find each table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from features.errors import MissingTableError

__all__ = [
    "SETTINGS",
    "SEXES",
    "ETHNIC_GROUPS",
    "AGE_BANDS",
    "Column",
    "TABLES",
    "TABLE_NAMES",
    "table_path",
]

#: Every care setting an ``events`` row may carry.
SETTINGS: tuple[str, ...] = (
    "ed",
    "emergency_admission",
    "elective_admission",
    "outpatient",
    "gp",
    "nhs111",
    "ambulance",
    "mental_health",
    "social_care",
    "community",
)
SEXES: tuple[str, ...] = ("F", "M", "U")
ETHNIC_GROUPS: tuple[str, ...] = ("White", "Mixed", "Asian", "Black", "Other", "Unknown")
#: DOMAIN.md age bands: (label, lowest age in the band); the feature table's ``age_band``.
AGE_BANDS: tuple[tuple[str, int], ...] = (
    ("0-4", 0), ("5-11", 5), ("12-17", 12), ("18-29", 18), ("30-44", 30), ("45-64", 45), ("65+", 65),
)

Kind = Literal["string", "date", "timestamp", "int", "float"]


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    kind: Kind
    required: bool
    nullable: bool
    description: str
    allowed: tuple[str, ...] | None = None


TABLES: dict[str, tuple[Column, ...]] = {
    "persons": (
        Column("person_id", "string", True, False, "pseudonymised person key, unique"),
        Column("nhs_number", "string", False, True, "10 digits passing the Modulus 11 check"),
        Column("birth_date", "date", True, False, "date of birth"),
        Column("sex", "string", True, False, "F, M or U", SEXES),
        Column("ethnic_group", "string", False, True, "ethnic group", ETHNIC_GROUPS),
        Column("lsoa", "string", False, True, "lower layer super output area code"),
        Column("imd_decile", "int", False, True, "IMD decile, 1 = most deprived, 10 = least"),
        Column("practice", "string", True, True, "GP practice code"),
        Column("neighbourhood", "string", True, True, "integrated neighbourhood id"),
        Column("registered_from", "date", True, False, "start of GP registration"),
        Column("registered_to", "date", True, True, "end of GP registration; empty while registered"),
        Column("death_date", "date", True, True, "date of death; empty while alive"),
    ),
    "events": (
        Column("person_id", "string", True, False, "must exist in persons"),
        Column("event_date", "timestamp", True, False, "when the contact happened"),
        Column("setting", "string", True, False, "care setting", SETTINGS),
        Column("recorded_at", "timestamp", False, True, "when it reached the data store; defaults to event_date"),
        Column("cost_gbp", "float", False, True, "cost of the contact in pounds"),
    ),
    "codes": (
        Column("person_id", "string", True, False, "must exist in persons"),
        Column("code", "string", True, False, "SNOMED CT concept id or another system's code"),
        Column("code_system", "string", False, True, "code system; defaults to snomed"),
        Column("start_date", "date", True, False, "when the finding started"),
        Column("end_date", "date", False, True, "when it ended; empty while active"),
        Column("recorded_at", "timestamp", False, True, "when it was recorded; defaults to start_date"),
    ),
}
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)


def table_path(data_dir: Path, name: str) -> Path:
    """Return the file holding table ``name`` in ``data_dir`` (Parquet preferred over CSV).

    Raises
    ------
    MissingTableError
        If neither ``NAME.parquet`` nor ``NAME.csv`` exists.
    """
    for suffix in (".parquet", ".csv"):
        path = Path(data_dir) / f"{name}{suffix}"
        if path.exists():
            return path
    raise MissingTableError(
        f"table {name!r} must be present in {data_dir} as {name}.parquet or {name}.csv; "
        f"found neither. Export the {name} table in the data contract's format (see README)."
    )
