"""Model variants on two structurally different simulated mechanisms: out-of-time AUROC, PPV at capacity, share of the oracle, calibration at the top.

Usage::

    python benchmarks/bench_model.py --people 100000 --section sim100k

For each mechanism (the project's simulator, ``features.simulation.simulate``; and the
self-exciting mechanism B, ``features.simulation.mechanism_b``) it simulates a population, builds
the training and validation feature table once, then fits each variant with the training stages
(same slices, same calibration choice, same evaluation rows) and records:

- ``raw_counts``: plain LightGBM (no constraints) on the raw setting count windows only;
- ``unconstrained``: all declared predictors, no monotone constraints;
- ``constrained``: all declared predictors with the declared directions (the product default);
- ``constrained_intermediate`` / ``constrained_advanced``: the same with LightGBM's less strict
  monotone methods (the default ``basic`` is the one that guarantees a present condition's
  contribution is never negative);
- ``constrained_candidates``: the default plus candidate predictors computed from the count
  windows (trajectory slope of urgent use; distinct services in the last 3 months).

Results merge into ``benchmarks/results/model.json`` with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from machine_info import describe

from features.build import build_features
from features.contract import SETTINGS
from features.dates import extract_date
from features.definitions import predictor_specs, window_name
from features.simulation import simulate
from features.simulation.mechanism_b import simulate_mechanism_b
from training.calibration import choose_calibration
from training.config import ExperimentConfig
from training.dataset import prepare
from training.evaluate import oracle_comparison
from training.fit import fit_risk_model
from training.metrics import evaluate_scores
from training.oracle import truth_path
from training.split import choose_index_dates, data_start

__all__ = ["candidate_columns", "run_mechanism", "main"]

RESULTS = Path(__file__).parent / "results" / "model.json"
START, END = date(2021, 1, 1), date(2025, 1, 1)
URGENT = ("ed", "emergency_admission", "ambulance", "nhs111")


def candidate_columns(frame: pd.DataFrame, windows: tuple[tuple[int, int], ...]) -> pd.DataFrame:
    """Candidate predictors from the count windows: least-squares slope of monthly urgent use over the windows' midpoints, and distinct services in the most recent window."""
    ordered = sorted(windows)
    mids = np.array([-(a + b) / 2.0 for a, b in ordered])
    centred = mids - mids.mean()
    rates = np.column_stack([
        sum(frame[window_name(s, w)].to_numpy(dtype=float) for s in URGENT) / (w[1] - w[0]) for w in ordered
    ])
    recent = ordered[0]
    return pd.DataFrame({
        "urgent_slope": rates @ centred / (centred @ centred),
        "settings_used_recent": sum((frame[window_name(s, recent)] > 0).astype(float) for s in SETTINGS),
    }, index=frame.index)


def _fit_and_measure(data: Any, config: ExperimentConfig, predictors: list[str], *, monotone: bool, data_dir: Path) -> dict[str, float]:
    view = type(data)(**{**data.__dict__, "X": data.frame[predictors]})
    specs = predictor_specs(config.features)
    model = fit_risk_model(view, config=config, specs=specs, monotone=monotone)
    rows = view.rows["calibrate"]
    choice = choose_calibration(
        model.predict_log_odds(view.X.iloc[rows]), view.y[rows], groups=view.persons[rows], methods=config.calibration.methods,
        folds=config.calibration.folds, seed=config.split.seed,
    )
    model.calibrator_ = choice.calibrator
    evaluated = view.rows["evaluate"]
    p = model.predict_proba(view.X.iloc[evaluated])[:, 1]
    ev = config.evaluation
    metrics = evaluate_scores(
        view.y[evaluated], p, groups=view.persons[evaluated], fractions=view.fractions, probabilistic=True,
        n_bootstrap=ev.n_bootstrap, ci_level=ev.ci_level, ece_bins=ev.ece_bins, seed=ev.seed,
    )
    oracle = oracle_comparison(truth_path(data_dir), view, p, metrics, config=config, feature_config=config.features)
    return {
        "auroc": metrics["auroc"].value, "auroc_low": metrics["auroc"].low, "auroc_high": metrics["auroc"].high,
        "ppv_capacity": metrics["ppv_capacity"].value, "ppv_capacity_low": metrics["ppv_capacity"].low, "ppv_capacity_high": metrics["ppv_capacity"].high,
        "ece": metrics["ece"].value, "calibration_slope": metrics["calibration_slope"].value,
        "listed_calibration_capacity": metrics["listed_calibration_capacity"].value,
        "oracle_auroc": oracle["oracle_auroc"], "oracle_ppv_capacity": oracle["oracle_ppv_capacity"],
        "share_of_oracle_auroc": oracle["ratio"],
        "share_of_oracle_ppv": metrics["ppv_capacity"].value / oracle["oracle_ppv_capacity"],
        "calibration_method": choice.method, "best_iteration": model.best_iteration_,
        "min_score": float(p.min()), "max_score": float(p.max()),
    }


