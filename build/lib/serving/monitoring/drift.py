"""Drift against the champion's training data: PSI per feature and for scores, and the population mix per neighbourhood."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig
from serving.monitoring.errors import MonitorInputError

__all__ = ["FeatureShift", "NeighbourhoodMix", "DriftResult", "psi", "check_drift"]

#: Floor on a bin's share so an empty bin gives a large but finite PSI term.
_EPS = 1e-4
_MISSING = "(missing)"
#: Whole-number features spanning at most this many values are binned from their counts.
_COUNT_RANGE = 100_000


@dataclass(frozen=True)
class FeatureShift:
    """PSI of one feature (or the score) and the threshold it was judged against."""

    name: str
    psi: float
    threshold: float
    bins: int
    flagged: bool


@dataclass(frozen=True)
class NeighbourhoodMix:
    """A neighbourhood's people now and in the reference, and its share of each."""

    neighbourhood: str
    people: int
    reference_people: int
    share: float
    reference_share: float


@dataclass(frozen=True)
class DriftResult:
    """Feature PSIs (largest first), the score PSI, the neighbourhood mix and the alerts."""

    features: list[FeatureShift]
    score: FeatureShift | None
    neighbourhoods: list[NeighbourhoodMix]
    mix: FeatureShift | None
    alerts: list[Alert]

    def top(self, n: int) -> list[FeatureShift]:
        """The ``n`` most shifted features."""
        return self.features[:n]


