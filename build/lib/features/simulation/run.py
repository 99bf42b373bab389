"""The simulator's entry point: draw a population, run its months, write the data directory and the truth."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.codelists import load_codelists
from features.progress import ProgressCallback, report
from features.simulation.calibration import CalibrationRow, calibration_table, write_calibration
from features.simulation.config import SimulationConfig
from features.simulation.dirty import plant_defects
from features.simulation.errors import SimulationError
from features.simulation.population import draw_population
from features.simulation.rows import build_code_rows, build_event_rows
from features.simulation.tables import codes_table, events_table, id_array, persons_table
from features.simulation.trajectories import simulate_trajectories
from features.simulation.window import make_window

__all__ = ["simulate", "SimulationSummary", "TRUTH_DIR"]

TRUTH_DIR = "_truth"
_TRUTH_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("month", pa.date32()),
        ("ed_rate", pa.float32()),
        ("emergency_admission_rate", pa.float32()),
        ("ambulance_111_rate", pa.float32()),
    ]
)

# Dictionary-encode only low-cardinality columns (person_id would overflow the dictionary page and fall back);
# zstd level 1 writes faster and smaller than the default snappy on these tables.
_PARQUET_OPTIONS: dict[str, dict[str, object]] = {
    "persons": {"use_dictionary": ["sex", "ethnic_group", "practice", "neighbourhood", "lsoa"], "compression": "zstd", "compression_level": 1},
    "events": {"use_dictionary": ["setting"], "compression": "zstd", "compression_level": 1},
    "codes": {"use_dictionary": ["code", "code_system"], "compression": "zstd", "compression_level": 1},
}


@dataclass
class SimulationSummary:
    """What a run wrote: paths, window, row counts, the calibration table and (with ``dirty``) the manifest."""

    out: Path
    people: int
    seed: int
    start: date
    end: date
    rows: dict[str, int]
    calibration: list[CalibrationRow]
    dirty_manifest: dict[str, dict[str, int]] | None
    uncoded_categories: tuple[str, ...]
    dropped_unrecorded: int
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


def simulate(
    *,
    people: int,
    seed: int,
    out: Path,
    start: date | None = None,
    end: date | None = None,
    dirty: bool = False,
    progress: ProgressCallback | None = None,
    config: SimulationConfig | None = None,
) -> SimulationSummary:
    """Simulate ``people`` people over ``[start, end)`` and write a contract data directory to ``out``.

    Parameters
    ----------
    people
        Number of people (persons rows before any planted defects).
    seed
        Seed of the single random generator; the same arguments give byte-identical files.
    out
        Output directory: ``persons``, ``events``, ``codes`` (Parquet, or CSV with ``dirty``) and
        ``_truth/`` (latent monthly rates, calibration table, dirty manifest), which the pipeline never reads.
    start, end
        First days of the first month and of the month after the last; default: four years ending on the
        first day of the current month (UTC).
    dirty
        Plant a known number of bad rows of each kind validation checks and write CSV (so unparseable
        values can be represented); the manifest goes to ``_truth/dirty_manifest.json``.
    progress
        Called with ``(stage, steps done, total steps)`` after each simulated month and stage.
    config
        Simulation parameters; defaults to :class:`SimulationConfig`.

    Raises
    ------
    SimulationError
        If ``people`` is below 100 or the window is not whole months of at least a year.
    """
    if people < 100:
        raise SimulationError(f"people must be at least 100; got {people}. Ask for a larger population.")
    cfg = config or SimulationConfig()
    window = make_window(start, end)
    began = time.perf_counter()
    out = Path(out)
    truth = out / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    codelists = load_codelists()
    stages = ("population", "events", "codes", "write", "calibration")

    total = window.n_months + len(stages)
    done = 0

    def step(stage: str) -> None:
        nonlocal done
        done += 1
        report(progress, stage, done, total)

    report(progress, "Simulating population", 0, total)
    pop = draw_population(cfg, rng, people, window)
    ids = id_array(pop)
    step("Simulating months")
    truth_path = truth / "latent_risk.parquet"
    with pq.ParquetWriter(truth_path, _TRUTH_SCHEMA, use_dictionary=False) as writer:

        def on_month(m: int, who: np.ndarray, ed: np.ndarray, ea: np.ndarray, amb: np.ndarray) -> None:
            month = pa.array(np.full(who.size, int(window.month_starts[m]), dtype=np.int32)).cast(pa.date32())
            writer.write_table(
                pa.table(
                    [ids.take(pa.array(who, type=pa.int32())), month, pa.array(ed.astype(np.float32)),
                     pa.array(ea.astype(np.float32)), pa.array(amb.astype(np.float32))],
                    schema=_TRUTH_SCHEMA,
                )
            )

        traj = simulate_trajectories(cfg, rng, pop, window, on_month=on_month, advance=lambda: step("Simulating months"))
        ev = build_event_rows(cfg, rng, pop, traj, window)
    step("Simulating codes")
    cd = build_code_rows(cfg, rng, pop, traj, window, codelists)
    step("Writing tables")
    tables = {"persons": persons_table(cfg, pop, traj), "events": events_table(cfg, ids, ev), "codes": codes_table(ids, cd)}
    rows = {name: t.num_rows for name, t in tables.items()}
    files: dict[str, Path] = {"latent_risk": truth_path}
    manifest = None
    if dirty:
        data, manifest = plant_defects(cfg, rng, tables, window.end)
        for name, table in data.items():
            path = out / f"{name}.csv"
            (out / f"{name}.parquet").unlink(missing_ok=True)
            pacsv.write_csv(table, path)
            files[name] = path
            rows[name] = table.num_rows
        (truth / "dirty_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        files["dirty_manifest"] = truth / "dirty_manifest.json"
    else:
        for name, table in tables.items():
            path = out / f"{name}.parquet"
            (out / f"{name}.csv").unlink(missing_ok=True)
            pq.write_table(table, path, **_PARQUET_OPTIONS[name])
            files[name] = path
    del tables
    step("Checking calibration")
    calibration = calibration_table(cfg, pop, traj, window, ev, cd)
    write_calibration(calibration, truth / "calibration.json")
    files["calibration"] = truth / "calibration.json"
    step("Simulated")

    return SimulationSummary(
        out=out,
        people=people,
        seed=seed,
        start=window.start,
        end=window.end,
        rows=rows,
        calibration=calibration,
        dirty_manifest=manifest,
        uncoded_categories=cd.uncoded_categories,
        dropped_unrecorded=ev.dropped_unrecorded + cd.dropped_unrecorded,
        seconds=time.perf_counter() - began,
        files=files,
    )


