"""Validate a data directory against the data contract: quarantine bad rows, write the rest, report both."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.codelists import load_codelists
from features.contract import TABLE_NAMES, TABLES, Column, table_path
from features.errors import MissingColumnError, MissingTableError, ValidationOutputError
from features.nhs_number import nhs_numbers_valid, normalise_nhs_numbers
from features.progress import ProgressCallback
from features.progress import report as report_progress
from features.readers import read_table

__all__ = [
    "RULES",
    "NUMBER_RANGES",
    "DEFAULT_CODE_SYSTEM",
    "REPORT_FILE",
    "REJECTED_DIR",
    "Example",
    "TableReport",
    "ValidationReport",
    "validate",
]

#: Rule ids, in precedence order: a row breaking several rules is quarantined under the first.
RULES: tuple[str, ...] = (
    "missing_required",
    "bad_type",
    "unparseable_date",
    "invalid_value",
    "invalid_nhs_number",
    "future_date",
    "registered_to_before_registered_from",
    "death_before_birth",
    "duplicate_person_id",
    "orphan_person_id",
    "person_rejected",
    "event_after_death",
    "duplicate_event",
)
#: Allowed (lowest, highest) value of numeric columns; None leaves that side open. Values outside are bad_type.
NUMBER_RANGES: dict[str, tuple[float | None, float | None]] = {
    "imd_decile": (1, 10),  # 1 = most deprived, 10 = least
    "cost_gbp": (0, None),
}
#: ``codes.code_system`` when the column or the value is absent.
DEFAULT_CODE_SYSTEM = "snomed"
REPORT_FILE = "validation_report.json"
REJECTED_DIR = "rejected"
#: Columns whose values identify a person: never printed or quoted in the report (the rejected-rows file has them).
IDENTIFIER_COLUMNS: frozenset[str] = frozenset({"person_id", "nhs_number"})
#: Columns of a rejected-rows file that precede the original columns.
REJECTED_COLUMNS: tuple[str, ...] = ("row", "rule", "column", "value", "reason")
#: Column holding the date a code or event must not follow the person's death.
_DATED_BY: dict[str, str] = {"events": "event_date", "codes": "start_date"}
#: ``recorded_at`` defaults to this column when absent.
_RECORDED_DEFAULT: dict[str, str] = {"events": "event_date", "codes": "start_date"}
_MICROSECONDS = pa.timestamp("us")


@dataclass(frozen=True)
class Example:
    """One quarantined row: where it is, which value broke which rule, and why."""

    file: str
    row: int
    column: str
    value: str | None
    reason: str


@dataclass
class TableReport:
    """What validation did with one table. ``rows_read == rows_accepted + rows_quarantined``."""

    table: str
    file: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int]
    examples: dict[str, list[Example]]
    defaults_applied: dict[str, int]
    extra_columns: list[str]


@dataclass
class ValidationReport:
    """The outcome of :func:`validate` for a whole data directory."""

    data_dir: str
    out_dir: str
    extract_date: date
    created_at: str
    tables: dict[str, TableReport]
    codes_not_in_codelists: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Precedence: a row breaking several rules is counted once, under the first of these.
    rule_order: list[str] = field(default_factory=lambda: list(RULES))

    @property
    def rows_quarantined(self) -> int:
        """Rows quarantined across all tables."""
        return sum(report.rows_quarantined for report in self.tables.values())

    def to_dict(self) -> dict:
        """Return the report as JSON-ready built-in types."""
        result = asdict(self)
        result["extract_date"] = self.extract_date.isoformat()
        return result


@dataclass
class _Finding:
    rule: str
    column: str
    mask: np.ndarray
    reason: str


@dataclass
class _Checked:
    """One table after the row checks: canonical columns, findings, and the raw table for quarantine."""

    name: str
    path: Path
    raw: pa.Table
    columns: dict[str, pa.ChunkedArray]
    days: dict[str, np.ndarray]
    findings: list[_Finding]
    extra_columns: list[str]
    #: Row of each row's accepted person in the accepted persons table; -1 when none (set by the person links).
    person_position: np.ndarray | None = None

    def flag(self, rule: str, column: str, mask: np.ndarray, reason: str) -> None:
        if mask.any():
            self.findings.append(_Finding(rule, column, mask, reason))


@dataclass(frozen=True)
class _PersonIndex:
    """What events and codes need to know about persons: every id read, and the accepted ones."""

    all_ids: pa.Array
    accepted_ids: pa.Array
    accepted_death_days: np.ndarray


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Boolean Arrow values as a numpy mask, null counted as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _as_chunked(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])


def _as_strings(values: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    return _as_chunked(pc.cast(values, pa.string()))


def _blank(values: pa.ChunkedArray) -> np.ndarray:
    """True where a value is null or, for text, empty or only whitespace."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return ~_mask(pc.not_equal(pc.utf8_trim_whitespace(values), ""))
    return _mask(pc.is_null(values))


