"""Benchmark and acceptance record for ``risingrisk train``: wall time per stage, peak memory and the out-of-time comparison.

Usage (runs above 200,000 people must hold the heavy-work lock)::

    flock /work/heavy.lock python benchmarks/bench_train.py --data /work/data/sim1m --section benchmark_1m
    python benchmarks/bench_train.py --data /work/data/sim200k --section acceptance_200k

Each call runs the full pipeline (features for the training and validation dates included) in a
fresh temporary risingrisk home and merges one section into ``benchmarks/results/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from machine_info import describe
from typing import Any

from features.home import home
from training.config import load_config
from training.evaluate import MODELS
from training.train import TrainResult, train

__all__ = ["acceptance", "main"]

RESULTS = Path(__file__).parent / "results" / "train.json"
BASELINES = ("ed_count", "herts_segmentation", "logistic")


def _machine() -> dict[str, Any]:
    return describe(load_average_at_start=os.getloadavg())


def acceptance(result: TrainResult, *, slope_range: tuple[float, float]) -> dict[str, Any]:
    """The issue's acceptance checks on one run, with every number and interval behind them."""
    ours = result.metrics["lightgbm"]
    checks: dict[str, bool] = {}
    for key in BASELINES:
        theirs = result.metrics[key]
        checks[f"auroc_beats_{key}"] = ours["auroc"].value > theirs["auroc"].value
        checks[f"ppv_capacity_beats_{key}"] = ours["ppv_capacity"].value > theirs["ppv_capacity"].value
    ed = result.metrics["ed_count"]
    checks["auroc_ci_clear_of_ed_count"] = ours["auroc"].low > ed["auroc"].high
    checks["ppv_capacity_ci_clear_of_ed_count"] = ours["ppv_capacity"].low > ed["ppv_capacity"].high
    low, high = slope_range
    checks["calibration_slope_in_range"] = low <= ours["calibration_slope"].value <= high
    return {
        "passed": all(checks.values()),
        "checks": checks,
        "metrics": {
            MODELS[key]: {name: ci.as_dict() for name, ci in values.items()} for key, values in result.metrics.items()
        },
        "oracle": result.oracle,
        "calibration_method": result.calibration_method,
        "capacity_fraction": result.capacity_fraction,
        "equity_passed": result.equity_passed,
        "equity_failures": list(result.equity_failures),
        "index_dates": result.index_dates,
        "slices": json.loads(result.slices.to_json(orient="records")),
    }


def _fingerprint(data_dir: Path) -> dict[str, float]:
    return {str(p.relative_to(data_dir)): p.stat().st_mtime for p in sorted(data_dir.rglob("*.parquet"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="simulated data directory")
    parser.add_argument("--config", type=Path, default=Path("experiments/default.toml"))
    parser.add_argument("--section", required=True, help="key written in benchmarks/results/train.json")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (sections are merged into it)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs; the median is recorded")
    parser.add_argument("--source", default=None, help="where --data came from, if it is a copy (recorded)")
    args = parser.parse_args()
    config = load_config(args.config)
    machine = _machine()
    totals, runs = [], []
    fingerprint = _fingerprint(args.data)
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-train-") as root:
            started = time.perf_counter()
            result = train(args.data, config, home=home(root))
            totals.append(time.perf_counter() - started)
            runs.append({k: round(v, 2) for k, v in result.seconds.items()})
    if _fingerprint(args.data) != fingerprint:
        raise SystemExit(f"{args.data} changed while the benchmark ran (regenerated?); nothing recorded. Run again.")
    section = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": str(args.data),
        "data_source": args.source or str(args.data),
        "config": str(args.config),
        "machine": machine,
        "repeats": args.repeats,
        "seconds_median": round(statistics.median(totals), 1),
        "seconds_all": [round(t, 1) for t in totals],
        "stage_seconds": runs,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "acceptance": acceptance(result, slope_range=config.promotion.slope_range),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing[args.section] = section
    args.out.write_text(json.dumps(existing, indent=2, default=str) + "\n")
    print(json.dumps({k: section[k] for k in ("seconds_median", "peak_rss_gib")} | {"acceptance": section["acceptance"]["checks"], "oracle": result.oracle}, indent=2, default=str))


if __name__ == "__main__":
    main()
