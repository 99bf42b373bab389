"""Rate ratios with person-level bootstrap CIs, the naive before/after ratio, event-study rates, randomised and discontinuity estimates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


from training.impact.config import MEASURES
from training.impact.followup import Matrices

__all__ = [
    "Estimate",
    "EventStudyPoint",
    "DAYS_PER_YEAR",
    "bootstrap_counts",
    "arm_estimates",
    "naive_ratio",
    "event_study",
    "discontinuity",
]

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Estimate:
    """One measure's comparison of two arms: rates per person-year, ratio with 95% CI, difference per 100 person-years."""

    rate_ratio: float
    ci_low: float
    ci_high: float
    rate_enrolled: float
    rate_controls: float
    difference_per_100_person_years: float
    diff_ci_low: float
    diff_ci_high: float


@dataclass(frozen=True)
class EventStudyPoint:
    """Rates per person-year in one month relative to enrolment, for each arm."""

    month: int
    measure: str
    rate_enrolled: float
    rate_controls: float


def bootstrap_counts(people: np.ndarray, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial resampling counts of every distinct person (replicates x people) and each row's person column."""
    unique, column = np.unique(people, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(unique.size, np.full(unique.size, 1.0 / unique.size), size=replicates).astype(float)
    return counts, column


def _by_person(values: np.ndarray, column: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(column, weights=values, minlength=n)


def arm_estimates(
    matrices: Matrices,
    bins: slice,
    arm: np.ndarray,
    weights: np.ndarray,
    people: np.ndarray,
    replicates: int,
    seed: int,
) -> dict[str, Estimate]:
    """Compare weighted person-time rates of ``arm`` (True) with the rest, for every measure.

    Parameters
    ----------
    matrices
        Monthly events and days at risk per row.
    bins
        Columns of the matrices that form the follow-up.
    arm
        True for the enrolled (or listed) rows.
    weights
        Per row and follow-up bin (rows x bins) weights; matching, balancing and censoring weights multiplied.
    people
        Person number per row: the bootstrap resamples people, keeping all of a person's rows together.
    replicates, seed
        Bootstrap replicates and seed.
    """
    counts, column = bootstrap_counts(people, replicates, seed)
    n = counts.shape[1]
    days = (matrices.days[:, bins] * weights).sum(axis=1)
    pt = [_by_person(np.where(a, days, 0.0), column, n) for a in (arm, ~arm)]
    out = {}
    for measure in MEASURES:
        ev = (matrices.events[measure][:, bins] * weights).sum(axis=1)
        e = [_by_person(np.where(a, ev, 0.0), column, n) for a in (arm, ~arm)]
        point = [e[k].sum() / pt[k].sum() * DAYS_PER_YEAR for k in range(2)]
        boot = [(counts @ e[k]) / (counts @ pt[k]) * DAYS_PER_YEAR for k in range(2)]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = boot[0] / boot[1]
        diff = (boot[0] - boot[1]) * 100.0
        lo, hi = np.nanquantile(ratio, [0.025, 0.975])
        dlo, dhi = np.nanquantile(diff, [0.025, 0.975])
        out[measure] = Estimate(
            rate_ratio=float(point[0] / point[1]) if point[1] > 0 else float("nan"),
            ci_low=float(lo),
            ci_high=float(hi),
            rate_enrolled=float(point[0]),
            rate_controls=float(point[1]),
            difference_per_100_person_years=float((point[0] - point[1]) * 100.0),
            diff_ci_low=float(dlo),
            diff_ci_high=float(dhi),
        )
    return out


def naive_ratio(matrices: Matrices, before: slice, after: slice, rows: np.ndarray) -> dict[str, float]:
    """The plain before/after ratio for the enrolled rows: rate after enrolment over rate in the months before."""
    out = {}
    for measure in MEASURES:
        ev = matrices.events[measure][rows]
        pre = ev[:, before].sum() / matrices.days[rows][:, before].sum()
        post = ev[:, after].sum() / matrices.days[rows][:, after].sum()
        out[measure] = float(post / pre) if pre > 0 else float("nan")
    return out


def event_study(matrices: Matrices, arm: np.ndarray, weights: np.ndarray, months: range) -> list[EventStudyPoint]:
    """Weighted monthly rates per person-year for each arm, months relative to enrolment (``weights`` rows x all bins)."""
    points = []
    for month in months:
        k = month - matrices.first_bin
        for measure in MEASURES:
            ev = matrices.events[measure][:, k] * weights[:, k]
            days = matrices.days[:, k] * weights[:, k]
            rates = [ev[a].sum() / days[a].sum() * DAYS_PER_YEAR if days[a].sum() > 0 else float("nan") for a in (arm, ~arm)]
            points.append(EventStudyPoint(month=month, measure=measure, rate_enrolled=float(rates[0]), rate_controls=float(rates[1])))
    return points


def _local_linear(y: np.ndarray, r: np.ndarray, at: float, bandwidth: float, weights: np.ndarray) -> np.ndarray:
    """Triangular-kernel local linear fits evaluated at ``at``: one per weight vector (rows of ``weights``)."""
    kernel = np.clip(1.0 - np.abs(r - at) / (bandwidth + 1.0), 0.0, None)
    w = weights * kernel[None, :]
    s0, s1, s2 = w.sum(1), (w * (r - at)).sum(1), (w * (r - at) ** 2).sum(1)
    t0, t1 = (w * y).sum(1), (w * y * (r - at)).sum(1)
    det = s0 * s2 - s1**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(det) > 1e-12, (s2 * t0 - s1 * t1) / det, t0 / s0)


def discontinuity(
    matrices: Matrices, bins: slice, distance: np.ndarray, people: np.ndarray, bandwidth: int, replicates: int, seed: int
) -> dict[str, dict[str, float]]:
    """Regression-discontinuity rate ratio at a capacity cut: listed (``distance <= 0``) vs just not listed.

    Parameters
    ----------
    matrices
        Monthly events and days at risk per ranked row.
    bins
        Follow-up columns.
    distance
        ``rank - capacity`` per row: 0 is the last listed person, 1 the first not listed.
    people
        Person number per row, for the person-level bootstrap.
    bandwidth
        Ranks either side of the cut used in the local linear fits.
    replicates, seed
        Bootstrap replicates and seed.
    """
    near = (distance > -bandwidth) & (distance <= bandwidth)
    r = distance[near].astype(float)
    counts, column = bootstrap_counts(people[near], replicates, seed)
    boot_w = counts[:, column]
    days = matrices.days[near][:, bins].sum(axis=1)
    ok = days > 0
    out = {}
    for measure in MEASURES:
        y = np.where(ok, matrices.events[measure][near][:, bins].sum(axis=1) / np.where(ok, days, 1.0) * DAYS_PER_YEAR, 0.0)
        sides = []
        for side in (r <= 0, r > 0):
            base = np.where(side & ok, 1.0, 0.0)[None, :]
            sides.append((_local_linear(y, r, 0.5, bandwidth, base)[0], _local_linear(y, r, 0.5, bandwidth, boot_w * base)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = sides[0][1] / sides[1][1]
        lo, hi = np.nanquantile(ratio, [0.025, 0.975])
        out[measure] = {
            "rate_ratio": float(sides[0][0] / sides[1][0]) if sides[1][0] > 0 else float("nan"),
            "ci_low": float(lo),
            "ci_high": float(hi),
            "rate_listed_at_cut": float(sides[0][0]),
            "rate_not_listed_at_cut": float(sides[1][0]),
            "n_listed": int((r <= 0).sum()),
            "n_not_listed": int((r > 0).sum()),
            "bandwidth": int(bandwidth),
        }
    return out


