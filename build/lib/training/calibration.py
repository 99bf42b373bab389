"""Choose and fit the calibration map (smoothed isotonic, beta or Platt) on the held-out calibration slice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.risk_model import LogOddsCalibrator
from training.errors import TrainingError

__all__ = ["CalibrationChoice", "choose_calibration"]


@dataclass(frozen=True)
class CalibrationChoice:
    """The method chosen, the cross-validated Brier score of every method, and the fitted map."""

    method: str
    cv_brier: dict[str, float]
    calibrator: LogOddsCalibrator


def choose_calibration(
    log_odds: np.ndarray,
    y: np.ndarray,
    *,
    groups: np.ndarray,
    methods: tuple[str, ...],
    folds: int,
    seed: int,
    prior_rows: float | None = None,
) -> CalibrationChoice:
    """Pick the calibration method with the lowest person-grouped cross-validated Brier score, then refit it on all rows.

    Fitting the methods on the whole slice and comparing them there would always favour the most
    flexible one; cross-validation within the slice compares them on rows each
    fit did not see. Folds are made of whole people, so a person's two index dates never sit on
    both sides of a fold.

    Parameters
    ----------
    log_odds
        The uncalibrated booster output on the calibration slice (which neither training nor
        early stopping used; otherwise the map is fitted to optimistic scores — leakage).
    y
        Outcomes (0/1).
    groups
        Person key per row.
    methods
        Candidate methods (``models.risk_model.CALIBRATION_MAPS``), e.g. ``"smoothed_isotonic"``, ``"beta"``, ``"platt"``.
    folds
        Number of grouped folds.
    seed
        Seed assigning people to folds.
    prior_rows
        ``smoothed_isotonic``'s pseudo-rows (``None`` = sqrt of the rows it is fitted on).
    """
    log_odds = np.asarray(log_odds, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.sum() == 0 or y.sum() == y.size:
        raise TrainingError(
            f"the calibration slice must contain both outcomes; got {int(y.sum())} positives in {y.size} rows. "
            "Raise split.calibration_fraction or add validation dates."
        )
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    fold_of_group = np.random.default_rng(seed).permutation(int(codes.max()) + 1) % folds
    fold = fold_of_group[codes]
    scores: dict[str, float] = {}
    for method in methods:
        squared = np.empty_like(y)
        for k in range(folds):
            test = fold == k
            fitted = LogOddsCalibrator(method=method, prior_rows=prior_rows).fit(log_odds[~test], y[~test])  # type: ignore[arg-type]
            squared[test] = (fitted.transform(log_odds[test]) - y[test]) ** 2
        scores[method] = float(squared.mean())
    best = min(scores, key=scores.__getitem__)
    return CalibrationChoice(best, scores, LogOddsCalibrator(method=best, prior_rows=prior_rows).fit(log_odds, y))  # type: ignore[arg-type]
