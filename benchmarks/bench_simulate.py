"""Benchmark the simulator at scale: wall time (median of repeats), CPU time and peak memory of a child process.

Run at 1,000,000 people under the heavy-work lock:
``flock /work/heavy.lock python benchmarks/bench_simulate.py --people 1000000 --repeats 3``.
Each repeat runs ``simulate`` in a fresh child process (so peak RSS is that run's alone, read from
``os.wait4``) and writes to ``benchmarks/work/`` (ignored by git). Results go to
``benchmarks/results/simulate.json`` with the machine (CPU model, cores, RAM) and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

from machine_info import describe

import pyarrow.parquet as pq

__all__ = ["main", "machine", "run_once"]

ROOT = Path(__file__).resolve().parent
TARGET_SECONDS = 180.0
TARGET_PEAK_GIB = 8.0
_CHILD = (
    "import sys; from datetime import date; from pathlib import Path; from features.simulation import simulate; "
    "simulate(people=int(sys.argv[1]), seed=int(sys.argv[2]), out=Path(sys.argv[3]), "
    "start=date.fromisoformat(sys.argv[4]), end=date.fromisoformat(sys.argv[5]))"
)


def machine() -> dict[str, object]:
    """CPU model, cores available to this process, total RAM and Python/platform versions."""
    return describe()


def run_once(people: int, seed: int, out: Path, start: date, end: date) -> dict[str, float]:
    """Simulate once in a child process; return wall seconds, CPU seconds and peak RSS (GiB)."""
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(people), str(seed), str(out), start.isoformat(), end.isoformat()])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the simulation child must exit 0; got {child.returncode}. Run it directly to see the error.")
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_gib": round(usage.ru_maxrss / 2**20, 3),  # ru_maxrss is KiB on Linux
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Parse arguments, run the repeats, write and return the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000, help="people to simulate (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="number of runs; the median wall time is reported")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2021, 1, 1), help="window start (first of a month)")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 1, 1), help="window end (first of a month)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "simulate.json", help="results JSON")
    args = parser.parse_args(argv)
    work = ROOT / "work" / "simulate"
    runs = []
    for k in range(args.repeats):
        run = run_once(args.people, args.seed, work, args.start, args.end)
        run["rows"] = {name: pq.ParquetFile(work / f"{name}.parquet").metadata.num_rows for name in ("persons", "events", "codes")}
        runs.append(run)
        print(f"run {k + 1}/{args.repeats}: {run}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    median = statistics.median(r["wall_seconds"] for r in runs)
    peak = max(r["peak_rss_gib"] for r in runs)
    result = {
        "benchmark": "simulate",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "people": args.people,
        "window": [args.start.isoformat(), args.end.isoformat()],
        "repeats": args.repeats,
        "wall_seconds_median": median,
        "cpu_seconds_median": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_rss_gib": peak,
        "target": {"wall_seconds": TARGET_SECONDS, "peak_rss_gib": TARGET_PEAK_GIB},
        "passed": median < TARGET_SECONDS and peak < TARGET_PEAK_GIB,
        "load_average_at_end": list(os.getloadavg()),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("people", "wall_seconds_median", "cpu_seconds_median", "peak_rss_gib", "passed")}))
    return result


if __name__ == "__main__":
    main()