def run_mechanism(data_dir: Path, config: ExperimentConfig) -> dict[str, Any]:
    """Every variant's out-of-time figures on one data directory."""
    feature_config = config.features
    dates = choose_index_dates(
        config.split, start=data_start(data_dir), data_end=extract_date(data_dir), outcome_window=feature_config.outcome_window,
        lookback_months=feature_config.lookback_months,
    )
    frame = build_features(data_dir, as_of=[*dates.train, *dates.valid], labels=True, config=feature_config)
    candidates = candidate_columns(frame, feature_config.windows)
    frame = pd.concat([frame, candidates], axis=1)
    declared = list(predictor_specs(feature_config))
    raw = [window_name(s, w) for s in SETTINGS for w in sorted(feature_config.windows)]
    data = prepare(frame, dates, predictors=declared, config=config)
    methods = {m: config.model_copy(update={"model": config.model.model_copy(update={"monotone_method": m})}) for m in ("intermediate", "advanced")}
    variants = {
        "raw_counts": (raw, False, config),
        "unconstrained": (declared, False, config),
        "constrained": (declared, True, config),
        "constrained_intermediate": (declared, True, methods["intermediate"]),
        "constrained_advanced": (declared, True, methods["advanced"]),
        "constrained_candidates": (declared + list(candidates.columns), True, config),
    }
    return {
        "index_dates": dates.as_dict(),
        "evaluate_rows": int(len(data.rows["evaluate"])),
        "evaluate_outcomes": int(data.y[data.rows["evaluate"]].sum()),
        "variants": {
            name: _fit_and_measure(data, variant_config, cols, monotone=mono, data_dir=data_dir)
            for name, (cols, mono, variant_config) in variants.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--section", required=True, help="key written in benchmarks/results/model.json")
    parser.add_argument("--n-bootstrap", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    config = ExperimentConfig.load({"evaluation": {"n_bootstrap": args.n_bootstrap}})
    machine = describe(load_average_at_start=os.getloadavg())
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-model-") as root:
        simulate(people=args.people, seed=args.seed, out=Path(root) / "main", start=START, end=END)
        results["simulator"] = run_mechanism(Path(root) / "main", config)
        simulate_mechanism_b(people=args.people, seed=args.seed, out=Path(root) / "b", start=START, end=END)
        results["mechanism_b"] = run_mechanism(Path(root) / "b", config)
    b = results["mechanism_b"]["variants"]
    section = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "people": args.people,
        "seed": args.seed,
        "window": [START.isoformat(), END.isoformat()],
        "machine": machine,
        "results": results,
        "mechanism_b_constrained_minus_raw_counts_auroc": b["constrained"]["auroc"] - b["raw_counts"]["auroc"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing[args.section] = section
    args.out.write_text(json.dumps(existing, indent=2, default=str) + "\n")
    summary = {m: {v: {k: (round(x, 4) if isinstance(x, float) else x) for k, x in r.items() if k in ("auroc", "ppv_capacity", "share_of_oracle_auroc", "share_of_oracle_ppv", "ece", "listed_calibration_capacity")} for v, r in res["variants"].items()} for m, res in results.items()}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