def _with_nulls(values: pa.ChunkedArray, null: np.ndarray) -> pa.ChunkedArray:
    if not null.any():
        return values
    return _as_chunked(pc.if_else(pa.array(null), pa.nulls(len(values), values.type), values))


def _parse_temporal(values: pa.ChunkedArray, blank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (timestamps as numpy datetime64[us] with NaT, mask of present values that did not parse)."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        values, kind = values.cast(kind.value_type), kind.value_type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            values = pc.cast(values, pa.timestamp(kind.unit))  # stored as UTC; keep the UTC wall clock
        stamps = pc.cast(values, _MICROSECONDS).to_numpy(zero_copy_only=False).astype("datetime64[us]")
        return stamps, np.zeros(len(values), dtype=bool)
    strings = _with_nulls(_as_strings(values), blank)
    try:  # Arrow's strict ISO 8601 parser is fast; it fails the whole column on one bad or zoned value
        stamps = pc.cast(strings, _MICROSECONDS).to_numpy(zero_copy_only=False).astype("datetime64[us]")
        return stamps, np.zeros(len(values), dtype=bool)
    except pa.ArrowInvalid:
        pass
    text = pd.Series(strings.to_pandas(), dtype="str")
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).dt.tz_convert(None)
    stamps = parsed.to_numpy(dtype="datetime64[us]")
    return stamps, ~blank & np.isnat(stamps)


