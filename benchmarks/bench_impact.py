"""Measure the impact estimator's bias and CI coverage against planted rate ratios on two population mechanisms.

For each mechanism, true rate ratio (``--ratios``) and replicate (``--seeds``), a fresh population
is simulated with its own seed (so every run is independent), a caseload enrolment after bursts of
A&E use is planted with :func:`features.simulation.enrolment.enrol_after_bursts` (every later
urgent-care event of an enrolled person kept with probability = the true ratio), and
:func:`training.impact.evaluate_impact` estimates the effect. Recorded per run: the A&E and
emergency-admission rate ratios with their bootstrap 95% CIs, whether the CI covers the truth, and
the naive before/after ratio, and how the controls were weighted (exact or approximate entropy
balancing or the matching weights; the tolerance; the least achievable and the reached largest
|SMD|; the controls' effective sample size). Per mechanism: the mean estimate per ratio, the mean
error, the bias factor ``exp(mean log(estimate / truth))`` with its 95% CI (1 = unbiased; above 1 =
towards the null for true ratios below 1), the coverage count and a balance summary.

Mechanisms (structurally different population processes, the same planting function):

- ``simulator``: :func:`features.simulation.simulate` (health states, crisis episodes; its own pathway
  off), 40,000 people (the tests' size).
- ``mechanism_b``: :func:`features.simulation.mechanism_b.simulate_mechanism_b` (self-exciting use, no
  health states), 20,000 people.

Both plant the rule of ``tests/impact_support.planted_population``: enrolment in the month after
>= 2 A&E attendances in a calendar month, with probability 0.6 (with 3 attendances only ~50 of
20,000 mechanism-B people are enrolled; with probability 0.8 only ~150 people with a burst stay
unenrolled among 40,000, too few valid controls to balance the model's ~100 features).

A run whose evaluation stops with an error (e.g. no enrolled person has a matched control) is
recorded with the error and left out of the summary.

Run from the repository root with ``PYTHONPATH=. python benchmarks/bench_impact.py --label after
--estimator "..."`` (about 3 minutes on 2 cores with the defaults). Each label's results replace that
label's entry in ``benchmarks/results/impact_bias.json`` and other labels are kept, so the estimator
before and after a change can be recorded side by side: for the ``before`` entry, point
``PYTHONPATH`` at a checkout of the older commit (``git archive OLD | tar -x -C /tmp/old``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import time
from datetime import date, datetime, timezone
from pathlib import Path

from machine_info import describe

from features.simulation import SimulationConfig, simulate
from features.simulation.enrolment import enrol_after_bursts
from features.simulation.mechanism_b import simulate_mechanism_b
from training.impact import ImpactConfig, evaluate_impact

__all__ = ["main", "run_one", "summarise"]

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "impact_bias.json"
START, END = date(2021, 1, 1), date(2025, 1, 1)
FIRST_ENROLMENT, LAST_ENROLMENT = date(2021, 10, 1), date(2023, 12, 1)
WINDOW = {"enrol_from": date(2022, 1, 1), "enrol_to": date(2023, 12, 1)}
#: Planting rule per mechanism: (A&E attendances in a calendar month that make a burst, enrolment probability).
RULES = {"simulator": (2, 0.6), "mechanism_b": (2, 0.6)}
MEASURES = ("ed", "emergency_admission")


def _simulate(mechanism: str, people: int, seed: int, out: Path) -> None:
    if mechanism == "simulator":
        simulate(people=people, seed=seed, out=out, start=START, end=END, config=SimulationConfig(icp_per_month_in_crisis=0.0))
    else:
        simulate_mechanism_b(people=people, seed=seed, out=out, start=START, end=END)


def run_one(mechanism: str, people: int, seed: int, rate_ratio: float, work: Path) -> dict[str, object]:
    """Simulate, plant ``rate_ratio`` and estimate it; one row of the results table."""
    out = work / f"{mechanism}_{seed}"
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    _simulate(mechanism, people, seed, out)
    threshold, probability = RULES[mechanism]
    truth = enrol_after_bursts(out, seed=seed, rate_ratio=rate_ratio, first_month=FIRST_ENROLMENT, last_month=LAST_ENROLMENT,
                               burst_threshold=threshold, probability=probability)
    row: dict[str, object] = {
        "mechanism": mechanism, "people": people, "seed": seed, "true_rate_ratio": rate_ratio, "planted_enrolments": truth.enrolled,
    }
    try:
        result = evaluate_impact(out, config=ImpactConfig(**WINDOW))
    except ValueError as error:  # ImpactError and numerical failures: recorded, not hidden
        return row | {"error": f"{type(error).__name__}: {error}", "seconds": round(time.perf_counter() - began, 1)}
    finally:
        shutil.rmtree(out, ignore_errors=True)
    row |= {
        "matched_enrolled": result.n_enrolled, "unmatched_enrolled": result.unmatched, "controls": result.n_controls,
        "balance_weighting": result.balancing.method, "balance_tolerance": result.balancing.tolerance,
        "least_achievable_smd": round(result.balancing.least_achievable_smd, 4), "max_abs_smd_after": round(result.max_smd_after, 4),
        "max_abs_smd_matching_weights": round(result.balancing.max_smd_matching, 4),
        "ess_controls": round(result.balancing.ess, 1), "ess_controls_matching_weights": round(result.balancing.ess_matching, 1),
        "seconds": round(time.perf_counter() - began, 1),
    }
    for name in MEASURES:
        est = result.measures[name]
        row[name] = {
            "estimate": round(est.rate_ratio, 4), "ci_low": round(est.ci_low, 4), "ci_high": round(est.ci_high, 4),
            "covers_truth": bool(est.ci_low <= rate_ratio <= est.ci_high), "naive_before_after": round(result.naive[name], 4),
        }
    return row


def summarise(runs: list[dict[str, object]]) -> dict[str, object]:
    """Per mechanism and measure: mean estimate per true ratio, bias factor (with SE) and coverage."""
    out: dict[str, object] = {}
    for mechanism in sorted({str(r["mechanism"]) for r in runs}):
        mine = [r for r in runs if r["mechanism"] == mechanism and "error" not in r]
        failed = sum(1 for r in runs if r["mechanism"] == mechanism and "error" in r)
        if not mine:
            out[mechanism] = {"runs_failed": failed}
            continue
        per_measure: dict[str, object] = {"balance": _balance_summary(mine)}
        for name in MEASURES:
            logs = [math.log(r[name]["estimate"] / r["true_rate_ratio"]) for r in mine]
            by_ratio = {}
            for ratio in sorted({float(r["true_rate_ratio"]) for r in mine}):
                these = [r for r in mine if r["true_rate_ratio"] == ratio]
                by_ratio[str(ratio)] = {
                    "runs": len(these),
                    "mean_estimate": round(statistics.fmean(r[name]["estimate"] for r in these), 4),
                    "mean_error": round(statistics.fmean(r[name]["estimate"] - ratio for r in these), 4),
                    "mean_ci": [round(statistics.fmean(r[name]["ci_low"] for r in these), 4),
                                round(statistics.fmean(r[name]["ci_high"] for r in these), 4)],
                    "covered": sum(r[name]["covers_truth"] for r in these),
                    "mean_naive_before_after": round(statistics.fmean(r[name]["naive_before_after"] for r in these), 4),
                }
            se = statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else float("nan")
            per_measure[name] = {
                "bias_factor": round(math.exp(statistics.fmean(logs)), 4),
                "bias_factor_95ci": [round(math.exp(statistics.fmean(logs) - 1.96 * se), 4), round(math.exp(statistics.fmean(logs) + 1.96 * se), 4)],
                "largest_abs_error": round(max(abs(r[name]["estimate"] - r["true_rate_ratio"]) for r in mine), 4),
                "coverage": f"{sum(r[name]['covers_truth'] for r in mine)}/{len(mine)}",
                "runs_failed": failed,
                "by_true_ratio": by_ratio,
            }
        out[mechanism] = per_measure
    return out


def _balance_summary(runs: list[dict[str, object]]) -> dict[str, object]:
    """How the runs' controls were weighted: runs per method, range of the largest |SMD| after, effective sample size share."""
    smd = [float(r["max_abs_smd_after"]) for r in runs]
    share = [float(r["ess_controls"]) / float(r["controls"]) for r in runs]
    return {
        "runs_by_weighting": {m: sum(r["balance_weighting"] == m for r in runs) for m in sorted({str(r["balance_weighting"]) for r in runs})},
        "max_abs_smd_after_range": [round(min(smd), 4), round(max(smd), 4)],
        "runs_over_0_1": sum(v >= 0.1 for v in smd),
        "ess_over_control_people_range": [round(min(share), 3), round(max(share), 3)],
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Parse arguments, run every mechanism x ratio x seed, write the labelled entry and return it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="name of this entry, e.g. 'before' or 'after'")
    parser.add_argument("--estimator", default="", help="what this entry measures (e.g. the commit and its design), stored with it")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.7, 0.85, 1.0], help="true rate ratios to plant")
    parser.add_argument("--seeds", type=int, default=3, help="replicates (independent populations) per mechanism and ratio")
    parser.add_argument("--simulator-people", type=int, default=40_000, help="people per simulator population (the tests' size)")
    parser.add_argument("--mechanism-b-people", type=int, default=20_000, help="people per mechanism B population")
    parser.add_argument("--mechanisms", nargs="+", default=list(RULES), choices=list(RULES), help="mechanisms to run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (entries of other labels are kept)")
    args = parser.parse_args(argv)
    work = HERE / "work" / "impact"
    work.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, object]] = []
    began = time.perf_counter()
    entry: dict[str, object] = {}
    for mechanism in args.mechanisms:
        people = args.simulator_people if mechanism == "simulator" else args.mechanism_b_people
        for k, ratio in enumerate(args.ratios):
            for replicate in range(args.seeds):
                row = run_one(mechanism, people, 1000 + 100 * k + replicate, ratio, work)
                runs.append(row)
                print(json.dumps(row), flush=True)
                entry = _write(args.out, args.label, args.estimator, runs, time.perf_counter() - began)  # after every run: a stopped run keeps its rows
    print(json.dumps(entry["summary"], indent=2))
    return entry


def _write(path: Path, label: str, estimator: str, runs: list[dict[str, object]], seconds: float) -> dict[str, object]:
    """Replace ``label``'s entry in the results JSON (other labels kept); return the entry."""
    entry = {
        "estimator": estimator,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": describe(),
        "seconds": round(seconds, 1),
        "window": {k: v.isoformat() for k, v in WINDOW.items()},
        "rules": {m: {"burst_threshold": t, "probability": p} for m, (t, p) in RULES.items()},
        "summary": summarise(runs),
        "runs": runs,
    }
    document = json.loads(path.read_text()) if path.exists() else {}
    document = {"benchmark": "impact_bias", "description": __doc__.splitlines()[0], "entries": {**document.get("entries", {}), label: entry}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n")
    return entry


if __name__ == "__main__":
    main()
