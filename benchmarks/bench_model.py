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
  windows (trajectory slope of urgent use; distinct services in the last 3 months);
- ``partial_history_dates``: the default model trained on quarterly dates back to 12 months of
  history (five on 4 years of data) instead of the default's dates with the full 24-month lookback
  (three monthly), with counts reaching before the first event set missing (unobserved, not zero);
- ``history_ceiling``: a reference, not a candidate: the declared predictors plus the simulator's
  true latent monthly rates (ED, emergency admission, ambulance + 111) over the 24 months before
  the index date, unconstrained. It sees the history without Poisson noise and nothing after T,
  so it bounds what any model of the recorded history can reach; ``share_of_history_ceiling_*``
  is each variant's figure over the ceiling's.

Every variant is scored on the same evaluation rows, and ``versus_constrained`` gives its AUROC and
PPV-at-capacity difference from the product default with a paired 95% person-bootstrap interval.

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

import duckdb
import numpy as np
import pandas as pd
from machine_info import describe

from features.build import build_features
from features.contract import SETTINGS
from features.dates import add_months, extract_date
from features.definitions import predictor_specs, window_name
from features.simulation import simulate
from features.simulation.mechanism_b import simulate_mechanism_b
from training.calibration import choose_calibration
from training.config import ExperimentConfig
from training.dataset import prepare
from training.evaluate import oracle_comparison
from training.fit import fit_risk_model
from training.metrics import auroc, evaluate_scores, resample_counts, top_fraction_metrics
from training.oracle import truth_path
from training.split import choose_index_dates, data_start

__all__ = ["candidate_columns", "latent_history_columns", "paired_differences", "run_mechanism", "main"]

RESULTS = Path(__file__).parent / "results" / "model.json"
START, END = date(2021, 1, 1), date(2025, 1, 1)
URGENT = ("ed", "emergency_admission", "ambulance", "nhs111")
LATENT = ("ed_rate", "emergency_admission_rate", "ambulance_111_rate")
LATENT_WINDOWS = ((0, 1), (1, 3), (3, 6), (6, 12), (12, 24))
#: The ``partial_history_dates`` split: quarterly training dates back to 12 months after the first event.
PARTIAL_HISTORY_SPLIT = {"train_step_months": 3, "n_train_dates": 8, "min_history_months": 12}


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


def latent_history_columns(frame: pd.DataFrame, truth: Path, start: date) -> pd.DataFrame:
    """The simulator's true latent monthly rates summed over windows before each row's index date (months ``[T - b, T - a)``).

    A window reaching before ``start`` (the first month of data) is missing, as the recorded counts are.
    """
    index = pd.DataFrame({
        "row_id": np.arange(len(frame)), "person_id": frame["person_id"].astype(str).to_numpy(dtype=object),
        "as_of": pd.to_datetime(frame["as_of"]),
    })
    names = [f"latent_{rate.removesuffix('_rate')}_{a}_{b}m" for a, b in LATENT_WINDOWS for rate in LATENT]
    sums = ", ".join(
        f"SUM(CASE WHEN m >= i.as_of - INTERVAL {b} MONTH AND m < i.as_of - INTERVAL {a} MONTH THEN t.{rate} ELSE 0 END) AS {name}"
        for (a, b), rate, name in zip([w for w in LATENT_WINDOWS for _ in LATENT], LATENT * len(LATENT_WINDOWS), names)
    )
    longest = max(b for _, b in LATENT_WINDOWS)
    with duckdb.connect() as con:
        con.register("idx", index)
        sums_frame = con.execute(
            f"""
            SELECT i.row_id, {sums}
            FROM idx i JOIN (SELECT *, CAST(month AS TIMESTAMP) AS m FROM read_parquet('{truth.as_posix()}')) t
              ON t.person_id = i.person_id AND t.m >= i.as_of - INTERVAL {longest} MONTH AND t.m < i.as_of
            GROUP BY i.row_id
            """
        ).df()
    latent = sums_frame.set_index("row_id").reindex(np.arange(len(frame))).fillna(0.0).set_axis(frame.index)[names]
    as_of = pd.to_datetime(frame["as_of"]).dt.date
    for (a, b), name in zip([w for w in LATENT_WINDOWS for _ in LATENT], names):
        latent.loc[as_of.map(lambda t, months=b: add_months(t, -months) < start).to_numpy(), name] = np.nan
    return latent


def paired_differences(
    y: np.ndarray, persons: np.ndarray, scores: np.ndarray, baseline: np.ndarray, *, fraction: float, n_bootstrap: int, seed: int
) -> dict[str, float]:
    """AUROC and PPV-at-capacity differences ``scores - baseline`` on the same rows, with 95% person-bootstrap intervals (each resample draws people)."""
    _, person_index = np.unique(persons, return_inverse=True)
    n_people = int(person_index.max()) + 1
    rng = np.random.default_rng(seed)
    point = {
        "auroc": auroc(y, scores) - auroc(y, baseline),
        "ppv_capacity": top_fraction_metrics(y, scores, fraction)["ppv"] - top_fraction_metrics(y, baseline, fraction)["ppv"],
    }
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_bootstrap):
        weight = resample_counts(rng, n_people)[person_index]
        draws["auroc"].append(auroc(y, scores, weight) - auroc(y, baseline, weight))
        draws["ppv_capacity"].append(
            top_fraction_metrics(y, scores, fraction, sample_weight=weight)["ppv"]
            - top_fraction_metrics(y, baseline, fraction, sample_weight=weight)["ppv"]
        )
    out: dict[str, float] = {}
    for key, value in point.items():
        out[f"{key}_difference"] = value
        out[f"{key}_difference_low"], out[f"{key}_difference_high"] = (float(q) for q in np.percentile(draws[key], [2.5, 97.5]))
    return out


