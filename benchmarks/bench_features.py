"""Benchmark the feature builder: one and eight index dates on a large population, and the pandas reference ratio.

Run above 200,000 people only under the heavy-work lock::

    flock /work/heavy.lock python benchmarks/bench_features.py --data /work/data/sim1m

Each measured build runs in a fresh subprocess (DuckDB threads = 2) so its peak resident memory is
its own; results go to ``benchmarks/results/features.json`` with the median, machine and date.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from machine_info import describe

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results" / "features.json"
#: Targets from issue 3.
TARGETS = {"one_as_of_s": 20.0, "one_as_of_peak_gib": 6.0, "eight_as_of_s": 120.0}


def _dates(data: Path, n: int) -> list[str]:
    from features.dates import add_months, extract_date

    end = extract_date(data)
    return [add_months(end, -18 - 3 * i).isoformat() for i in range(n)]


def _child(kind: str, data: str, dates: list[str]) -> None:
    """Run one build in this process and print its wall time, rows and peak memory as JSON."""
    from features.build import build_features
    from features.dates import extract_date
    from features.reference import reference_features

    as_of = [date.fromisoformat(d) for d in dates]
    started = time.perf_counter()
    if kind == "duckdb":
        rows = len(build_features(Path(data), as_of=as_of, labels=True))
    else:
        rows = len(reference_features(Path(data), as_of, data_end=extract_date(Path(data))))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_gib": peak}))


def _measure(kind: str, data: Path, dates: list[str]) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", kind, "--data", str(data), "--dates", *dates]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def _runs(kind: str, data: Path, dates: list[str], repeats: int) -> dict[str, object]:
    runs = [_measure(kind, data, dates) for _ in range(repeats)]
    seconds = [r["seconds"] for r in runs]
    return {
        "dates": dates,
        "rows": runs[0]["rows"],
        "runs_s": [round(s, 2) for s in seconds],
        "median_s": round(statistics.median(seconds), 2),
        "peak_gib": round(max(r["peak_gib"] for r in runs), 2),
    }


def _subset(data: Path, people: int, out: Path) -> Path:
    """Write the first ``people`` persons of ``data`` and their events and codes to ``out``."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(config={"threads": "2"}) as con:
        con.execute(
            f"CREATE TEMP TABLE ids AS SELECT person_id FROM read_parquet('{data}/persons.parquet') "
            f"ORDER BY person_id LIMIT {people}"
        )
        for name in ("persons", "events", "codes"):
            con.execute(
                f"COPY (SELECT t.* FROM read_parquet('{data}/{name}.parquet') t SEMI JOIN ids USING (person_id)) "
                f"TO '{out}/{name}.parquet' (FORMAT parquet)"
            )
    return out


def _machine() -> dict[str, object]:
    import duckdb
    import pandas

    return describe(
        duckdb_threads=2, load_average_at_start=os.getloadavg()[0], duckdb=duckdb.__version__, pandas=pandas.__version__
    )


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark and write ``benchmarks/results/features.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/data/sim1m"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-people", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["duckdb", "pandas"])
    parser.add_argument("--dates", nargs="*")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, str(args.data), args.dates)
        return {}

    import duckdb

    with duckdb.connect() as con:
        people, events = (
            con.sql(f"SELECT (SELECT COUNT(*) FROM read_parquet('{args.data}/persons.parquet')), "
                    f"(SELECT COUNT(*) FROM read_parquet('{args.data}/events.parquet'))").fetchall()[0]
        )
    result: dict[str, object] = {
        "benchmark": "features",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "dataset": {"path": str(args.data), "people": people, "events": events},
        "targets": TARGETS,
    }
    result["one_as_of"] = _runs("duckdb", args.data, _dates(args.data, 1), args.repeats)
    result["eight_as_of"] = _runs("duckdb", args.data, _dates(args.data, 8), args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        subset = _subset(args.data, args.reference_people, Path(tmp) / "subset")
        dates = _dates(subset, 1)
        duck = _runs("duckdb", subset, dates, args.repeats)
        pandas_ = _runs("pandas", subset, dates, 1)
    result["reference"] = {
        "people": args.reference_people, "dates": dates, "duckdb_median_s": duck["median_s"],
        "pandas_s": pandas_["median_s"], "pandas_over_duckdb": round(pandas_["median_s"] / duck["median_s"], 1),
    }
    result["passed"] = {
        "one_as_of_s": result["one_as_of"]["median_s"] < TARGETS["one_as_of_s"],
        "one_as_of_peak_gib": result["one_as_of"]["peak_gib"] < TARGETS["one_as_of_peak_gib"],
        "eight_as_of_s": result["eight_as_of"]["median_s"] < TARGETS["eight_as_of_s"],
    }
    result["machine"]["load_average_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
