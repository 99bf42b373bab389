"""Person-level (cluster) bootstrap standard errors of every subgroup's AUROC, observed rate and calibration-in-the-large at once."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from training.errors import TrainingError
from training.metrics import resample_counts

__all__ = ["GroupStandardErrors", "group_standard_errors"]

#: Bootstrap replicates are processed in batches holding about this many replicate x column sums (float64: ~80 MB).
_BATCH_CELLS = 10_000_000


@dataclass(frozen=True)
class GroupStandardErrors:
    """One grouping's per-group estimates on the evaluation rows and their person-level bootstrap standard errors.

    Arrays are indexed by group code (``0 .. n_groups - 1``); a standard error is NaN when the
    statistic is undefined in the group (e.g. AUROC without outcomes or without non-outcomes).
    """

    auroc: np.ndarray
    observed_rate: np.ndarray
    calibration_in_the_large: np.ndarray
    auroc_se: np.ndarray
    observed_rate_se: np.ndarray
    calibration_in_the_large_se: np.ndarray


class _Layout:
    """One grouping's rows mapped to the columns of a person x column matrix whose weighted sums give every group's statistics.

    Rows are sorted by (group, score) into tie levels; the levels holding an outcome ("positive
    levels", ``m`` of them) are the only places the AUROC numerator changes. Each row adds 1 to
    exactly one count column: ``P[i]`` (an outcome at positive level ``i``), ``T[i]`` (a
    non-outcome tied with it), ``B[i]`` (a non-outcome below level ``i`` and above the previous
    positive level of its group) or ``tail[k]`` (a non-outcome above group ``k``'s last outcome);
    it also adds its score to ``score[k]``. Columns: ``P | T | B | tail | score`` (``3m + 2K``).
    With person weights ``w`` the sums ``w @ A`` give, per group, the weighted outcomes, non-outcomes,
    scores and the Mann-Whitney numerator ``sum_i P[i] (non-outcomes below level i + T[i] / 2)``.
    """

    def __init__(self, codes: np.ndarray, n_groups: int, y: np.ndarray, p: np.ndarray, persons: np.ndarray, n_persons: int) -> None:
        order = np.lexsort((p, codes))
        group, score, outcome = codes[order], p[order], y[order]
        new_level = np.r_[True, (group[1:] != group[:-1]) | (score[1:] != score[:-1])]
        level = np.cumsum(new_level) - 1
        level_group = group[new_level]
        positive_levels = np.flatnonzero(np.bincount(level, weights=outcome) > 0)
        m = positive_levels.size
        self.n_groups, self.m = n_groups, m
        self.positive_group = level_group[positive_levels]
        # Index of the first positive level at or above each row's level, and whether it is in the row's group.
        nxt = np.searchsorted(positive_levels, level, side="left")
        inside = nxt < m
        inside[inside] = self.positive_group[nxt[inside]] == group[inside]
        at_positive = inside & (positive_levels[np.minimum(nxt, max(m - 1, 0))] == level) if m else np.zeros_like(inside)
        column = np.where(
            outcome == 1, nxt, np.where(at_positive, m + nxt, np.where(inside, 2 * m + nxt, 3 * m + group))
        )
        n_columns = 3 * m + 2 * n_groups
        rows = np.r_[persons[order], persons[order]]
        cols = np.r_[column, 3 * m + n_groups + group]
        data = np.r_[np.ones(order.size), score]
        # Transposed (columns x persons) so a batch of replicates is one CSR times dense product.
        self.matrix_t = sparse.csr_matrix((data, (cols, rows)), shape=(n_columns, n_persons))
        self.starts = np.flatnonzero(np.r_[True, self.positive_group[1:] != self.positive_group[:-1]]) if m else np.zeros(0, dtype=int)
        self.groups_with_outcomes = self.positive_group[self.starts]

    def statistics(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """AUROC, observed rate and calibration-in-the-large per group (``replicates x groups``) for person weights ``persons x replicates``."""
        sums = (self.matrix_t @ weights).T
        m, k = self.m, self.n_groups
        pos, tied, below = sums[:, :m], sums[:, m:2 * m], sums[:, 2 * m:3 * m]
        tail, score = sums[:, 3 * m:3 * m + k], sums[:, 3 * m + k:]
        replicates = sums.shape[0]
        positives = np.zeros((replicates, k))
        negatives = tail.copy()
        numerator = np.zeros((replicates, k))
        if m:
            negatives_through = np.cumsum(below + tied, axis=1)
            before_group = np.where(self.starts > 0, negatives_through[:, self.starts - 1], 0.0)
            under = negatives_through - tied - np.repeat(before_group, np.diff(np.r_[self.starts, m]), axis=1)
            numerator[:, self.groups_with_outcomes] = np.add.reduceat(pos * (under + 0.5 * tied), self.starts, axis=1)
            positives[:, self.groups_with_outcomes] = np.add.reduceat(pos, self.starts, axis=1)
            negatives[:, self.groups_with_outcomes] += np.add.reduceat(below + tied, self.starts, axis=1)
        count = positives + negatives
        with np.errstate(divide="ignore", invalid="ignore"):
            area = numerator / (positives * negatives)
            rate = positives / count
            gap = score / count - rate
        return area, rate, gap


def _person_codes(persons: np.ndarray) -> tuple[np.ndarray, int]:
    codes = np.unique(np.asarray(persons), return_inverse=True)[1].ravel()
    return codes, int(codes.max()) + 1 if codes.size else 0


def group_standard_errors(
    groupings: Sequence[np.ndarray], y: np.ndarray, p: np.ndarray, persons: np.ndarray, *, n_bootstrap: int, seed: int
) -> list[GroupStandardErrors]:
    """Per-group AUROC, observed rate and calibration-in-the-large with person-level bootstrap standard errors.

    A person evaluated at several index dates contributes correlated rows, so intervals that treat
    rows as independent (Hanley-McNeil, binomial) are too narrow. Each replicate draws people with
    replacement (as :func:`training.metrics.evaluate_scores` does: ``n`` draws from ``n`` people
    with the same seeded generator) and weights every row by its person's multiplicity; one set of
    person weights serves every group of every grouping, so groups and groupings are resampled
    jointly. Each statistic is a ratio of person-weighted sums, and for AUROC the weighted
    Mann-Whitney numerator (ties count one half) needs only sums between consecutive outcomes in
    score order (:class:`_Layout`), so a batch of replicates costs one sparse-times-dense product
    (two non-zeros per row per grouping) and arithmetic on ``outcomes``-sized arrays, not a sort.
    That is fast enough to keep the bootstrap rather than a cluster-robust analytic approximation:
    measured on 400,000 rows of 200,000 people with 200 replicates on 2 busy cores, about 6 s for
    15 groups and 10 s for six groupings (73 groups).

    Parameters
    ----------
    groupings
        Group code per row (integers ``0 .. K - 1``) for each grouping (attribute or intersection).
    y
        Outcomes (0/1).
    p
        Predicted probabilities.
    persons
        Person key per row (any hashable values): the bootstrap clusters.
    n_bootstrap
        Number of replicates.
    seed
        Seed of the resampling.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if not (y.shape == p.shape == np.shape(persons)) or y.ndim != 1:
        raise TrainingError(
            f"outcomes, probabilities and persons must be 1-D of equal length; got shapes {y.shape}, {p.shape} and {np.shape(persons)}."
        )
    if n_bootstrap < 2:
        raise TrainingError(f"n_bootstrap must be >= 2 to estimate a spread; got {n_bootstrap}. Use [evaluation] n_bootstrap, e.g. 200.")
    person, n_persons = _person_codes(persons)
    layouts = []
    for codes in groupings:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != y.shape or (codes.size and codes.min() < 0):
            raise TrainingError(f"group codes must be non-negative integers, one per row; got shape {codes.shape}. Factorise the groups first.")
        layouts.append(_Layout(codes, int(codes.max()) + 1 if codes.size else 0, y, p, person, n_persons))
    points = [layout.statistics(np.ones((n_persons, 1))) for layout in layouts]
    replicates: list[list[list[np.ndarray]]] = [[[], [], []] for _ in layouts]
    rng = np.random.default_rng(seed)
    widest = max((layout.matrix_t.shape[0] for layout in layouts), default=1)
    batch = max(1, min(n_bootstrap, _BATCH_CELLS // max(widest, n_persons, 1)))
    for first in range(0, n_bootstrap, batch):
        size = min(batch, n_bootstrap - first)
        weights = np.empty((n_persons, size))
        for j in range(size):
            weights[:, j] = resample_counts(rng, n_persons)
        for layout, kept in zip(layouts, replicates):
            for sample, values in zip(kept, layout.statistics(weights)):
                sample.append(values)
    out = []
    for point, kept in zip(points, replicates):
        errors = []
        for sample in kept:
            values = np.vstack(sample)
            known = (~np.isnan(values)).sum(axis=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a group undefined in every replicate has no spread
                errors.append(np.where(known > 1, np.nanstd(values, axis=0, ddof=1), np.nan))
        out.append(GroupStandardErrors(*(values[0] for values in point), *errors))
    return out