def _fit_and_measure(data: Any, config: ExperimentConfig, predictors: list[str], *, monotone: bool, data_dir: Path) -> dict[str, Any]:
    declared = [c for c in predictors if c in data.X.columns]  # masked where unobserved (training.dataset.prepare)
    X = pd.concat([data.X[declared], data.frame[[c for c in predictors if c not in data.X.columns]]], axis=1)[predictors]
    view = type(data)(**{**data.__dict__, "X": X})
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
        "calibration_method": choice.method, "best_iteration": model.best_iteration_, "fit_rows": int(len(view.rows["fit"])),
        "min_score": float(p.min()), "max_score": float(p.max()),
        "scores": p,
    }


def run_mechanism(data_dir: Path, config: ExperimentConfig) -> dict[str, Any]:
    """Every variant's out-of-time figures on one data directory."""
    feature_config = config.features
    start = data_start(data_dir)
    extract = extract_date(data_dir)
    lookback = feature_config.lookback_months
    dates = choose_index_dates(config.split, start=start, data_end=extract, outcome_window=feature_config.outcome_window, lookback_months=lookback)
    partial_config = config.model_copy(update={"split": config.split.model_copy(update=PARTIAL_HISTORY_SPLIT)})
    partial_dates = choose_index_dates(
        partial_config.split, start=start, data_end=extract, outcome_window=feature_config.outcome_window, lookback_months=lookback
    )
    every = sorted({*dates.train, *partial_dates.train, *dates.valid})
    frame = build_features(data_dir, as_of=every, labels=True, config=feature_config)
    candidates = candidate_columns(frame, feature_config.windows)
    truth = truth_path(data_dir)
    latent = latent_history_columns(frame, truth, start) if truth is not None else pd.DataFrame(index=frame.index)
    frame = pd.concat([frame, candidates, latent], axis=1)
    declared = list(predictor_specs(feature_config))
    raw = [window_name(s, w) for s in SETTINGS for w in sorted(feature_config.windows)]
    data = prepare(frame, dates, predictors=declared, config=config)
    partial = prepare(frame, partial_dates, predictors=declared, config=partial_config)
    if not np.array_equal(partial.rows["evaluate"], data.rows["evaluate"]):
        raise RuntimeError("both splits must evaluate the same rows (same validation dates and people); got different rows")
    methods = {m: config.model_copy(update={"model": config.model.model_copy(update={"monotone_method": m})}) for m in ("intermediate", "advanced")}
    variants = {
        "raw_counts": (raw, False, config),
        "unconstrained": (declared, False, config),
        "constrained": (declared, True, config),
        "constrained_intermediate": (declared, True, methods["intermediate"]),
        "constrained_advanced": (declared, True, methods["advanced"]),
        "constrained_candidates": (declared + list(candidates.columns), True, config),
    }
    measured = {
        name: _fit_and_measure(data, variant_config, cols, monotone=mono, data_dir=data_dir)
        for name, (cols, mono, variant_config) in variants.items()
    }
    measured["partial_history_dates"] = _fit_and_measure(partial, partial_config, declared, monotone=True, data_dir=data_dir)
    if len(latent.columns):
        measured["history_ceiling"] = _fit_and_measure(data, config, declared + list(latent.columns), monotone=False, data_dir=data_dir)
        ceiling = measured["history_ceiling"]
        for figures in measured.values():
            figures["share_of_history_ceiling_auroc"] = figures["auroc"] / ceiling["auroc"]
            figures["share_of_history_ceiling_ppv"] = figures["ppv_capacity"] / ceiling["ppv_capacity"]
    evaluated = data.rows["evaluate"]
    baseline = measured["constrained"]["scores"]
    for name, figures in measured.items():
        scores = figures.pop("scores")
        if name != "constrained":
            figures["versus_constrained"] = paired_differences(
                data.y[evaluated], data.persons[evaluated], scores, baseline, fraction=data.capacity_fraction,
                n_bootstrap=config.evaluation.n_bootstrap, seed=config.evaluation.seed,
            )
    return {
        "index_dates": dates.as_dict(),
        "partial_history_training_dates": [d.isoformat() for d in partial_dates.train],
        "evaluate_rows": int(len(data.rows["evaluate"])),
        "evaluate_outcomes": int(data.y[data.rows["evaluate"]].sum()),
        "variants": measured,
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
    summary = {m: {v: {k: (round(x, 4) if isinstance(x, float) else x) for k, x in r.items() if k in ("auroc", "ppv_capacity", "share_of_oracle_auroc", "share_of_oracle_ppv", "ece", "listed_calibration_capacity", "share_of_history_ceiling_auroc", "share_of_history_ceiling_ppv", "versus_constrained")} for v, r in res["variants"].items()} for m, res in results.items()}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