def _parse_number(values: pa.ChunkedArray) -> np.ndarray:
    """Return the values as float64 (NaN where absent or not a number)."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    text = pd.Series(_as_strings(values).to_pandas(), dtype="str")
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    return f" of at most {high:g}" if high is not None else ""


def _check_column(checked: _Checked, column: Column, extract_day: np.datetime64) -> None:
    """Parse one contract column into its canonical type and flag its row-level problems.

    Parameters
    ----------
    checked
        The table being checked; receives the canonical column, its days (dates) and findings.
    column
        The contract column, present in ``checked.raw``.
    extract_day
        Dates after this day are ``future_date``.
    """
    values = checked.raw.column(column.name)
    blank = _blank(values)
    if not column.nullable:
        checked.flag("missing_required", column.name, blank, f"{column.name} is required; it is empty")
    if column.kind == "string":
        text = _as_strings(values)
        if column.name == "nhs_number":
            text = normalise_nhs_numbers(text)
            bad = ~blank & ~nhs_numbers_valid(text)
            checked.flag("invalid_nhs_number", column.name, bad, "nhs_number must be 10 digits passing the Modulus 11 check")
        if column.allowed is not None:
            bad = ~blank & ~_mask(pc.is_in(text, value_set=pa.array(column.allowed)))
            checked.flag("invalid_value", column.name, bad, f"{column.name} must be one of {', '.join(column.allowed)}")
        checked.columns[column.name] = _with_nulls(text, blank)
    elif column.kind in ("date", "timestamp"):
        stamps, bad = _parse_temporal(values, blank)
        checked.flag("unparseable_date", column.name, bad, f"{column.name} must be an ISO date (YYYY-MM-DD)")
        days = stamps.astype("datetime64[D]")
        future = days > extract_day
        checked.flag("future_date", column.name, future, f"{column.name} must not be after the extract date {extract_day}")
        checked.days[column.name] = days
        if column.kind == "date":
            checked.columns[column.name] = _as_chunked(pa.array(days, type=pa.date32(), from_pandas=True))
        else:
            checked.columns[column.name] = _as_chunked(pa.array(stamps, type=_MICROSECONDS, from_pandas=True))
    else:
        numbers = _parse_number(values)
        low, high = NUMBER_RANGES.get(column.name, (None, None))
        ok = np.isfinite(numbers)
        if column.kind == "int":
            ok &= numbers == np.floor(numbers)
        if low is not None:
            ok &= numbers >= low
        if high is not None:
            ok &= numbers <= high
        shape = "a whole number" if column.kind == "int" else "a number"
        checked.flag("bad_type", column.name, ~blank & ~ok, f"{column.name} must be {shape}{_range_text(low, high)}")
        if column.kind == "int":
            canonical = pa.array(np.where(ok, numbers, 0).astype(np.int64), mask=~ok)
        else:
            canonical = pa.array(np.where(ok, numbers, np.nan), mask=~ok)
        checked.columns[column.name] = _as_chunked(canonical)


def _check_table(name: str, path: Path, extract_day: np.datetime64) -> _Checked:
    """Read one table, insist on its required columns, and run the checks that need only its own rows.

    Parameters
    ----------
    name
        Contract table name.
    path
        Its file (Parquet or CSV).
    extract_day
        Dates after this day are ``future_date``.

    Raises
    ------
    UnreadableTableError, MissingColumnError
        Fatal: the file cannot be read or lacks a required column.
    """
    raw = read_table(path)
    contract = TABLES[name]
    missing = [column.name for column in contract if column.required and column.name not in raw.column_names]
    if missing:
        optional = [column.name for column in contract if column.required and column.nullable]
        raise MissingColumnError(
            f"table {name} ({path}) must have column(s) {missing}; it has {raw.column_names}. "
            f"Add the column(s) to the export (columns {optional} may be left empty)."
        )
    known = {column.name for column in contract}
    checked = _Checked(
        name=name,
        path=path,
        raw=raw,
        columns={},
        days={},
        findings=[],
        extra_columns=[c for c in raw.column_names if c not in known],
    )
    for column in contract:
        if column.name in raw.column_names:
            _check_column(checked, column, extract_day)
    return checked


def _check_persons(checked: _Checked) -> None:
    days = checked.days
    checked.flag(
        "registered_to_before_registered_from",
        "registered_to",
        days["registered_to"] < days["registered_from"],
        "registered_to must not be before registered_from",
    )
    checked.flag("death_before_birth", "death_date", days["death_date"] < days["birth_date"], "death_date must not be before birth_date")
    ids = checked.columns["person_id"]
    duplicated = pd.Series(ids.to_pandas(), dtype="str").duplicated(keep="first").to_numpy() & _mask(pc.is_valid(ids))
    checked.flag("duplicate_person_id", "person_id", duplicated, "person_id must be unique; an earlier row has the same person_id")


def _check_person_links(checked: _Checked, persons: _PersonIndex) -> None:
    """Flag events or codes whose person is absent, quarantined, or dead before the row's date."""
    ids = checked.columns["person_id"]
    present = _mask(pc.is_valid(ids))
    known = _mask(pc.is_in(ids, value_set=persons.all_ids))
    checked.flag("orphan_person_id", "person_id", present & ~known, "person_id must exist in persons")
    position = pc.fill_null(pc.index_in(ids, value_set=persons.accepted_ids), -1).to_numpy(zero_copy_only=False)
    linked = position >= 0
    checked.person_position = position
    checked.flag("person_rejected", "person_id", known & ~linked, "the person's persons row was quarantined")
    death = np.full(len(position), np.datetime64("NaT"), dtype="datetime64[D]")
    death[linked] = persons.accepted_death_days[position[linked]]
    dated_by = _DATED_BY[checked.name]
    checked.flag(
        "event_after_death", dated_by, checked.days[dated_by] > death, f"{dated_by} must not be after the person's death_date"
    )


def _duplicate_keys(checked: _Checked) -> dict[str, pa.Array | pa.ChunkedArray]:
    """Every column as a fixed-width key with the same equalities as its parsed values (fast to group on)."""
    keys: dict[str, pa.Array | pa.ChunkedArray] = {"person_id": pa.array(checked.person_position)}
    for column in TABLES[checked.name]:
        values = checked.columns.get(column.name)
        if values is None or column.name in keys:
            continue
        if column.allowed is not None:
            values = pc.index_in(values, value_set=pa.array(column.allowed))
        elif pa.types.is_string(values.type):
            values = pc.dictionary_encode(values).combine_chunks().indices
        keys[column.name] = values
    for name in checked.extra_columns:
        values = checked.raw.column(name)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            values = pc.dictionary_encode(values).combine_chunks().indices
        keys[name] = values
    return keys


