"""Benchmark batch scoring end to end, listed-people explanations, one-person explanations and TreeSHAP vs shap."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import shap
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

from features.build import build_features
from features.config import FeatureConfig
from features.dates import add_months
from machine_info import describe
from models.explain import explain_rows, tree_contributions
from models.risk_model import RiskModel
from serving.scoring_run import score_and_publish
from training.errors import ModelNotFoundError
from training.registry import load_model

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results" / "score.json"


def _machine() -> dict[str, object]:
    return describe(lightgbm=lightgbm.__version__, shap=shap.__version__, load_average_at_end=list(os.getloadavg()))


def _timed(fn, repeats: int) -> tuple[float, list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def _model_shape(booster, iterations: int) -> dict[str, float]:
    trees = booster.dump_model(num_iteration=iterations)["tree_info"]

    def depth(node: dict, d: int = 0) -> int:
        return d if "leaf_index" in node else max(depth(node["left_child"], d + 1), depth(node["right_child"], d + 1))

    leaves = np.array([t["num_leaves"] for t in trees])
    depths = np.array([depth(t["tree_structure"]) for t in trees])
    return {
        "trees": len(trees), "leaves_mean": float(leaves.mean()), "leaves_max": int(leaves.max()),
        "depth_mean": float(depths.mean()), "depth_max": int(depths.max()),
        "cost_trees_x_leaves_x_depth2": float((leaves * depths.astype(float) ** 2).sum()),
    }


def _load(alias: str, model_dir: Path | None):
    if model_dir is not None:
        return RiskModel.load(model_dir), FeatureConfig(), {"model_source": f"saved RiskModel {model_dir} (default features)"}
    try:
        loaded = load_model(alias)
        meta = {"model_source": f"registry alias {alias}", "model_name": loaded.name, "model_version": loaded.version}
        return loaded.model, loaded.feature_config, meta
    except ModelNotFoundError as error:
        raise SystemExit(f"{error}\nThe benchmark scores with the registered model; train and promote one first.") from None


def _size_vs_accuracy(
    model, feature_config, data: Path, extract, sample: int, seed: int, timing_rows: int = 200
) -> dict[str, object]:
    """AUROC and TreeSHAP cost of the model truncated to fewer trees, on labelled rows 18 months before extract."""
    as_of = add_months(extract, -feature_config.outcome_window[1])
    table = build_features(data, as_of=[as_of], labels=True, config=feature_config)
    label = feature_config.label_column
    table = table[table["in_cohort"] & table[label].notna()]
    table = table.sample(n=min(sample, len(table)), random_state=seed)
    y = table[label].astype(int).to_numpy()
    X = table[model.feature_names_]
    best = model.best_iteration_
    rows = X.iloc[:timing_rows].to_numpy(dtype="float64", na_value=np.nan)
    out = []
    for k in sorted({max(1, round(best * f)) for f in (0.02, 0.05, 0.1, 0.25, 0.5)} | {best}):
        log_odds = model.booster_.predict(X, raw_score=True, num_iteration=k)
        start = time.perf_counter()
        model.booster_.predict(rows, pred_contrib=True, num_iteration=k)
        per_row = (time.perf_counter() - start) / len(rows)
        out.append({"trees": k, "auroc": float(roc_auc_score(y, log_odds)), "treeshap_us_per_row": per_row * 1e6,
                    **{k2: v for k2, v in _model_shape(model.booster_, k).items() if k2 != "trees"}})
    full = out[-1]
    enough = next(r for r in out if r["auroc"] >= full["auroc"] - 0.002)
    return {
        "labelled_as_of": as_of.isoformat(), "rows": len(y), "prevalence": float(y.mean()), "by_trees": out,
        "note": "rows come from an index date the model may have trained on, so AUROC is optimistic; "
                "the comparison between sizes is what matters",
        "smallest_within_0.002_auroc": enough["trees"],
        "cost_ratio_full_vs_smallest": full["cost_trees_x_leaves_x_depth2"] / enough["cost_trees_x_leaves_x_depth2"],
        "verdict": (
            f"model is larger than it needs to be: {enough['trees']} of {full['trees']} trees reach AUROC "
            f"{enough['auroc']:.4f} vs {full['auroc']:.4f}, at {full['cost_trees_x_leaves_x_depth2'] / enough['cost_trees_x_leaves_x_depth2']:.1f}x "
            "lower trees x leaves x depth^2"
            if enough["trees"] < full["trees"] else "no smaller truncation keeps AUROC within 0.002: size is justified"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--model-dir", type=Path, default=None, help="a RiskModel.save folder instead of the registry")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shap-rows", type=int, default=500)
    parser.add_argument("--accuracy-sample", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()



    console = Console()
    model, feature_config, model_meta = _load(args.alias, args.model_dir)
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        runs = []
        for i in range(args.repeats):
            start = time.perf_counter()
            run = score_and_publish(args.data, model, feature_config=feature_config, model_metadata=model_meta,
                                    where=Path(tmp) / f"pubs{i}")
            runs.append({"total": time.perf_counter() - start, **run.seconds})
            console.print(f"end-to-end run {i + 1}: {runs[-1]['total']:.1f} s {run.seconds}")
        features = run.publication.features()
        lists = run.publication.lists()
    listed = features.set_index("person_id").loc[lists["person_id"]].reset_index()
    as_of = run.as_of

    explain_median, explain_times, _ = _timed(lambda: explain_rows(model, listed, as_of=as_of, top=5), args.repeats)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(listed), size=min(50, len(listed)), replace=False)
    one = [(_timed(lambda i=i: explain_rows(model, listed.iloc[[i]], as_of=as_of), 1)[0]) for i in picks]

    rows = pd.concat([listed, features.sample(n=max(0, args.shap_rows - len(listed)), random_state=0)]).iloc[: args.shap_rows]
    ours_median, _, ours = _timed(lambda: tree_contributions(model, rows), args.repeats)
    start = time.perf_counter()
    explainer = shap.TreeExplainer(model.booster_)
    shap_setup = time.perf_counter() - start
    shap_median, _, theirs = _timed(lambda: explainer.shap_values(rows[model.feature_names_]), args.repeats)
    max_diff = float(np.max(np.abs(np.asarray(ours)[:, :-1] - np.asarray(theirs))))

    extract = run.extract_date
    size = _size_vs_accuracy(model, feature_config, args.data, extract, args.accuracy_sample, seed=0)
    end_to_end = [r["total"] for r in runs]
    results = {
        "benchmark": "score", "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(), "data": str(args.data), "people": int(run.result.rows_in),
        "rows_scored": int(run.result.rows_scored), "listed": int(len(lists)), "model": model_meta,
        "model_shape": _model_shape(model.booster_, model.best_iteration_),
        "end_to_end_seconds": {"median": statistics.median(end_to_end), "runs": end_to_end,
                               "median_by_step": {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "total"},
                               "target": 60.0},
        "explain_listed_seconds": {"median": explain_median, "runs": explain_times, "rows": len(listed), "target": 30.0},
        "explain_one_person_ms": {"median": 1e3 * statistics.median(one), "p95": 1e3 * float(np.percentile(one, 95)),
                                  "people": len(one), "target": 50.0},
        "treeshap_vs_shap": {
            "rows": len(rows), "pred_contrib_us_per_row": 1e6 * ours_median / len(rows),
            "shap_tree_explainer_us_per_row": 1e6 * shap_median / len(rows), "shap_explainer_setup_s": shap_setup,
            "ratio_shap_over_pred_contrib": shap_median / ours_median, "max_abs_difference": max_diff,
        },
        "size_vs_accuracy": size,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title=f"score benchmark: {results['people']:,} people ({args.data})")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("target", justify="right")
    table.add_row("end to end (features, score, explain, publish)", f"{results['end_to_end_seconds']['median']:.1f} s", "< 60 s")
    table.add_row(f"explain {len(listed):,} listed people", f"{explain_median:.2f} s", "< 30 s")
    table.add_row("one person's full explanation", f"{results['explain_one_person_ms']['median']:.1f} ms", "< 50 ms")
    table.add_row("TreeSHAP (pred_contrib) per row", f"{results['treeshap_vs_shap']['pred_contrib_us_per_row']:.1f} µs", "")
    table.add_row("shap.TreeExplainer per row", f"{results['treeshap_vs_shap']['shap_tree_explainer_us_per_row']:.1f} µs",
                  f"ratio {results['treeshap_vs_shap']['ratio_shap_over_pred_contrib']:.2f}")
    table.add_row("model size", size["verdict"], "")
    console.print(table)


if __name__ == "__main__":
    main()
