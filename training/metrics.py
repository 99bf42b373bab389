"""Discrimination, calibration and list metrics with person-level (cluster) bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.errors import TrainingError

__all__ = [
    "MetricCI",
    "auroc",
    "average_precision",
    "brier_score",
    "calibration_intercept_slope",
    "expected_calibration_error",
    "top_fraction_metrics",
    "evaluate_scores",
    "PROBABILITY_METRICS",
    "RANK_METRICS",
]

#: Metrics that only need a ranking of the rows.
RANK_METRICS: tuple[str, ...] = ("auroc", "auprc")
#: Metrics that need the scores to be probabilities.
PROBABILITY_METRICS: tuple[str, ...] = ("brier", "calibration_intercept", "calibration_slope", "ece")
#: Probabilities are clipped to [EPS, 1 - EPS] before taking log-odds.
EPS = 1e-4


@dataclass(frozen=True)
class MetricCI:
    """A point estimate with its bootstrap percentile confidence interval."""

    value: float
    low: float
    high: float

    def overlaps(self, other: "MetricCI") -> bool:
        """True if the two intervals share any point."""
        return self.low <= other.high and other.low <= self.high

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def _arrays(y: np.ndarray, scores: np.ndarray, sample_weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if y.shape != scores.shape or y.ndim != 1:
        raise TrainingError(f"labels and scores must be 1-D of equal length; got shapes {y.shape} and {scores.shape}.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise TrainingError("labels must be 0 or 1 with no missing values; got other values. Drop rows without a label first.")
    if np.isnan(scores).any():
        raise TrainingError("scores must not be NaN; got NaN. Check the model's inputs.")
    weight = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return y, scores, weight


class _Ranked:
    """Sort order and tie groups of one score vector, reused across bootstrap replicates."""

    def __init__(self, scores: np.ndarray, seed: int) -> None:
        self.order = np.argsort(scores, kind="stable")
        sorted_scores = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        # Strict descending order with ties broken at random (a list of k people cannot take half a tie).
        tiebreak = np.random.default_rng(seed).random(scores.size)
        self.strict_desc = np.lexsort((tiebreak, -scores))

    def group_sums(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[self.order], self.starts) if values.size else values

    def auroc(self, y: np.ndarray, w: np.ndarray) -> float:
        pos = self.group_sums(w * y)
        neg = self.group_sums(w * (1.0 - y))
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos == 0 or total_neg == 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))

    def average_precision(self, y: np.ndarray, w: np.ndarray) -> float:
        pos = self.group_sums(w * y)[::-1]
        allw = self.group_sums(w)[::-1]
        tp, predicted = np.cumsum(pos), np.cumsum(allw)
        if tp[-1] == 0:
            return float("nan")
        keep = predicted > 0
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=keep)
        recall_step = pos / tp[-1]
        return float((recall_step * precision).sum())

    def top(self, y: np.ndarray, w: np.ndarray, fraction: float) -> dict[str, float]:
        ordered_w = w[self.strict_desc]
        total = ordered_w.sum()
        k = max(1.0, round(fraction * total))
        cum = np.cumsum(ordered_w)
        taken = np.clip(k - (cum - ordered_w), 0.0, ordered_w)
        hits = float((taken * y[self.strict_desc]).sum())
        positives = float((w * y).sum())
        prevalence = positives / total
        ppv = hits / k
        return {
            "ppv": float(ppv),
            "sensitivity": float(hits / positives) if positives else float("nan"),
            "lift": float(ppv / prevalence) if prevalence else float("nan"),
        }


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def _logistic_fit(
    y: np.ndarray, x: np.ndarray | None, offset: np.ndarray, w: np.ndarray, start: np.ndarray | None = None, iterations: int = 50
) -> np.ndarray:
    """Unpenalised weighted logistic regression of y on [1, x] with an offset, by Newton-Raphson (optionally warm-started)."""
    design = np.ones((y.size, 1)) if x is None else np.column_stack([np.ones(y.size), x])
    beta = np.zeros(design.shape[1]) if start is None else np.asarray(start, dtype=float).copy()
    for _ in range(iterations):
        eta = offset + design @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        gradient = design.T @ (w * (y - mu))
        hessian = (design * (w * mu * (1.0 - mu))[:, None]).T @ design
        step = np.linalg.solve(hessian + 1e-12 * np.eye(beta.size), gradient)
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def _calibration(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, start: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
    """Intercept, slope and the fitted coefficient vectors (to warm-start bootstrap replicates)."""
    log_odds = _logit(p)
    if (w * y).sum() == 0 or (w * (1 - y)).sum() == 0:
        return float("nan"), float("nan"), (np.zeros(1), np.zeros(2))
    in_the_large = _logistic_fit(y, None, log_odds, w, None if start is None else start[0])
    weak = _logistic_fit(y, log_odds, np.zeros_like(y), w, None if start is None else start[1])
    return float(in_the_large[0]), float(weak[1]), (in_the_large, weak)


def _quantile_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, p, side="right")


def _ece(y: np.ndarray, p: np.ndarray, w: np.ndarray, bins: np.ndarray) -> float:
    n_bins = int(bins.max()) + 1
    weight = np.bincount(bins, weights=w, minlength=n_bins)
    observed = np.bincount(bins, weights=w * y, minlength=n_bins)
    predicted = np.bincount(bins, weights=w * p, minlength=n_bins)
    return float(np.abs(observed - predicted).sum() / weight.sum())


def auroc(y: np.ndarray, scores: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve (ties count one half); NaN if only one class is present."""
    y, scores, w = _arrays(y, scores, sample_weight)
    return _Ranked(scores, 0).auroc(y, w)


