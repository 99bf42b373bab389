"""Plant a known number of bad rows of every kind validation checks, one broken rule per row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.simulation.config import SimulationConfig

__all__ = ["plant_defects", "as_strings", "RULES"]

#: Rule ids shared with features/validate.py (INTERFACES.md).
RULES: tuple[str, ...] = (
    "missing_required",
    "bad_type",
    "invalid_value",
    "unparseable_date",
    "future_date",
    "registered_to_before_registered_from",
    "death_before_birth",
    "event_after_death",
    "orphan_person_id",
    "person_rejected",
    "duplicate_person_id",
    "duplicate_event",
    "invalid_nhs_number",
)


def as_strings(table: pa.Table) -> pa.Table:
    """The table with every column as strings: dates ``YYYY-MM-DD``, timestamps ``YYYY-MM-DD HH:MM:SS``."""
    columns = []
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
        elif pa.types.is_floating(col.type):
            col = pc.round(col, 2)
        columns.append(col.cast(pa.string()))
    return pa.table(columns, names=table.column_names)


def _day(s: str) -> date:
    return date.fromisoformat(s[:10])


def plant_defects(
    cfg: SimulationConfig,
    rng: np.random.Generator,
    tables: dict[str, pa.Table],
    window_end: date,
) -> tuple[dict[str, pa.Table], dict[str, dict[str, int]]]:
    """Return the three tables as string columns with bad rows appended, and the manifest {table: {rule: n}}.

    Parameters
    ----------
    cfg
        ``dirty_rows_per_rule`` rows are planted per rule and table; ``dirty_rejected_persons`` extra persons
        have an invalid ``sex`` and otherwise valid events and codes (each of those rows is ``person_rejected``).
    rng
        The run's random generator.
    tables
        Clean ``persons``, ``events`` and ``codes`` tables.
    window_end
        First day after the window; planted dates stay before it except ``future_date``.

    Bad persons rows are new people with no events or codes (so nothing cascades), except the rejected
    persons above; duplicates copy a clean row and are placed after it.
    """
    k = cfg.dirty_rows_per_rule
    future = cfg.dirty_future_date
    data = {name: as_strings(t) for name, t in tables.items()}
    persons, events, codes = data["persons"], data["events"], data["codes"]
    manifest: dict[str, dict[str, int]] = {"persons": {}, "events": {}, "codes": {}}
    planted: dict[str, list[dict[str, str | None]]] = {"persons": [], "events": [], "codes": []}
    n_persons = persons.num_rows
    width = len(persons["person_id"][0].as_py()) - 1
    next_id = iter(range(n_persons + 1, n_persons + 10_000_000))
    dead_rows = persons.filter(pc.is_valid(persons["death_date"])).select(["person_id", "death_date"]).to_pylist()
    death = {r["person_id"]: r["death_date"] for r in dead_rows}

    def fresh_id() -> str:
        return f"P{next(next_id):0{width}d}"

    def row(table: pa.Table, i: int) -> dict[str, str | None]:
        return table.slice(i, 1).to_pylist()[0]

    def living_rows(table: pa.Table, n: int) -> list[int]:
        """Up to ``n`` random row numbers of ``table`` whose person has not died."""
        candidates = rng.choice(table.num_rows, size=min(table.num_rows, n), replace=False)
        ids = table["person_id"].take(pa.array(candidates)).to_pylist()
        return [int(i) for i, pid in zip(candidates, ids) if pid not in death]

    def plant(table: str, rule: str, r: dict[str, str | None]) -> None:
        planted[table].append(r)
        manifest[table][rule] = manifest[table].get(rule, 0) + 1

    alive = living_rows(persons, 50 * k + 100)

    def new_person() -> dict[str, str | None]:
        r = row(persons, alive[int(rng.integers(len(alive)))])
        r.update(person_id=fresh_id(), nhs_number=None, registered_to=None, death_date=None)
        return r

    # --- persons: new people (no events or codes), each with one broken field ---
    def bad_person(rule: str, change: Callable[[dict[str, str | None]], None]) -> None:
        r = new_person()
        change(r)
        plant("persons", rule, r)

    def shift(value: str | None, days: int) -> str:
        return (_day(value or "") + timedelta(days=days)).isoformat()

    def wrong_check_digit(r: dict[str, str | None]) -> None:
        number = row(persons, alive[int(rng.integers(len(alive)))])["nhs_number"] or ""
        r["nhs_number"] = number[:9] + str((int(number[9]) + 1 + int(rng.integers(8))) % 10)

    for _ in range(k):
        bad_person("missing_required", lambda r: r.update(birth_date=None))
        bad_person("bad_type", lambda r: r.update(imd_decile="11"))
        bad_person("invalid_value", lambda r: r.update(ethnic_group="Purple"))
        bad_person("unparseable_date", lambda r: r.update(birth_date="1985-02-30"))
        bad_person("future_date", lambda r: r.update(registered_from=future))
        bad_person("registered_to_before_registered_from", lambda r: r.update(registered_to=shift(r["registered_from"], -30)))
        bad_person("death_before_birth", lambda r: r.update(death_date=shift(r["birth_date"], -100)))
        bad_person("invalid_nhs_number", wrong_check_digit)
    for i in rng.choice(n_persons, size=k, replace=False).tolist():
        plant("persons", "duplicate_person_id", row(persons, int(i)))

    # --- persons whose row is rejected, with otherwise valid events and codes ---
    n_events, n_codes = events.num_rows, codes.num_rows
    for _ in range(cfg.dirty_rejected_persons):
        r = new_person()
        r["sex"] = "X"
        plant("persons", "invalid_value", r)
        for table, source, n in (("events", events, 3), ("codes", codes, 2)):
            for i in rng.choice(source.num_rows, size=n, replace=False).tolist():
                copy = row(source, int(i))
                copy["person_id"] = r["person_id"]
                plant(table, "person_rejected", copy)

    # --- events (of living people), each with one broken field ---
    living = iter(living_rows(events, 20 * k))

    def bad_event(rule: str, **changes: str | None) -> None:
        e = row(events, next(living))
        e.update(changes)
        plant("events", rule, e)

    for _ in range(k):
        bad_event("missing_required", setting=None)
        bad_event("bad_type", cost_gbp="twelve")
        bad_event("invalid_value", setting="A&E")
        bad_event("unparseable_date", event_date="2022-02-30 10:00:00")
        bad_event("future_date", event_date=f"{future} 10:00:00", recorded_at=None)
        e = row(events, next(living))
        e["person_id"] = f"Z{e['person_id'][1:]}"
        plant("events", "orphan_person_id", e)
        plant("events", "duplicate_event", row(events, next(living)))
    dead = [(pid, _day(d)) for pid, d in death.items() if _day(d) + timedelta(days=2) < window_end]
    for j in rng.choice(len(dead), size=min(k, len(dead)), replace=False).tolist():
        pid, d = dead[int(j)]
        e = row(events, int(rng.integers(n_events)))
        when = d + timedelta(days=1)
        e.update(person_id=pid, event_date=f"{when.isoformat()} 12:00:00", recorded_at=f"{when.isoformat()} 13:00:00")
        plant("events", "event_after_death", e)

    # --- codes (of living people), each with one broken field ---
    living = iter(living_rows(codes, 40 * k))

    def bad_code(rule: str, **changes: str | None) -> None:
        c = row(codes, next(living))
        c.update(changes)
        plant("codes", rule, c)

    for _ in range(k):
        bad_code("missing_required", code=None)
        bad_code("unparseable_date", start_date="2021-02-30")
        bad_code("future_date", start_date=future, end_date=None, recorded_at=None)
        c = row(codes, next(living))
        c["person_id"] = f"Z{c['person_id'][1:]}"
        plant("codes", "orphan_person_id", c)

    out = {}
    for table, rows in planted.items():
        order = rng.permutation(len(rows))
        extra = pa.Table.from_pylist([rows[int(o)] for o in order], schema=data[table].schema)
        out[table] = pa.concat_tables([data[table], extra])
    return out, manifest
