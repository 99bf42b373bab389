"""Evaluation figures: ROC and PR curves with the baselines, calibration plot, SHAP global importance and the subgroup chart."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from models.risk_model import RiskModel  # noqa: E402
from training.evaluate import MODELS, Evaluation  # noqa: E402

__all__ = ["roc_pr_figure", "calibration_figure", "shap_global_importance", "importance_figure", "subgroup_figure", "evaluation_figures"]


def roc_pr_figure(y: np.ndarray, scores: Mapping[str, np.ndarray], *, metrics: Mapping[str, Mapping[str, float]]) -> Figure:
    """ROC and precision-recall curves of every model on the same out-of-time rows; legends carry AUROC / AUPRC."""
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.8))
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(y, score)
        roc_ax.plot(fpr, tpr, label=f"{name} (AUROC {metrics[name]['auroc']:.3f})")
        precision, recall, _ = precision_recall_curve(y, score)
        pr_ax.plot(recall, precision, label=f"{name} (AUPRC {metrics[name]['auprc']:.3f})")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc_ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC (out-of-time)")
    pr_ax.axhline(float(np.mean(y)), color="grey", linestyle=":", linewidth=1)
    pr_ax.set(xlabel="Recall (sensitivity)", ylabel="Precision (PPV)", title="Precision-recall (out-of-time)")
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "upper right")
    fig.tight_layout()
    return fig


def calibration_figure(y: np.ndarray, probabilities: Mapping[str, np.ndarray], *, n_bins: int) -> Figure:
    """Observed outcome rate against mean predicted probability in quantile bins (log-log axes: outcomes are rare)."""
    fig, ax = plt.subplots(figsize=(5.5, 5.2))
    low = 1.0
    for name, p in probabilities.items():
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)[1:-1]))
        bins = np.searchsorted(edges, p, side="right")
        frame = pd.DataFrame({"bin": bins, "p": p, "y": y}).groupby("bin").mean()
        frame = frame[(frame["p"] > 0) & (frame["y"] > 0)]
        ax.plot(frame["p"], frame["y"], marker="o", label=name)
        if len(frame):
            low = min(low, float(frame[["p", "y"]].min().min()))
    ax.plot([low, 1], [low, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    ax.set(xscale="log", yscale="log", xlabel="Mean predicted probability", ylabel="Observed rate", title=f"Calibration ({n_bins} quantile bins)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def shap_global_importance(model: RiskModel, X: pd.DataFrame, *, sample: int, seed: int) -> pd.Series:
    """Mean absolute TreeSHAP contribution (log-odds) per feature on a random sample of rows, largest first."""
    rows = X.sample(n=min(sample, len(X)), random_state=seed) if len(X) > sample else X
    contributions = model.booster_.predict(rows[model.feature_names_], pred_contrib=True, num_iteration=model.best_iteration_)
    values = np.abs(np.asarray(contributions)[:, :-1]).mean(axis=0)
    return pd.Series(values, index=model.feature_names_, name="mean_abs_shap").sort_values(ascending=False)


def importance_figure(importance: pd.Series, *, top: int = 20) -> Figure:
    """Horizontal bar chart of the ``top`` features by mean |SHAP|."""
    shown = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(shown) + 1.2))
    ax.barh(shown.index, shown.to_numpy())
    ax.set(xlabel="Mean |SHAP value| (log-odds)", title="Global feature importance (TreeSHAP)")
    fig.tight_layout()
    return fig


def subgroup_figure(audit: pd.DataFrame) -> Figure:
    """AUROC, calibration-in-the-large and TPR / FPR at capacity per subgroup of each single attribute."""
    single = audit[~audit["attribute"].str.contains("×")]
    attributes = list(dict.fromkeys(single["attribute"]))
    fig, axes = plt.subplots(len(attributes), 3, figsize=(13, 2.4 * len(attributes) + 0.6), squeeze=False)
    for row, attribute in enumerate(attributes):
        part = single[single["attribute"] == attribute]
        labels = part["group"].astype(str).tolist()
        positions = np.arange(len(labels))
        colours = ["tab:blue" if g else "lightgrey" for g in part["gated"]]
        axes[row, 0].bar(positions, part["auroc"].to_numpy(), color=colours)
        axes[row, 0].set(ylim=(0.5, 1.0), ylabel=attribute, title="AUROC" if row == 0 else None)
        axes[row, 1].bar(positions, part["calibration_in_the_large"].to_numpy(), color=colours)
        axes[row, 1].axhline(0, color="grey", linewidth=0.8)
        axes[row, 1].set(title="Mean predicted − observed" if row == 0 else None)
        axes[row, 2].bar(positions - 0.2, part["tpr"].to_numpy(), width=0.4, label="TPR")
        axes[row, 2].bar(positions + 0.2, part["fpr"].to_numpy(), width=0.4, label="FPR")
        axes[row, 2].set(title="At capacity" if row == 0 else None)
        if row == 0:
            axes[row, 2].legend(fontsize=7)
        for ax in axes[row]:
            ax.set_xticks(positions, labels, rotation=45 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center", fontsize=7)
    fig.suptitle("Subgroup audit on out-of-time rows (grey: too small to gate)")
    fig.tight_layout()
    return fig


def evaluation_figures(
    evaluation: Evaluation, audit: pd.DataFrame, model: RiskModel, X_eval: pd.DataFrame, *, n_bins: int, shap_sample: int, seed: int
) -> tuple[dict[str, Figure], pd.Series]:
    """The run's four figures keyed by file name, and the global SHAP importance they show.

    Parameters
    ----------
    evaluation
        Scores and metrics on the ``evaluate`` slice.
    audit
        The equity audit table.
    model, X_eval
        The calibrated model and the ``evaluate`` slice's predictors (for TreeSHAP).
    n_bins, shap_sample, seed
        Calibration-plot bins, rows sampled for SHAP and the sampling seed.
    """
    point = {key: {m: ci.value for m, ci in values.items()} for key, values in evaluation.metrics.items()}
    y, ranking, probabilities = evaluation.y, evaluation.ranking, evaluation.probabilities
    importance = shap_global_importance(model, X_eval, sample=shap_sample, seed=seed)
    figures = {
        "roc_pr.png": roc_pr_figure(y, {MODELS[k]: ranking[k] for k in MODELS}, metrics={MODELS[k]: point[k] for k in MODELS}),
        "calibration.png": calibration_figure(
            y, {MODELS["lightgbm"]: probabilities["lightgbm"], MODELS["logistic"]: probabilities["logistic"]}, n_bins=n_bins
        ),
        "shap_importance.png": importance_figure(importance),
        "subgroups.png": subgroup_figure(audit),
    }
    return figures, importance