def average_precision(y: np.ndarray, scores: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the precision-recall curve as average precision (scikit-learn's definition)."""
    y, scores, w = _arrays(y, scores, sample_weight)
    return _Ranked(scores, 0).average_precision(y, w)


def brier_score(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Mean squared difference between predicted probability and outcome."""
    y, p, w = _arrays(y, p, sample_weight)
    return float((w * (p - y) ** 2).sum() / w.sum())


def calibration_intercept_slope(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> tuple[float, float]:
    """Calibration-in-the-large intercept (slope fixed at 1, log-odds offset) and calibration slope.

    Perfect calibration gives intercept 0 and slope 1; a slope below 1 means predictions are too
    extreme (overfitting). Probabilities are clipped to ``[1e-4, 1 - 1e-4]`` before the logit.
    """
    y, p, w = _arrays(y, p, sample_weight)
    intercept, slope, _ = _calibration(y, p, w)
    return intercept, slope


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, *, n_bins: int = 10, sample_weight: np.ndarray | None = None
) -> float:
    """Expected calibration error over equal-count (quantile) bins of the predicted probability.

    Parameters
    ----------
    y
        Outcomes (0/1).
    p
        Predicted probabilities.
    n_bins
        Number of quantile bins (tied probabilities share a bin, so fewer bins may result).
    sample_weight
        Optional row weights.
    """
    y, p, w = _arrays(y, p, sample_weight)
    return _ece(y, p, w, _quantile_bins(p, n_bins))


def top_fraction_metrics(
    y: np.ndarray, scores: np.ndarray, fraction: float, *, seed: int = 0, sample_weight: np.ndarray | None = None
) -> dict[str, float]:
    """PPV, sensitivity and lift when the top ``fraction`` of rows (ties broken at random) are selected.

    Parameters
    ----------
    y
        Outcomes (0/1).
    scores
        Scores; higher means selected first.
    fraction
        Share of rows selected, e.g. capacity 6 per 1,000.
    seed
        Seed of the random tie-break.
    sample_weight
        Optional row weights (a bootstrap multiplicity counts as that many rows).
    """
    y, scores, w = _arrays(y, scores, sample_weight)
    return _Ranked(scores, seed).top(y, w, fraction)


def _all_metrics(
    ranked: _Ranked,
    y: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    fractions: Mapping[str, float],
    bins: np.ndarray | None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"auroc": ranked.auroc(y, w), "auprc": ranked.average_precision(y, w)}
    if bins is not None:
        out["brier"] = float((w * (p - y) ** 2).sum() / w.sum())
        out["calibration_intercept"], out["calibration_slope"], out["_coefficients"] = _calibration(y, p, w, start)
        out["ece"] = _ece(y, p, w, bins)
    for label, fraction in fractions.items():
        for name, value in ranked.top(y, w, fraction).items():
            out[f"{name}_{label}"] = value
    return out


def evaluate_scores(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    groups: np.ndarray,
    fractions: Mapping[str, float],
    probabilistic: bool,
    n_bootstrap: int,
    ci_level: float,
    ece_bins: int,
    seed: int,
) -> dict[str, MetricCI]:
    """Every evaluation metric with a percentile bootstrap CI, resampling people rather than rows.

    A person seen at two index dates contributes two correlated rows; resampling whole people
    (cluster bootstrap) keeps the intervals honest.

    Parameters
    ----------
    y
        Outcomes (0/1).
    scores
        Scores or probabilities.
    groups
        Person key per row (any hashable values) defining the bootstrap clusters.
    fractions
        Label -> share of rows selected, e.g. ``{"capacity": 0.0063, "top1pct": 0.01}``.
    probabilistic
        Whether to add Brier, calibration intercept/slope and ECE (scores must be probabilities).
    n_bootstrap
        Number of bootstrap replicates.
    ci_level
        Coverage of the interval, e.g. 0.95.
    ece_bins
        Quantile bins for the expected calibration error.
    seed
        Seed of the resampling and the tie-break.
    """
    y, scores, w = _arrays(y, scores, None)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    ranked = _Ranked(scores, seed)
    bins = _quantile_bins(scores, ece_bins) if probabilistic else None
    point = _all_metrics(ranked, y, scores, w, fractions, bins)
    start = point.pop("_coefficients", None)
    rng = np.random.default_rng(seed)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    replicates: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(n_bootstrap):
        draws = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups).astype(float)
        values = _all_metrics(ranked, y, scores, draws[codes], fractions, bins, start)
        values.pop("_coefficients", None)
        for name, value in values.items():
            replicates[name].append(value)
    tail = (1.0 - ci_level) / 2.0 * 100.0
    result = {}
    for name, value in point.items():
        sample = np.asarray(replicates[name])
        sample = sample[~np.isnan(sample)]
        low, high = (np.percentile(sample, [tail, 100.0 - tail]) if sample.size else (np.nan, np.nan))
        result[name] = MetricCI(float(value), float(low), float(high))
    return result
