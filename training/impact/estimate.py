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
    exposed: dict[str, np.ndarray] | None = None,
) -> dict[str, Estimate]:  # noqa: PLR0913 - the comparison's parts travel together
    """Compare weighted person-time rates of ``arm`` (True) with the rest, for every measure.

    With ``exposed``, some comparison rows were enrolled during follow-up and kept (treatment
    switchers): their events after enrolment are divided by the effect itself, solved from
    ``rate_arm / ratio = unexposed_rate + exposed_rate / ratio`` (both comparison rates per the
    comparison arm's person-time), i.e. ``ratio = (rate_arm - exposed_rate) / unexposed_rate``. This is
    the common-effect switching adjustment (as the rank-preserving structural model, Robins & Tsiatis
    1991): it assumes enrolment multiplies the rate by the same ratio whenever it happens. The
    comparison rate reported is then the counterfactual unenrolled rate, ``rate_arm / ratio``. Each
    bootstrap replicate solves its own ratio.

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
    exposed
        Optional per measure (rows x all bins of ``matrices``): the part of ``matrices.events`` that
        falls after a comparison row's later enrolment (zero elsewhere).
    """
    counts, column = bootstrap_counts(people, replicates, seed)
    n = counts.shape[1]
    days = (matrices.days[:, bins] * weights).sum(axis=1)
    pt = [_by_person(np.where(a, days, 0.0), column, n) for a in (arm, ~arm)]
    out = {}
    for measure in MEASURES:
        ev = (matrices.events[measure][:, bins] * weights).sum(axis=1)
        e = [_by_person(np.where(a, ev, 0.0), column, n) for a in (arm, ~arm)]
        switched = np.zeros(n) if exposed is None else _by_person(np.where(~arm, (exposed[measure][:, bins] * weights).sum(axis=1), 0.0), column, n)
        point_ratio, point_control = _ratio(e[0].sum(), pt[0].sum(), e[1].sum(), switched.sum(), pt[1].sum())
        boot_ratio, boot_control = _ratio(counts @ e[0], counts @ pt[0], counts @ e[1], counts @ switched, counts @ pt[1])
        point_enrolled = e[0].sum() / pt[0].sum() * DAYS_PER_YEAR
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = (counts @ e[0]) / (counts @ pt[0]) * DAYS_PER_YEAR - boot_control
        lo, hi = np.nanquantile(boot_ratio, [0.025, 0.975])
        dlo, dhi = np.nanquantile(diff * 100.0, [0.025, 0.975])
        out[measure] = Estimate(
            rate_ratio=float(point_ratio),
            ci_low=float(lo),
            ci_high=float(hi),
            rate_enrolled=float(point_enrolled),
            rate_controls=float(point_control),
            difference_per_100_person_years=float((point_enrolled - point_control) * 100.0),
            diff_ci_low=float(dlo),
            diff_ci_high=float(dhi),
        )
    return out


def _ratio(
    events_arm: np.ndarray, days_arm: np.ndarray, events_other: np.ndarray, switched: np.ndarray, days_other: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rate ratio and the comparison's (counterfactual unenrolled) rate per person-year; NaN where undefined.

    Works on totals (scalars) and on bootstrap replicates (arrays) alike; see :func:`arm_estimates`.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_arm = events_arm / days_arm
        unexposed, exposed = (events_other - switched) / days_other, switched / days_other
        ratio = (rate_arm - exposed) / unexposed
        ratio = np.where(np.isfinite(ratio) & (ratio >= 0), ratio, np.nan)
        other = np.where(switched > 0, unexposed + exposed / ratio, unexposed)
    return ratio, other * DAYS_PER_YEAR


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


