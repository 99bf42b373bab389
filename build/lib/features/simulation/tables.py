"""Arrow tables in the contract's format (persons, events, codes) from the simulator's arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from features.contract import ETHNIC_GROUPS, SETTINGS
from features.simulation.config import SimulationConfig
from features.simulation.errors import SimulationError
from features.simulation.population import SEX_CODES, Population
from features.simulation.rows import CodeRows, EventRows
from features.simulation.trajectories import Trajectories

__all__ = ["persons_table", "events_table", "codes_table", "id_array"]


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """date32 array from day numbers; ``missing`` marks empty values."""
    mask = missing if missing is not None and missing.any() else None
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=mask).cast(pa.date32())


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype(np.int64), type=pa.int64()).cast(pa.timestamp("us"))


def _lookup(values: np.ndarray, index: np.ndarray) -> pa.Array:
    """String column built by taking ``values[index]`` (dictionary decode, no Python objects per row)."""
    return pa.DictionaryArray.from_arrays(pa.array(index, type=pa.int32()), pa.array(values.tolist(), type=pa.string())).cast(pa.string())


def id_array(pop: Population) -> pa.Array:
    """The person_id column for every person, as Arrow strings."""
    return pa.array(pop.person_id.tolist(), type=pa.string())


def persons_table(cfg: SimulationConfig, pop: Population, traj: Trajectories) -> pa.Table:
    """One row per person with the contract's persons columns."""
    missing_lsoa = pop.lsoa < 0
    lsoa = _lookup(pop.lsoa_codes, np.where(missing_lsoa, 0, pop.lsoa))
    lsoa = pa.array(lsoa.to_numpy(zero_copy_only=False), type=pa.string(), mask=missing_lsoa)
    decile = pa.array(pop.decile.astype(np.int64), mask=missing_lsoa)
    ethnic_names = np.array([name for name, _ in cfg.ethnic_shares])
    if not set(ethnic_names) <= set(ETHNIC_GROUPS):
        raise SimulationError(f"ethnic groups must be among {ETHNIC_GROUPS}; got {sorted(ethnic_names)}. Fix SimulationConfig.")
    return pa.table(
        {
            "person_id": id_array(pop),
            "nhs_number": pa.array(pop.nhs_number.tolist(), type=pa.string()),
            "birth_date": _dates(pop.birth_day),
            "sex": _lookup(np.array(SEX_CODES), pop.sex),
            "ethnic_group": _lookup(ethnic_names, pop.ethnic),
            "lsoa": lsoa,
            "imd_decile": decile,
            "practice": _lookup(pop.practice_codes, pop.practice),
            "neighbourhood": _lookup(np.array(cfg.neighbourhood_names), pop.neighbourhood),
            "registered_from": _dates(pop.registered_from),
            "registered_to": _dates(pop.registered_to, pop.registered_to < 0),
            "death_date": _dates(traj.death_day, traj.death_day < 0),
        }
    )


def events_table(cfg: SimulationConfig, ids: pa.Array, ev: EventRows) -> pa.Table:
    """One row per contact with the contract's events columns."""
    names = [s.name for s in cfg.settings]
    if set(names) != set(SETTINGS):
        raise SimulationError(f"simulated settings must be exactly {SETTINGS}; got {names}. Fix SimulationConfig.settings.")
    return pa.table(
        {
            "person_id": ids.take(pa.array(ev.person, type=pa.int32())),
            "event_date": _timestamps(ev.event_us),
            "setting": _lookup(np.array(names), ev.setting),
            "recorded_at": _timestamps(ev.recorded_us),
            "cost_gbp": pa.array(ev.cost, type=pa.float64()),
        }
    )


def codes_table(ids: pa.Array, codes: CodeRows) -> pa.Table:
    """One row per coded finding with the contract's codes columns."""
    return pa.table(
        {
            "person_id": ids.take(pa.array(codes.person, type=pa.int32())),
            "code": _lookup(codes.vocabulary, codes.code),
            "code_system": _lookup(np.array(["snomed"]), np.zeros(codes.person.size, dtype=np.int32)),
            "start_date": _dates(codes.start_day),
            "end_date": _dates(codes.end_day, codes.end_day < 0),
            "recorded_at": _timestamps(codes.recorded_us),
        }
    )