def _shares(codes: np.ndarray, k: int) -> np.ndarray:
    return np.maximum(np.bincount(codes, minlength=k) / max(len(codes), 1), _EPS)


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Distinct inner quantile cut points of ``values`` (inverted-CDF quantiles, so every edge is a data value).

    Whole-number values over a modest range (counts, ages, days) are read off their cumulative counts,
    which gives the same edges as sorting, in one pass.
    """
    if not len(values):
        return np.array([])
    probabilities = np.linspace(0, 1, bins + 1)[1:-1]
    low, high = values.min(), values.max()
    if high - low <= _COUNT_RANGE and np.array_equal(values, np.round(values)):
        cumulative = np.cumsum(np.bincount((values - low).astype(np.int64))) / len(values)
        return np.unique(low + np.searchsorted(cumulative, probabilities - 1e-12, side="left").astype(float))
    return np.unique(np.quantile(values, probabilities, method="inverted_cdf"))


def psi(reference: pd.Series | np.ndarray, current: pd.Series | np.ndarray, *, bins: int = 10) -> tuple[float, int]:
    """Population stability index of ``current`` against ``reference``, and the number of bins used.

    Numeric values are cut at the reference's quantiles (ties merged, so a count feature that is mostly
    zero gets a bin of its own); other values are compared category by category. Missing values are a
    bin of their own. PSI = sum over bins of (cur - ref) x ln(cur / ref), shares floored at 1e-4.
    """
    ref = pd.Series(reference)
    cur = pd.Series(current)
    numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
    if numeric:
        r = ref.to_numpy(dtype="float64", na_value=np.nan)
        c = pd.to_numeric(cur, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        r_nan, c_nan = np.isnan(r), np.isnan(c)
        finite = r[~r_nan]
        edges = _edges(finite, bins)
        r_codes = np.where(r_nan, len(edges) + 1, np.searchsorted(edges, np.where(r_nan, 0, r), side="right"))
        c_codes = np.where(c_nan, len(edges) + 1, np.searchsorted(edges, np.where(c_nan, 0, c), side="right"))
        k = len(edges) + 2
    else:
        codes, levels = pd.factorize(pd.concat([ref.astype("object"), cur.astype("object")], ignore_index=True))
        codes = np.where(codes < 0, len(levels), codes)  # missing values: a bin of their own
        r_codes, c_codes = codes[: len(ref)], codes[len(ref):]
        k = len(levels) + 1
    p, q = _shares(r_codes.astype(int), k), _shares(c_codes.astype(int), k)
    used = int(((np.bincount(r_codes.astype(int), minlength=k) + np.bincount(c_codes.astype(int), minlength=k)) > 0).sum())
    return float(np.sum((q - p) * np.log(q / p))), used


def _threshold(config: MonitorConfig, bins: int, n_ref: int, n_cur: int) -> float:
    noise = (max(bins, 2) - 1) * (1 / max(n_ref, 1) + 1 / max(n_cur, 1))
    return max(config.psi_threshold, config.psi_noise_multiplier * noise)


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    reference_scores: Sequence[float] | np.ndarray | None,
    current_scores: Sequence[float] | np.ndarray | None,
    features: Sequence[str],
    config: MonitorConfig,
    neighbourhood: str = "neighbourhood",
) -> DriftResult:
    """PSI of every model feature and of the scores, current against the champion's training reference.

    Parameters
    ----------
    reference
        The champion's training feature frame (a sample is fine): the model's features and, for the
        mix, a ``neighbourhood`` column.
    current
        The feature frame being scored now (same columns).
    reference_scores, current_scores
        Calibrated scores of the reference and current rows (``None`` skips the score check).
    features
        The model's feature names (``RiskModel.feature_names_``).
    config
        PSI bins, threshold, noise multiplier, number of top features.
    neighbourhood
        Column holding the neighbourhood, for the population mix (skipped when absent).

    Raises
    ------
    MonitorInputError
        If a feature is missing from either frame, or a frame is empty.
    """
    for label, frame in (("reference", reference), ("current", current)):
        missing = [f for f in features if f not in frame.columns]
        if missing:
            raise MonitorInputError(
                f"the {label} frame must hold every model feature; missing {missing[:8]}. "
                "Pass the feature frames the champion was trained on and is scoring now."
            )
        if frame.empty:
            raise MonitorInputError(f"the {label} frame must hold at least one row; got none. Pass a non-empty sample.")
    shifts = []
    for name in features:
        value, bins = psi(reference[name], current[name], bins=config.psi_bins)
        limit = _threshold(config, bins, len(reference), len(current))
        shifts.append(FeatureShift(name, value, limit, bins, value >= limit))
    shifts.sort(key=lambda s: (-s.psi, s.name))
    alerts = [
        Alert("feature_drift", s.name, "warning",
              f"feature {s.name!r} shifted from the champion's training data: PSI {s.psi:.2f} (alert at {s.threshold:.2f}). "
              "Check the feed behind it; if the population really changed, retrain.")
        for s in shifts if s.flagged
    ]
    score = None
    if reference_scores is not None and current_scores is not None:
        rs, cs = np.asarray(reference_scores, dtype=float), np.asarray(current_scores, dtype=float)
        value, bins = psi(rs, cs, bins=config.psi_bins)
        limit = _threshold(config, bins, len(rs), len(cs))
        score = FeatureShift("score", value, limit, bins, value >= limit)
        if score.flagged:
            top = ", ".join(s.name for s in shifts[:3])
            alerts.append(Alert("score_drift", "score", "warning",
                                f"the score distribution shifted from training: PSI {value:.2f} (alert at {limit:.2f}); "
                                f"most shifted features: {top}. Lists may be drawn from a different risk mix than validated."))
    neighbourhoods: list[NeighbourhoodMix] = []
    mix = None
    if neighbourhood in reference.columns and neighbourhood in current.columns:
        ref_n = reference[neighbourhood].astype("object").where(reference[neighbourhood].notna(), _MISSING).astype(str)
        cur_n = current[neighbourhood].astype("object").where(current[neighbourhood].notna(), _MISSING).astype(str)
        rc, cc = ref_n.value_counts(), cur_n.value_counts()
        for name in sorted(set(rc.index) | set(cc.index)):
            neighbourhoods.append(NeighbourhoodMix(
                name, int(cc.get(name, 0)), int(rc.get(name, 0)),
                float(cc.get(name, 0) / len(cur_n)), float(rc.get(name, 0) / len(ref_n)),
            ))
        value, bins = psi(ref_n, cur_n)
        limit = _threshold(config, bins, len(ref_n), len(cur_n))
        mix = FeatureShift(neighbourhood, value, limit, bins, value >= limit)
        if mix.flagged:
            alerts.append(Alert("feature_drift", neighbourhood, "warning",
                                f"the population mix across neighbourhoods shifted from training: PSI {value:.2f} "
                                f"(alert at {limit:.2f}). Check the persons extract for missing practices or neighbourhoods."))
    return DriftResult(shifts, score, neighbourhoods, mix, alerts)
