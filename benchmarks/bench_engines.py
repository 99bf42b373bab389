"""Benchmark the feature engines side by side: DuckDB and Spark local[2] on the same populations, one index date each.

Run above 250,000 people only under the heavy-work lock::

    flock /work/heavy.lock python benchmarks/bench_engines.py --people 250000 1000000

For each population size it simulates (or reuses, under ``--workdir``) a data directory, then builds
the feature table (labels included, collected to pandas) once per engine per repeat, each in a fresh
subprocess. Peak memory is the largest sum of resident memory over the subprocess and all its
descendants (the Spark JVM included), sampled every 0.1 s. Results go to
``benchmarks/results/engines.json`` with the machine, load averages and date.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import psutil

from machine_info import describe

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results" / "engines.json"
DEFAULT_PEOPLE = (250_000, 1_000_000, 2_000_000, 4_000_000)
SIM_START, SIM_END = date(2021, 1, 1), date(2025, 1, 1)
SEED = 14
#: The Spark side: two local cores (as DuckDB's two threads), driver memory sized for 4M people.
SPARK = {"master": "local[2]", "driver_memory": "12g"}


def _child(engine: str, data: str, as_of: str) -> None:
    """Build the features in this process and print wall times and rows as JSON."""
    from features.build import build_features
    from features.config import FeatureConfig

    started = time.perf_counter()
    if engine == "duckdb":
        ready = started
        rows = len(build_features(Path(data), as_of=as_of, labels=True, config=FeatureConfig(threads=2)))
        done = time.perf_counter()
        rows_again = len(build_features(Path(data), as_of=as_of, labels=True, config=FeatureConfig(threads=2)))
    else:
        from features.engines.spark import build_features as spark_build
        from features.engines.spark_session import SparkSettings, spark_session

        spark = spark_session(SparkSettings(**SPARK))
        ready = time.perf_counter()
        rows = len(spark_build(Path(data), spark=spark, as_of=as_of, labels=True))
        done = time.perf_counter()
        rows_again = len(spark_build(Path(data), spark=spark, as_of=as_of, labels=True))
        spark.stop()
    again = time.perf_counter() - done
    if rows_again != rows:
        raise RuntimeError(f"the second build must give the same rows as the first; got {rows_again} and {rows}")
    print(json.dumps({"startup_s": ready - started, "build_s": done - ready, "warm_build_s": again, "rows": rows}))


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in (process, *process.children(recursive=True)):
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _measure(engine: str, data: Path, as_of: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", engine, "--data", str(data), "--as-of", as_of]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watched = psutil.Process(child.pid)
    peak = [0]

    def sample() -> None:
        while child.poll() is None:
            try:
                peak[0] = max(peak[0], _tree_rss(watched))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    out, _ = child.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{engine} build on {data} must succeed; it exited with {child.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    return {**result, "process_s": wall, "peak_gib": peak[0] / 2**30}


def _population(workdir: Path, people: int) -> tuple[Path, dict[str, int]]:
    from features.simulation import simulate

    out = workdir / f"sim{people}"
    if not (out / "persons.parquet").exists():
        simulate(people=people, seed=SEED, out=out, start=SIM_START, end=SIM_END)
    import duckdb

    with duckdb.connect() as con:
        counts = {
            name: con.sql(f"SELECT COUNT(*) FROM read_parquet('{out}/{name}.parquet')").fetchall()[0][0]
            for name in ("persons", "events", "codes")
        }
    return out, counts


def _summary(runs: list[dict[str, float]]) -> dict[str, object]:
    build = [r["build_s"] for r in runs]
    return {
        "rows": runs[0]["rows"],
        "build_s_runs": [round(s, 2) for s in build],
        "build_s_median": round(statistics.median(build), 2),
        "warm_build_s_median": round(statistics.median(r["warm_build_s"] for r in runs), 2),
        "startup_s_median": round(statistics.median(r["startup_s"] for r in runs), 2),
        "process_s_median": round(statistics.median(r["process_s"] for r in runs), 2),
        "peak_gib": round(max(r["peak_gib"] for r in runs), 2),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark and write ``benchmarks/results/engines.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=list(DEFAULT_PEOPLE))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_engines"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["duckdb", "spark"])
    parser.add_argument("--data")
    parser.add_argument("--as-of")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.data, args.as_of)
        return {}

    import duckdb
    import pyspark

    from features.dates import add_months, extract_date

    result: dict[str, object] = {
        "benchmark": "engines",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": describe(
            duckdb_threads=2, spark=SPARK, load_average_at_start=list(os.getloadavg()),
            duckdb=duckdb.__version__, pyspark=pyspark.__version__,
        ),
        "what": (
            "feature table for one index date (labels included) collected to pandas; build_s is the first build in a "
            "fresh process (Spark's JVM start is startup_s, apart), warm_build_s the same build again in that process"
        ),
        "sizes": [],
    }
    for people in args.people:
        data, counts = _population(args.workdir, people)
        as_of = add_months(extract_date(data), -18).isoformat()
        row: dict[str, object] = {"people": people, "rows_in": counts, "as_of": as_of}
        for engine in ("duckdb", "spark"):
            row[engine] = _summary([_measure(engine, data, as_of) for _ in range(args.repeats)])
            row[engine]["people_per_core_s"] = round(people / row[engine]["build_s_median"] / 2)
            row[engine]["people_per_core_s_warm"] = round(people / row[engine]["warm_build_s_median"] / 2)
        row["duckdb_over_spark_s"] = round(row["duckdb"]["build_s_median"] / row["spark"]["build_s_median"], 3)
        row["duckdb_over_spark_s_warm"] = round(row["duckdb"]["warm_build_s_median"] / row["spark"]["warm_build_s_median"], 3)
        row["duckdb_over_spark_peak"] = round(row["duckdb"]["peak_gib"] / row["spark"]["peak_gib"], 3)
        row["load_average_after"] = list(os.getloadavg())
        result["sizes"].append(row)
        print(json.dumps(row), flush=True)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
