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
    "resample_counts",
    "PROBABILITY_METRICS",
    "RANK_METRICS",
    "LISTED_CALIBRATION_METRICS",
]

#: Metrics that only need a ranking of the rows.
RANK_METRICS: tuple[str, ...] = ("auroc", "auprc")
#: Metrics that need the scores to be probabilities.
PROBABILITY_METRICS: tuple[str, ...] = ("brier", "calibration_intercept", "calibration_slope", "ece")
#: List metrics that need the scores to be probabilities: mean predicted risk among the listed and observed minus predicted.
LISTED_CALIBRATION_METRICS: tuple[str, ...] = ("predicted", "listed_calibration")
#: Probabilities are clipped to [EPS, 1 - EPS] before taking log-odds.
EPS = 1e-4
#: Above this many distinct scores, calibration intercept/slope are fitted on log-odds rounded to
#: CALIBRATION_GRID (a bias below 1e-4 in the slope; keeps a 1,000,000-row bootstrap fast).
MAX_EXACT_CALIBRATION_GROUPS = 20_000
CALIBRATION_GRID = 0.01


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

    def text(self, digits: int = 3) -> str:
        """``value (low–high)`` with ``digits`` decimals, as tables and the model card show it."""
        return f"{self.value:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


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
    """Sort order and tie groups of one score vector, reused across bootstrap replicates.

    Every metric is computed from per-tie-group sums of the row weights and of weight x outcome
    (one gather and two reductions per replicate); probability metrics treat each group's score
    as its probability, and list metrics use a strict order with ties broken at random (a list of
    k people cannot take half a tie).
    """

    def __init__(self, y: np.ndarray, scores: np.ndarray, seed: int) -> None:
        self.order = np.argsort(scores, kind="stable")
        sorted_scores = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        self.values = sorted_scores[self.starts]
        log_odds = _logit(self.values)
        if log_odds.size > MAX_EXACT_CALIBRATION_GROUPS:
            cells, self.calibration_cell = np.unique(np.round(log_odds / CALIBRATION_GRID), return_inverse=True)
            self.log_odds = cells * CALIBRATION_GRID
        else:
            self.calibration_cell, self.log_odds = None, log_odds
        self.y_sorted = y[self.order]
        tiebreak = np.random.default_rng(seed).random(scores.size)
        self.strict_desc = np.lexsort((tiebreak, -scores))
        self.y_strict = y[self.strict_desc]
        self.s_strict = scores[self.strict_desc]

    def calibration_sums(self, pos: np.ndarray, allw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group sums collapsed onto the calibration grid when there are too many distinct scores."""
        if self.calibration_cell is None:
            return pos, allw
        size = self.log_odds.size
        return np.bincount(self.calibration_cell, pos, size), np.bincount(self.calibration_cell, allw, size)

    def sums(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per tie group (ascending score): weighted outcomes and weights."""
        ws = w[self.order]
        return np.add.reduceat(ws * self.y_sorted, self.starts), np.add.reduceat(ws, self.starts)

    @staticmethod
    def auroc(pos: np.ndarray, allw: np.ndarray) -> float:
        neg = allw - pos
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos == 0 or total_neg == 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))

    @staticmethod
    def average_precision(pos: np.ndarray, allw: np.ndarray) -> float:
        pos, allw = pos[::-1], allw[::-1]
        tp, predicted = np.cumsum(pos), np.cumsum(allw)
        if tp[-1] == 0:
            return float("nan")
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        return float((pos / tp[-1] * precision).sum())

    def top(self, w: np.ndarray, fractions: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """PPV, sensitivity and lift for each list size (a share of the total weight), and calibration among the listed.

        ``predicted`` is the mean score of the listed rows and ``listed_calibration`` the observed
        rate among them minus that mean (positive: the list's risk is under-stated); both are only
        meaningful when the scores are probabilities.
        """
        ordered_w = w[self.strict_desc]
        cum = np.cumsum(ordered_w)
        cum_hits = np.cumsum(ordered_w * self.y_strict)
        cum_scores = np.cumsum(ordered_w * self.s_strict)
        total, positives = cum[-1], cum_hits[-1]
        prevalence = positives / total
        out = {}
        for label, fraction in fractions.items():
            k = max(1.0, round(fraction * total))
            i = int(np.searchsorted(cum, k, side="left"))  # row where the list is cut
            before_w = cum[i - 1] if i > 0 else 0.0
            before_hits = cum_hits[i - 1] if i > 0 else 0.0
            last = min(i, cum.size - 1)
            hits = before_hits + (k - before_w) * self.y_strict[last]
            predicted = ((cum_scores[i - 1] if i > 0 else 0.0) + (k - before_w) * self.s_strict[last]) / k
            ppv = hits / k
            out[label] = {
                "ppv": float(ppv),
                "predicted": float(predicted),
                "listed_calibration": float(ppv - predicted),
                "sensitivity": float(hits / positives) if positives else float("nan"),
                "lift": float(ppv / prevalence) if prevalence else float("nan"),
            }
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def _logistic_fit(
    successes: np.ndarray, trials: np.ndarray, x: np.ndarray | None, offset: np.ndarray, start: np.ndarray | None = None, iterations: int = 50
) -> np.ndarray:
    """Unpenalised binomial logistic regression of ``a (+ b x) + offset`` by Newton-Raphson (optionally warm-started)."""
    beta = np.zeros(1 if x is None else 2) if start is None else np.asarray(start, dtype=float).copy()
    for _ in range(iterations):
        eta = offset + beta[0] if x is None else offset + beta[0] + beta[1] * x
        mu = 1.0 / (1.0 + np.exp(-eta))
        residual = successes - trials * mu
        information = trials * mu * (1.0 - mu)
        if x is None:
            step = np.array([residual.sum() / information.sum()])
        else:
            g0, g1 = residual.sum(), np.dot(x, residual)
            h00, h01, h11 = information.sum(), np.dot(information, x), np.dot(information * x, x)
            det = h00 * h11 - h01 * h01
            step = np.array([(h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det])
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def _calibration(
    pos: np.ndarray, allw: np.ndarray, log_odds: np.ndarray, start: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
    """Intercept, slope and the fitted coefficient vectors (to warm-start bootstrap replicates), from group sums."""
    if pos.sum() == 0 or pos.sum() == allw.sum():
        return float("nan"), float("nan"), (np.zeros(1), np.zeros(2))
    in_the_large = _logistic_fit(pos, allw, None, log_odds, None if start is None else start[0])
    weak = _logistic_fit(pos, allw, log_odds, np.zeros_like(log_odds), None if start is None else start[1])
    return float(in_the_large[0]), float(weak[1]), (in_the_large, weak)


def _ece(pos: np.ndarray, allw: np.ndarray, p: np.ndarray, bins: np.ndarray) -> float:
    n_bins = int(bins.max()) + 1
    observed = np.bincount(bins, weights=pos, minlength=n_bins)
    predicted = np.bincount(bins, weights=allw * p, minlength=n_bins)
    return float(np.abs(observed - predicted).sum() / allw.sum())


def _brier(pos: np.ndarray, allw: np.ndarray, p: np.ndarray) -> float:
    # sum w (p - y)^2 = sum w p^2 - 2 p w y + w y   (y is 0/1)
    return float((allw * p * p - 2.0 * p * pos + pos).sum() / allw.sum())


def auroc(y: np.ndarray, scores: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve (ties count one half); NaN if only one class is present."""
    y, scores, w = _arrays(y, scores, sample_weight)
    return _Ranked.auroc(*_Ranked(y, scores, 0).sums(w))


def average_precision(y: np.ndarray, scores: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """Area under the precision-recall curve as average precision (scikit-learn's definition)."""
    y, scores, w = _arrays(y, scores, sample_weight)
    return _Ranked.average_precision(*_Ranked(y, scores, 0).sums(w))


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
    ranked = _Ranked(y, p, 0)
    intercept, slope, _ = _calibration(*ranked.calibration_sums(*ranked.sums(w)), ranked.log_odds)
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
    ranked = _Ranked(y, p, 0)
    bins = np.searchsorted(np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])), ranked.values, side="right")
    return _ece(*ranked.sums(w), ranked.values, bins)


def resample_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """One bootstrap replicate of ``n`` clusters (people): how many times each is drawn in ``n`` draws with replacement."""
    return np.bincount(rng.integers(0, n, n), minlength=n).astype(float)


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
    return _Ranked(y, scores, seed).top(w, {"top": fraction})["top"]


def _all_metrics(
    ranked: _Ranked,
    w: np.ndarray,
    fractions: Mapping[str, float],
    bins: np.ndarray | None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    pos, allw = ranked.sums(w)
    out: dict[str, Any] = {"auroc": ranked.auroc(pos, allw), "auprc": ranked.average_precision(pos, allw)}
    if bins is not None:
        p = ranked.values
        out["brier"] = _brier(pos, allw, p)
        out["calibration_intercept"], out["calibration_slope"], out["_coefficients"] = _calibration(*ranked.calibration_sums(pos, allw), ranked.log_odds, start)
        out["ece"] = _ece(pos, allw, p, bins)
    for label, values in ranked.top(w, fractions).items():
        for name, value in values.items():
            if bins is not None or name not in LISTED_CALIBRATION_METRICS:
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
    ranked = _Ranked(y, scores, seed)
    bins = None
    if probabilistic:
        edges = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, ece_bins + 1)[1:-1]))
        bins = np.searchsorted(edges, ranked.values, side="right")
    point = _all_metrics(ranked, w, fractions, bins)
    start = point.pop("_coefficients", None)
    rng = np.random.default_rng(seed)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    replicates: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(n_bootstrap):
        draws = resample_counts(rng, n_groups)
        values = _all_metrics(ranked, draws[codes], fractions, bins, start)
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
