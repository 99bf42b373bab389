"""Run every benchmark the issues name, in pipeline order, on one simulated population; then write RESULTS.md.

Usage (from the repository root, in the project's virtual environment)::

    python benchmarks/run_all.py                    # 1,000,000 people, as the issues ask (about an hour on 2 cores)
    python benchmarks/run_all.py --people 100000 --quick   # a smoke run of the same steps

Steps: simulate the population once into ``benchmarks/work/`` (ignored by git); the simulator
benchmark; validate; features (one and eight index dates, pandas reference ratio); a full train
(features included) into a benchmark home, then promote; scoring, explanations and TreeSHAP
against shap; publish; the service under load with wrk; the impact estimator's bias and CI coverage
against planted rate ratios (``bench_impact.py``, on its own 40,000- and 20,000-person populations,
whatever ``--people`` says; label ``run_all``). Each step writes its own
``benchmarks/results/NAME.json`` (median of runs, machine, date); ``benchmarks/summary.py`` then
writes ``benchmarks/RESULTS.md``. Each step holds ``/work/heavy.lock``-style exclusivity by
running alone; do not run other heavy work at the same time, or the numbers are not the machine's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
SEED = 7


def _run(argv: list[str], env: dict[str, str]) -> None:
    print(f"\n$ {' '.join(argv)}", flush=True)
    started = time.perf_counter()
    subprocess.run(argv, check=True, cwd=ROOT, env=env)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks and write ``benchmarks/RESULTS.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000, help="population size for every benchmark")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one repeat each and a short load test, results in benchmarks/work/results-quick (smoke run)",
    )
    parser.add_argument("--results", type=Path, help="results folder (default benchmarks/results)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["simulate", "validate", "features", "train", "score", "service", "impact"],
        help="run only these steps (the population and the benchmark home are reused when present)",
    )
    args = parser.parse_args(argv)
    steps = set(args.only or ["simulate", "validate", "features", "train", "score", "service", "impact"])
    repeats = "1" if args.quick else "3"
    results = args.results or (WORK / "results-quick" if args.quick else HERE / "results")
    python = sys.executable
    cli = [python, "-m", "risingrisk"]
    data = WORK / f"sim{args.people}"
    home = WORK / f"home{args.people}"
    env = {**os.environ, "RISINGRISK_HOME": str(home)}

    if not (data / "persons.parquet").exists():
        _run([*cli, "simulate", "--people", str(args.people), "--seed", str(SEED), "--out", str(data)], env)
    if "simulate" in steps:
        _run([python, "benchmarks/bench_simulate.py", "--people", str(args.people), "--repeats", repeats,
              "--out", str(results / "simulate.json")], env)
    if "validate" in steps:
        _run([python, "benchmarks/bench_validate.py", "--data", str(data), "--repeats", repeats,
              "--results", str(results / "validate.json")], env)
    if "features" in steps:
        _run([python, "benchmarks/bench_features.py", "--data", str(data), "--repeats", repeats,
              "--reference-people", str(min(100_000, args.people)), "--out", str(results / "features.json")], env)
    if "train" in steps:
        _run([python, "benchmarks/bench_train.py", "--data", str(data), "--section", f"benchmark_{args.people}",
              "--out", str(results / "train.json")], env)
    if steps & {"score", "service"} and not (home / "mlflow.db").exists():
        _run([*cli, "train", "--data", str(data)], env)
        _run([*cli, "promote"], env)
    if "score" in steps:
        _run([python, "benchmarks/bench_score.py", "--data", str(data), "--repeats", repeats,
              "--out", str(results / "score.json")], env)
    if "service" in steps:
        if not (home / "publications" / "CURRENT").exists():
            _run([*cli, "score", "--data", str(data)], env)
        seconds = ["--seconds", "5", "--long-seconds", "30"] if args.quick else []
        _run([python, "benchmarks/bench_service.py", "--home", str(home), *seconds,
              "--out", str(results / "service.json")], env)
    if "impact" in steps:
        few = ["--seeds", "1", "--ratios", "0.7", "1.0"] if args.quick else []
        _run([python, "benchmarks/bench_impact.py", "--label", "run_all", "--estimator", "the current defaults (run_all.py)", *few,
              "--out", str(results / "impact_bias.json")], env)
    _run([python, "benchmarks/summary.py", "--results", str(results), *([] if results == HERE / "results" else ["--no-readme"])], env)


if __name__ == "__main__":
    main()
