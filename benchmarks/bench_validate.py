"""Benchmark `validate` on a shared simulated data directory; record the median wall time and peak memory."""

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
from datetime import UTC, datetime
from pathlib import Path

from machine_info import describe

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results" / "validate.json"
DEFAULT_DATA = Path("/work/data/sim1m")


def _machine() -> dict[str, object]:
    import pandas
    import pyarrow

    return describe(pandas=pandas.__version__, pyarrow=pyarrow.__version__)


def _run_once(data: Path) -> dict[str, object]:
    """Validate ``data`` into a temporary folder; return the time, peak memory and row counts."""
    from features.validate import validate

    with tempfile.TemporaryDirectory(prefix="bench_validate_") as out:
        start = time.perf_counter()
        report = validate(data, out=Path(out))
        seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": round(seconds, 2),
        "peak_rss_gib": round(peak_kib / 2**20, 2),
        "rows_read": {name: table.rows_read for name, table in report.tables.items()},
        "rows_quarantined": {name: table.rows_quarantined for name, table in report.tables.items()},
    }


def main(argv: list[str] | None = None) -> None:
    """Run ``--repeats`` validations, each in a fresh process, and write the summary to ``--results``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data directory to validate (read only)")
    parser.add_argument("--repeats", type=int, default=3, help="number of timed runs")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to write")
    parser.add_argument("--once", action="store_true", help="internal: one run, JSON on stdout")
    args = parser.parse_args(argv)
    if args.once:
        print(json.dumps(_run_once(args.data)))
        return
    runs = []
    for repeat in range(args.repeats):
        done = subprocess.run(
            [sys.executable, __file__, "--data", str(args.data), "--once"], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"run {repeat + 1}/{args.repeats}: {runs[-1]['seconds']} s, peak {runs[-1]['peak_rss_gib']} GiB", flush=True)
    summary = {
        "benchmark": "risingrisk validate (features.validate.validate), Parquet input, output to a temporary folder",
        "data": str(args.data),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "rows_read": runs[0]["rows_read"],
        "rows_quarantined": runs[0]["rows_quarantined"],
        "seconds_median": statistics.median(run["seconds"] for run in runs),
        "seconds_runs": [run["seconds"] for run in runs],
        "peak_rss_gib_max": max(run["peak_rss_gib"] for run in runs),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
