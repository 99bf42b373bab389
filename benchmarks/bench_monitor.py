"""Benchmark `monitor` (feeds, codes, lag, drift) on a simulated population, and measure its false-positive rate over seeds.

Timing: each repeat runs :func:`serving.monitoring.run_monitor` in a fresh process on ``--data``
(simulated first with ``--people`` if absent), plus PSI drift over a population-sized frame of
``--features`` count features. Load averages are recorded before and after: the machine is shared.

False positives (``--fp-seeds``): simulate ``--fp-people`` people per seed over four years and run
the monitor at every month-end from the second year on; count runs with a critical alert.
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
from datetime import UTC, date, datetime
from pathlib import Path

from machine_info import describe

__all__ = ["main"]

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "monitor.json"
FP_RESULTS = HERE / "results" / "monitor_false_positives.json"
DEFAULT_DATA = Path("/work/data/sim1m")
START, END = date(2021, 1, 1), date(2025, 1, 1)


def _machine() -> dict[str, object]:
    import duckdb
    import pandas

    return describe(pandas=pandas.__version__, duckdb=duckdb.__version__)


def _cpu() -> float:
    """User plus system CPU seconds of this process (DuckDB's threads included): the work, whatever the load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_once(data: Path, features: int) -> dict[str, object]:
    """One monitor run on ``data`` and one drift measurement; times, peak memory, alert counts."""
    import numpy as np
    import pandas as pd

    from serving.monitoring import MonitorConfig, run_monitor
    from serving.monitoring.drift import check_drift

    cpu_start = _cpu()
    start = time.perf_counter()
    report = run_monitor(data, backtest=False)
    seconds = time.perf_counter() - start
    cpu_monitor = _cpu() - cpu_start
    people = int(pd.read_parquet(data / "persons.parquet", columns=["person_id"]).shape[0])
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(features)]
    reference = pd.DataFrame(rng.poisson(0.5, (people, features)), columns=names)
    current = pd.DataFrame(rng.poisson(0.55, (people, features)), columns=names)
    reference["neighbourhood"] = rng.integers(0, 19, people).astype(str)
    current["neighbourhood"] = rng.integers(0, 19, people).astype(str)
    cpu_drift_start = _cpu()
    started = time.perf_counter()
    check_drift(reference, current, reference_scores=rng.random(people), current_scores=rng.random(people),
                features=names, config=MonitorConfig())
    drift_seconds = time.perf_counter() - started
    cpu_drift = _cpu() - cpu_drift_start
    return {
        "seconds_monitor": round(seconds, 2),
        "seconds_by_step": {k: round(v, 2) for k, v in report.seconds.items()},
        "seconds_drift": round(drift_seconds, 2),
        "seconds_total": round(seconds + drift_seconds, 2),
        "cpu_seconds_monitor": round(cpu_monitor, 2),
        "cpu_seconds_drift": round(cpu_drift, 2),
        "people": people,
        "alerts": {s: sum(a.severity == s for a in report.alerts) for s in ("critical", "warning")},
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def _false_positives(seeds: int, people: int) -> dict[str, object]:
    from features.dates import add_months
    from features.simulation import simulate
    from serving.monitoring import run_monitor

    runs = judged = with_critical = with_warning = 0
    warnings: dict[str, int] = {}
    for seed in range(1, seeds + 1):
        with tempfile.TemporaryDirectory(prefix="bench_monitor_fp_") as tmp:
            simulate(people=people, seed=seed, out=Path(tmp), start=START, end=END)
            as_of = add_months(START, 12)
            while as_of <= END:
                report = run_monitor(Path(tmp), as_of=as_of, backtest=False)
                runs += 1
                judged += all(series.judged for series in report.feeds.settings)
                # a short_history alert before the lookback is covered is right, not a false alarm of the feed checks
                with_critical += any(a.kind != "short_history" for a in report.critical)
                with_warning += any(a.severity == "warning" for a in report.alerts)
                for alert in report.alerts:
                    if alert.severity == "warning":
                        warnings[alert.kind] = warnings.get(alert.kind, 0) + 1
                as_of = add_months(as_of, 1)
        print(f"seed {seed}/{seeds}: {runs} runs so far, {with_critical} with a critical alert", flush=True)
    return {
        "benchmark": "monitor false positives on clean simulated data: every month-end from the second year, several seeds",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "people_per_seed": people,
        "seeds": seeds,
        "window": [START.isoformat(), END.isoformat()],
        "runs": runs,
        "runs_with_every_setting_judged": judged,
        "runs_with_critical": with_critical,
        "critical_false_positive_rate": with_critical / runs,
        "critical_false_positive_rate_among_judged_runs": with_critical / judged if judged else None,
        "runs_with_warning": with_warning,
        "warning_rate": with_warning / runs,
        "warnings_by_kind": warnings,
    }


def main(argv: list[str] | None = None) -> None:
    """Time ``--repeats`` monitor runs (fresh processes) or, with ``--fp-seeds``, measure the false-positive rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data directory (simulated here if absent)")
    parser.add_argument("--people", type=int, default=1_000_000, help="people to simulate when --data is absent")
    parser.add_argument("--features", type=int, default=60, help="features in the drift frames")
    parser.add_argument("--repeats", type=int, default=3, help="number of timed runs")
    parser.add_argument("--results", type=Path, help="JSON file to write")
    parser.add_argument("--fp-seeds", type=int, default=0, help="measure the false-positive rate over this many seeds instead")
    parser.add_argument("--fp-people", type=int, default=10_000, help="people per seed for the false-positive rate")
    parser.add_argument("--once", action="store_true", help="internal: one run, JSON on stdout")
    args = parser.parse_args(argv)
    if args.once:
        print(json.dumps(_run_once(args.data, args.features)))
        return
    if args.fp_seeds:
        summary = _false_positives(args.fp_seeds, args.fp_people)
        target = args.results or FP_RESULTS
    else:
        if not (args.data / "events.parquet").exists():
            from features.simulation import simulate

            simulate(people=args.people, seed=7, out=args.data, start=START, end=END)
        load_before = os.getloadavg()
        runs = []
        for repeat in range(args.repeats):
            done = subprocess.run(
                [sys.executable, __file__, "--data", str(args.data), "--features", str(args.features), "--once"],
                capture_output=True, text=True, check=True,
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"run {repeat + 1}/{args.repeats}: {runs[-1]['seconds_total']} s", flush=True)
        summary = {
            "benchmark": "risingrisk monitor (serving.monitoring.run_monitor: feeds, codes, recording lag; no publications) "
                         "plus PSI drift of a population-sized frame",
            "data": str(args.data),
            "people": runs[0]["people"],
            "drift_features": args.features,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "seconds_total_median": statistics.median(r["seconds_total"] for r in runs),
            "seconds_monitor_median": statistics.median(r["seconds_monitor"] for r in runs),
            "seconds_drift_median": statistics.median(r["seconds_drift"] for r in runs),
            "cpu_seconds_median": statistics.median(r["cpu_seconds_monitor"] + r["cpu_seconds_drift"] for r in runs),
            "runs": runs,
            "target_seconds": 30,
        }
        target = args.results or RESULTS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
