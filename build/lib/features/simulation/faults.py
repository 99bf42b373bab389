"""Plant operational faults in a simulated data folder: a feed outage, a recoded concept, a recording-lag increase.

Each function rewrites one table in place (Parquet or CSV, as found), deterministically, and appends
what it did to ``_truth/faults.json`` so tests know the planted subject. The pipeline never reads
``_truth``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from features.contract import SETTINGS, table_path
from features.dates import extract_date
from features.simulation.errors import SimulationError
from features.simulation.run import TRUTH_DIR

__all__ = ["Fault", "parse_outage", "plant_feed_outage", "plant_recoding", "plant_lag_increase", "FAULTS_FILE"]

FAULTS_FILE = "faults.json"


@dataclass(frozen=True)
class Fault:
    """A planted fault: its kind, subject (setting or code), from when, and how many rows it touched."""

    kind: str
    subject: str
    since: str
    rows_changed: int
    rows_removed: int
    detail: str


def parse_outage(text: str) -> tuple[str, int]:
    """``"SETTING:DAYS"`` to ``(setting, days)``.

    Raises
    ------
    SimulationError
        If the text is not ``SETTING:DAYS`` with a contract setting and a whole number of days >= 1.
    """
    setting, _, days = text.partition(":")
    if setting not in SETTINGS or not days.isdigit() or int(days) < 1:
        raise SimulationError(
            f"a feed outage must be SETTING:DAYS with SETTING one of {list(SETTINGS)} and DAYS >= 1; got {text!r}. "
            "Use e.g. nhs111:60."
        )
    return setting, int(days)


def _reader(path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet('{path.as_posix()}')"
    return f"read_csv('{path.as_posix()}', header = true, all_varchar = true)"


def _rewrite(path: Path, select: str) -> None:
    """Replace ``path`` with the rows of ``select`` (original row order kept), atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fmt = "(FORMAT parquet, COMPRESSION zstd)" if path.suffix == ".parquet" else "(FORMAT csv, HEADER true)"
    with duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"COPY ({select}) TO '{tmp.as_posix()}' {fmt}")
    os.replace(tmp, path)


def _count(sql: str) -> int:
    with duckdb.connect() as con:
        return int(con.execute(sql).fetchone()[0])


def _record(data_dir: Path, fault: Fault) -> Fault:
    truth = data_dir / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    path = truth / FAULTS_FILE
    faults = json.loads(path.read_text()) if path.exists() else []
    faults.append(asdict(fault))
    path.write_text(json.dumps(faults, indent=2) + "\n")
    return fault


def plant_feed_outage(data_dir: Path | str, setting: str, days: int) -> Fault:
    """Remove every ``events`` row of ``setting`` whose event date falls in the last ``days`` days of the extract."""
    data_dir = Path(data_dir)
    parse_outage(f"{setting}:{days}")
    path = table_path(data_dir, "events")
    since = extract_date(data_dir) + timedelta(days=1 - days)
    gone = f"CAST(setting AS VARCHAR) = '{setting}' AND CAST(event_date AS TIMESTAMP) >= TIMESTAMP '{since}'"
    removed = _count(f"SELECT count(*) FROM {_reader(path)} WHERE {gone}")
    _rewrite(path, f"SELECT * FROM {_reader(path)} WHERE NOT ({gone})")
    return _record(data_dir, Fault("feed_outage", setting, since.isoformat(), 0, removed, f"{setting}:{days}"))


def plant_recoding(data_dir: Path | str, code: str, new_code: str, since: date) -> Fault:
    """Record concept ``code`` as ``new_code`` in every ``codes`` row recorded on or after ``since``.

    ``recorded_at`` defaults to ``start_date`` when absent, as in the contract.
    """
    data_dir = Path(data_dir)
    if not code or not new_code or code == new_code:
        raise SimulationError(f"a recoding needs two different codes; got {code!r} -> {new_code!r}. Pass the listed concept and its replacement.")
    path = table_path(data_dir, "codes")
    with duckdb.connect() as con:
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {_reader(path)}").fetchall()]
    recorded = "coalesce(CAST(recorded_at AS TIMESTAMP), CAST(start_date AS TIMESTAMP))" if "recorded_at" in columns else "CAST(start_date AS TIMESTAMP)"
    hit = f"CAST(code AS VARCHAR) = '{code}' AND {recorded} >= TIMESTAMP '{since}'"
    changed = _count(f"SELECT count(*) FROM {_reader(path)} WHERE {hit}")
    select = ", ".join(f"CASE WHEN {hit} THEN '{new_code}' ELSE code END AS code" if c == "code" else f'"{c}"' for c in columns)
    _rewrite(path, f"SELECT {select} FROM {_reader(path)}")
    return _record(data_dir, Fault("recoding", new_code, since.isoformat(), changed, 0, f"{code} -> {new_code}"))


def plant_lag_increase(data_dir: Path | str, days: int, since: date, *, setting: str | None = None) -> Fault:
    """Record ``events`` rows (of ``setting``, or all) with event date on or after ``since`` ``days`` days later.

    Rows whose new recording time falls after the extract's last recording time are removed, as an
    extract taken then would not hold them yet.
    """
    data_dir = Path(data_dir)
    if days < 1 or (setting is not None and setting not in SETTINGS):
        raise SimulationError(f"a lag increase needs days >= 1 and a contract setting or none; got {days} days, setting {setting!r}.")
    path = table_path(data_dir, "events")
    with duckdb.connect() as con:
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {_reader(path)}").fetchall()]
        cutoff = con.execute(
            f"SELECT max(coalesce(CAST(recorded_at AS TIMESTAMP), CAST(event_date AS TIMESTAMP))) FROM {_reader(path)}"
        ).fetchone()[0]
    if "recorded_at" not in columns:
        raise SimulationError(f"events in {path} must have recorded_at to shift it; it is absent. Simulate with the default tables.")
    hit = f"CAST(event_date AS TIMESTAMP) >= TIMESTAMP '{since}'" + (f" AND CAST(setting AS VARCHAR) = '{setting}'" if setting else "")
    was = "coalesce(CAST(recorded_at AS TIMESTAMP), CAST(event_date AS TIMESTAMP))"
    shifted = f"CASE WHEN {hit} THEN {was} + INTERVAL {days} DAY ELSE CAST(recorded_at AS TIMESTAMP) END"
    text = path.suffix != ".parquet"
    value = f"strftime({shifted}, '%Y-%m-%d %H:%M:%S')" if text else shifted
    select = ", ".join(f"{value} AS recorded_at" if c == "recorded_at" else f'"{c}"' for c in columns)
    keep = f"coalesce({shifted}, CAST(event_date AS TIMESTAMP)) <= TIMESTAMP '{cutoff}'"
    with duckdb.connect() as con:
        changed, removed = con.execute(
            f"SELECT count(*) FILTER (WHERE {hit} AND {keep}), count(*) FILTER (WHERE NOT ({keep})) FROM {_reader(path)}"
        ).fetchone()
    _rewrite(path, f"SELECT {select} FROM {_reader(path)} WHERE {keep}")
    return _record(data_dir, Fault("lag_increase", setting or "events", since.isoformat(), int(changed), int(removed), f"+{days} days"))
