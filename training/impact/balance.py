"""Balancing weights for matched controls: exact entropy balancing, else the tightest feasible approximate balance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog, minimize

__all__ = ["Balancing", "balancing_weights", "smallest_max_smd", "effective_sample_size", "CONVERGENCE_SMD"]

#: A solution counts as meeting a tolerance when every covariate is within this many SDs beyond it.
CONVERGENCE_SMD = 5e-4
#: Iteration cap of one dual solve (the simulator's hardest problems, just above the floor, took ~600).
_MAX_ITERATIONS = 5000


@dataclass(frozen=True)
class Balancing:
    """The controls' weights and how balanced they leave the covariates.

    ``method`` is ``"entropy"`` (exact entropy balancing: every covariate mean equal to the enrolled
    mean), ``"approximate_entropy"`` (every covariate within ``tolerance`` SDs: the tightest rung of the
    ladder ``0, step, 2 step, ...`` these controls reach) or ``"matching"`` (the matching weights kept:
    balancing was switched off, ``step`` is ``None``, or no rung below the matching weights' own largest
    |SMD| was reached). SMDs use the caller's ``scale`` (the balance table's pooled SD).
    ``least_achievable_smd`` is the smallest largest-|SMD| that *any* non-negative weighting of these
    controls reaches (a linear programme): no method can do better. Effective sample sizes are Kish's
    ``(sum w)^2 / sum w^2`` over distinct control people, a person's weights summed over their rows.
    """

    weights: np.ndarray
    method: str
    tolerance: float | None
    step: float | None
    least_achievable_smd: float
    max_smd: float
    max_smd_matching: float
    ess: float
    ess_matching: float


def effective_sample_size(weights: np.ndarray, groups: np.ndarray) -> float:
    """Kish's effective sample size of ``weights`` after summing them within ``groups`` (e.g. people)."""
    _, column = np.unique(groups, return_inverse=True)
    total = np.bincount(column.ravel(), weights=weights)
    return float(total.sum() ** 2 / (total**2).sum()) if total.any() else 0.0


def smallest_max_smd(z: np.ndarray) -> float:
    """Least ``max_k |sum_i w_i z_ik|`` over weights ``w >= 0`` summing to 1 (the HiGHS linear programme).

    ``z`` holds each control row's standardised distance from the target means (rows x covariates);
    the answer is 0 exactly when the target lies in the convex hull of the rows.
    """
    n, p = z.shape
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    bound = -np.ones((p, 1))
    upper = np.vstack([np.hstack([z.T, bound]), np.hstack([-z.T, bound])])
    equal = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
    result = linprog(cost, A_ub=upper, b_ub=np.zeros(2 * p), A_eq=equal, b_eq=[1.0], bounds=(0, None), method="highs")
    return float(result.fun) if result.status == 0 else 0.0  # unsolved: no floor known, every rung is tried


def _solve(z: np.ndarray, log_q: np.ndarray, tolerance: float) -> np.ndarray:
    """Entropy weights (summing to 1) closest to ``exp(log_q)`` with every ``|sum w z_k| <= tolerance``.

    The dual: minimise ``log sum_i q_i exp(z_i . lam) + tolerance * ||lam||_1`` (Hainmueller 2012 for
    ``tolerance = 0``; with a tolerance, approximate balancing as in Wang & Zubizarreta 2020 and
    Källberg & Waernbaum 2023). The L1 term is handled by splitting ``lam`` into non-negative parts.
    """
    p = z.shape[1]
    split = tolerance > 0

    def dual(u: np.ndarray) -> tuple[float, np.ndarray]:
        lam = u[:p] - u[p:] if split else u
        s = z @ lam + log_q
        top = s.max()
        e = np.exp(s - top)
        total = e.sum()
        mean = (e / total) @ z
        if not split:
            return float(np.log(total) + top), mean
        return float(np.log(total) + top + tolerance * u.sum()), np.concatenate([mean + tolerance, tolerance - mean])

    bounds = [(0.0, None)] * (2 * p) if split else None
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging search shows as imbalance, checked by the caller
        result = minimize(dual, np.zeros(2 * p if split else p), jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": _MAX_ITERATIONS, "maxfun": 2 * _MAX_ITERATIONS, "ftol": 1e-15, "gtol": 1e-10})
        lam = result.x[:p] - result.x[p:] if split else result.x
        s = z @ lam + log_q
        w = np.exp(s - s.max())
    return w / w.sum()


def _largest(w: np.ndarray, z: np.ndarray) -> float:
    """Largest absolute weighted mean of the standardised differences: the largest |SMD|."""
    return float(np.abs(w @ z).max()) if z.size else 0.0


def balancing_weights(
    x_controls: np.ndarray,
    base: np.ndarray,
    target: np.ndarray,
    scale: np.ndarray,
    groups: np.ndarray,
    step: float | None,
) -> Balancing:  # noqa: PLR0913 - the problem's parts travel together
    """Reweight controls so their covariate means come as close to ``target`` as a ladder of tolerances allows.

    The linear programme :func:`smallest_max_smd` gives the least achievable largest |SMD|; then the
    rungs ``0, step, 2 step, ...`` above it and below the matching weights' own largest |SMD| are tried
    in increasing order, and the first whose entropy dual converges (every covariate within the rung
    plus :data:`CONVERGENCE_SMD`) is kept. Rung 0 is exact entropy balancing. When no rung works (or
    ``step`` is ``None``) the matching weights are kept.

    Parameters
    ----------
    x_controls
        Covariates of the control rows.
    base
        Matching weights of the control rows (positive); the solution stays as close to them as possible (relative entropy).
    target
        Covariate means of the enrolled rows.
    scale
        SMD denominator per covariate (a non-positive value counts as 1, as in the balance table).
    groups
        Person per control row, for the effective sample size.
    step
        Spacing of the ladder of largest accepted |SMD|; ``None`` keeps the matching weights.
    """
    denominator = np.where(scale > 0, scale, 1.0)
    unique, row = np.unique((x_controls - target) / denominator, axis=0, return_inverse=True)
    row = row.ravel()
    q = np.bincount(row, weights=base) / base.sum()  # identical covariate rows (a control reused) solve as one
    floor = smallest_max_smd(unique)
    floor = 0.0 if floor <= 1e-9 else floor  # the programme's own round-off
    chosen, tolerance, method = q, None, "matching"
    matching = _largest(q, unique)
    rungs: list[float] = []
    if step is not None:
        # rungs below the floor are infeasible; at the floor only a corner is, where the dual has no finite solution
        first = 0 if floor == 0 else int(np.floor(floor * (1.0 + 1e-6) / step)) + 1
        rungs = [round(k * step, 12) for k in range(first, int(np.ceil(matching / step)))]
    for rung in rungs:
        w = _solve(unique, np.log(q), rung)
        if np.all(np.isfinite(w)) and _largest(w, unique) <= rung + CONVERGENCE_SMD:
            chosen, tolerance, method = w, rung, "entropy" if rung == 0 else "approximate_entropy"
            break
    weights = chosen[row] * base / q[row]  # each row keeps its share of its unique row's weight
    return Balancing(
        weights=weights,
        method=method,
        tolerance=tolerance,
        step=step,
        least_achievable_smd=floor,
        max_smd=_largest(chosen, unique),
        max_smd_matching=matching,
        ess=effective_sample_size(weights, groups),
        ess_matching=effective_sample_size(base, groups),
    )