_MIX_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))
_MIX_MULTIPLIERS = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix(bits: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: spreads 64-bit values so that combined row hashes rarely collide."""
    bits = (bits ^ (bits >> _MIX_SHIFTS[0])) * _MIX_MULTIPLIERS[0]
    bits = (bits ^ (bits >> _MIX_SHIFTS[1])) * _MIX_MULTIPLIERS[1]
    return bits ^ (bits >> _MIX_SHIFTS[2])


def _key_bits(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed-width key column as uint64 bits; equal values (and all nulls) give equal bits."""
    if pa.types.is_floating(values.type):
        floats = np.asarray(pc.fill_null(values, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64) + 0.0  # -0.0 -> 0.0
        return floats.view(np.uint64)
    ints = pc.fill_null(pc.cast(values, pa.int64()), np.iinfo(np.int64).min)
    return np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.int64).view(np.uint64)


def _check_duplicate_events(checked: _Checked) -> None:
    """Flag every copy but the first of rows identical in every column, among rows that break no other rule.

    Rows compare on their parsed values (``2024-01-01`` equals ``2024-01-01T00:00:00``); a row already
    quarantined for another rule neither counts as a first copy nor as a duplicate. A 64-bit hash of each
    row finds the few rows that may repeat; only those are compared exactly, which keeps memory low.
    """
    unflagged = np.ones(checked.raw.num_rows, dtype=bool)
    for finding in checked.findings:
        unflagged &= ~finding.mask
    keys = _duplicate_keys(checked)
    hashes = np.zeros(checked.raw.num_rows, dtype=np.uint64)
    for position, values in enumerate(keys.values()):
        hashes = _mix(hashes ^ _mix(_key_bits(values) + np.uint64(position)))
    rows = np.flatnonzero(unflagged)
    candidates = rows[pd.Series(hashes[rows]).duplicated(keep=False).to_numpy()]
    if not len(candidates):
        return
    keyed = pa.table(keys).take(pa.array(candidates))
    numbered = keyed.append_column("__row", pa.array(candidates, type=pa.int64()))
    first = numbered.group_by(keyed.column_names, use_threads=False).aggregate([("__row", "min")])["__row_min"]
    duplicate = np.zeros(checked.raw.num_rows, dtype=bool)
    duplicate[candidates] = True
    duplicate[first.to_numpy()] = False
    checked.flag("duplicate_event", "person_id", duplicate, "an earlier events row is identical in every column")


def _primary_rule(checked: _Checked) -> np.ndarray:
    """Index into ``checked.findings`` of the first rule each row breaks (by RULES order), -1 if none."""
    checked.findings.sort(key=lambda finding: RULES.index(finding.rule))
    assigned = np.full(checked.raw.num_rows, -1, dtype=np.int32)
    for position, finding in enumerate(checked.findings):
        assigned[finding.mask & (assigned < 0)] = position
    return assigned


def _rejected_frame(checked: _Checked, assigned: np.ndarray) -> pd.DataFrame:
    """The quarantined rows as text: row number (1 = first data row), rule, column, value, reason, then the row."""
    rows = np.flatnonzero(assigned >= 0)
    original = checked.raw.take(pa.array(rows))
    text = pd.DataFrame({name: _as_strings(original.column(name)).to_pandas() for name in original.column_names}, dtype="str")
    chosen = assigned[rows]
    rule, column, reason = (
        np.array([getattr(finding, part) for finding in checked.findings], dtype=object)[chosen]
        for part in ("rule", "column", "reason")
    )
    value = pd.Series(pd.NA, index=text.index, dtype="str")
    for name in pd.unique(column):
        value = value.mask(column == name, text[name])
    front = pd.DataFrame(
        {
            "row": rows + 1,
            "rule": pd.Series(rule, dtype="str"),
            "column": pd.Series(column, dtype="str"),
            "value": value,
            "reason": pd.Series(reason, dtype="str"),
        }
    )
    return pd.concat([front, text], axis=1)


def _accepted_table(checked: _Checked, keep: np.ndarray) -> tuple[pa.Table, dict[str, int]]:
    """Accepted rows in canonical types, every contract column present, defaults filled in."""
    everything = bool(keep.all())  # a clean table is written as it is, without copying it
    mask = pa.array(keep)
    columns: dict[str, pa.ChunkedArray] = {}
    defaults: dict[str, int] = {}
    kinds = {"string": pa.string(), "date": pa.date32(), "timestamp": _MICROSECONDS, "int": pa.int64(), "float": pa.float64()}
    for column in TABLES[checked.name]:
        values = checked.columns.get(column.name)
        if values is None:
            values = pa.chunked_array([pa.nulls(int(keep.sum()), kinds[column.kind])])
        elif not everything:
            values = pc.filter(values, mask)
        if column.name == "recorded_at":
            fallback = pc.cast(columns[_RECORDED_DEFAULT[checked.name]], _MICROSECONDS)
            defaults[column.name] = values.null_count
            values = pc.coalesce(values, fallback)
        elif column.name == "code_system":
            defaults[column.name] = values.null_count
            values = pc.coalesce(pc.utf8_lower(values), pa.scalar(DEFAULT_CODE_SYSTEM))
        columns[column.name] = _as_chunked(values)
    for name in checked.extra_columns:
        columns[name] = checked.raw.column(name) if everything else pc.filter(checked.raw.column(name), mask)
    return pa.table(columns), defaults


def _person_index(persons: _Checked, accepted: pa.Table) -> _PersonIndex:
    all_ids = pc.unique(pc.drop_null(persons.columns["person_id"]))
    death = accepted.column("death_date").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return _PersonIndex(all_ids=all_ids, accepted_ids=accepted.column("person_id").combine_chunks(), accepted_death_days=death)


def _codes_not_in_codelists(codes: pa.Table) -> dict[str, dict[str, int]]:
    """Rows and distinct codes, per code system, that no code list names."""
    lists = load_codelists()
    listed = pa.array((lists["code_system"] + "\x1f" + lists["code"]).unique())
    keys = pc.binary_join_element_wise(codes.column("code_system"), codes.column("code"), "\x1f")
    unlisted = ~_mask(pc.is_in(keys, value_set=listed))
    frame = pd.DataFrame(
        {
            "code_system": codes.column("code_system").filter(pa.array(unlisted)).to_pandas(),
            "code": codes.column("code").filter(pa.array(unlisted)).to_pandas(),
        }
    )
    summary = frame.groupby("code_system")["code"].agg(["size", "nunique"])
    return {str(system): {"rows": int(row["size"]), "distinct_codes": int(row["nunique"])} for system, row in summary.iterrows()}


def _example_value(column: str, value: object, table: str) -> str | None:
    """The value to quote in the report: identifiers are replaced by a pointer to the rejected-rows file."""
    if column in IDENTIFIER_COLUMNS:
        return f"(identifier hidden; see {REJECTED_DIR}/{table}.csv)"
    return None if pd.isna(value) else str(value)


def _examples(checked: _Checked, rejected: pd.DataFrame, per_rule: int) -> dict[str, list[Example]]:
    examples: dict[str, list[Example]] = {}
    for rule, group in rejected.groupby("rule", sort=False):
        examples[str(rule)] = [
            Example(
                file=checked.path.name,
                row=int(row.row),
                column=str(row.column),
                value=_example_value(str(row.column), row.value, checked.name),
                reason=str(row.reason),
            )
            for row in group.head(per_rule).itertuples(index=False)
        ]
    return examples


def _finish_table(checked: _Checked, out: Path, examples_per_rule: int) -> tuple[TableReport, pa.Table]:
    """Split one checked table into accepted (Parquet) and quarantined (CSV) rows and report on it.

    Parameters
    ----------
    checked
        The table after every check.
    out
        Output folder: ``{table}.parquet`` and ``rejected/{table}.csv`` are written here.
    examples_per_rule
        How many quarantined rows per rule the report quotes.

    Returns
    -------
    tuple[TableReport, pyarrow.Table]
        The table's report and its accepted rows.
    """
    assigned = _primary_rule(checked)
    keep = assigned < 0
    accepted, defaults = _accepted_table(checked, keep)
    pq.write_table(accepted, out / f"{checked.name}.parquet")
    rejected = _rejected_frame(checked, assigned)
    rejected.to_csv(out / REJECTED_DIR / f"{checked.name}.csv", index=False)
    counts = rejected["rule"].value_counts()
    report = TableReport(
        table=checked.name,
        file=str(checked.path),
        rows_read=checked.raw.num_rows,
        rows_accepted=accepted.num_rows,
        rows_quarantined=len(rejected),
        quarantined_by_rule={rule: int(counts.get(rule, 0)) for rule in RULES},
        examples=_examples(checked, rejected, examples_per_rule),
        defaults_applied=defaults,
        extra_columns=checked.extra_columns,
    )
    return report, accepted


def _output_dir(data_dir: Path, out: Path | None) -> Path:
    out = Path(out) if out is not None else data_dir / "validated"
    if out.resolve() == data_dir.resolve():
        raise ValidationOutputError(
            f"--out must differ from the data directory; got {out}. Pass another folder, or omit --out to use {data_dir / 'validated'}."
        )
    (out / REJECTED_DIR).mkdir(parents=True, exist_ok=True)
    return out


def validate(
    data_dir: Path,
    *,
    out: Path | None = None,
    extract_date: date | None = None,
    examples_per_rule: int = 5,
    progress: ProgressCallback | None = None,
) -> ValidationReport:
    """Check ``data_dir`` against the data contract; write accepted rows, quarantined rows and a report.

    Parameters
    ----------
    data_dir
        Folder holding ``persons``, ``events`` and ``codes`` as Parquet or CSV.
    out
        Output folder (default ``data_dir/validated``). Receives ``{table}.parquet`` with the accepted rows
        in canonical types (itself a valid data directory), ``rejected/{table}.csv`` with every quarantined
        row and its reason, and ``validation_report.json``.
    extract_date
        Dates after this day are ``future_date``; default today (UTC).
    examples_per_rule
        How many quarantined rows per table and rule the report quotes.
    progress
        Called with ``("Validating <table>", tables done, 3)`` as each table starts and finishes.

    Returns
    -------
    ValidationReport
        Per table: rows read, accepted and quarantined, counts by rule (each quarantined row under the first
        rule it breaks, in :data:`RULES` order) and examples; and codes that no code list names.

    Raises
    ------
    MissingTableError, MissingColumnError, UnreadableTableError
        Fatal contract problems; the message names the file and the fix.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise MissingTableError(f"--data must be a folder holding persons, events and codes; got {data_dir}, which is not a folder. Point --data at the extract.")
    paths = {name: table_path(data_dir, name) for name in TABLE_NAMES}
    out = _output_dir(data_dir, out)
    extract_date = extract_date or datetime.now(UTC).date()
    extract_day = np.datetime64(extract_date, "D")
    reports: dict[str, TableReport] = {}
    report_progress(progress, "Validating persons", 0, len(TABLE_NAMES))
    persons = _check_table("persons", paths["persons"], extract_day)
    _check_persons(persons)
    reports["persons"], accepted_persons = _finish_table(persons, out, examples_per_rule)
    person_index = _person_index(persons, accepted_persons)
    del persons, accepted_persons
    accepted_codes = None
    for done, name in enumerate(("events", "codes"), start=1):
        report_progress(progress, f"Validating {name}", done, len(TABLE_NAMES))
        checked = _check_table(name, paths[name], extract_day)
        _check_person_links(checked, person_index)
        if name == "events":
            _check_duplicate_events(checked)
        reports[name], accepted = _finish_table(checked, out, examples_per_rule)
        if name == "codes":
            accepted_codes = accepted
        del checked, accepted
    report_progress(progress, "Validated", len(TABLE_NAMES), len(TABLE_NAMES))
    result = ValidationReport(
        data_dir=str(data_dir),
        out_dir=str(out),
        extract_date=extract_date,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tables=reports,
        codes_not_in_codelists=_codes_not_in_codelists(accepted_codes),
    )
    (out / REPORT_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
