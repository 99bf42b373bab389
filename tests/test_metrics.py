"""Metric functions against scikit-learn and hand-computed values; the person-level bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from training.errors import TrainingError
from training.metrics import (
    auroc,
    average_precision,
    brier_score,
    calibration_intercept_slope,
    evaluate_scores,
    expected_calibration_error,
    top_fraction_metrics,
)


@pytest.fixture(scope="module")
def known() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    p = rng.beta(1, 20, 5000)
    y = (rng.random(5000) < p).astype(int)
    weights = rng.integers(0, 3, 5000)
    return y, np.round(p, 2), weights  # rounding makes many ties


def test_auroc_matches_scikit_learn_with_ties_and_weights(known: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, scores, weights = known
    assert auroc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert auroc(y, scores, weights) == pytest.approx(roc_auc_score(y, scores, sample_weight=weights), abs=1e-12)


def test_average_precision_matches_scikit_learn_with_ties_and_weights(known: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, scores, weights = known
    assert average_precision(y, scores) == pytest.approx(average_precision_score(y, scores), abs=1e-12)
    assert average_precision(y, scores, weights) == pytest.approx(average_precision_score(y, scores, sample_weight=weights), abs=1e-12)


def test_brier_score_matches_scikit_learn(known: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, scores, _ = known
    assert brier_score(y, scores) == pytest.approx(brier_score_loss(y, scores), abs=1e-15)


def test_auroc_on_a_tiny_frame_counts_a_tie_as_one_half() -> None:
    # pairs (pos, neg): (0.8, 0.1) win, (0.8, 0.8) tie, (0.4, 0.1) win, (0.4, 0.8) loss -> 2.5 / 4
    assert auroc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.1, 0.8])) == 0.625


def test_calibration_slope_and_intercept_match_unpenalised_logistic_regression() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.6, 4000)
    y = (rng.random(4000) < p).astype(int)
    log_odds = np.log(p / (1 - p))
    fitted = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(log_odds.reshape(-1, 1), y)
    intercept, slope = calibration_intercept_slope(y, p)
    assert slope == pytest.approx(fitted.coef_[0, 0], abs=1e-5)
    # Calibration-in-the-large: intercept with the log-odds as an offset, so mean(sigmoid(a + logit p)) = mean(y).
    assert np.mean(1 / (1 + np.exp(-(intercept + log_odds)))) == pytest.approx(y.mean(), abs=1e-9)


def test_expected_calibration_error_on_two_known_bins() -> None:
    # bin 1: p 0.1, 0.2 vs y 0, 0 -> |0 - 0.15|; bin 2: p 0.7, 0.8 vs y 1, 1 -> |1 - 0.75|; each half the rows.
    ece = expected_calibration_error(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.8]), n_bins=2)
    assert ece == pytest.approx(0.5 * 0.15 + 0.5 * 0.25, abs=1e-15)


def test_top_fraction_metrics_on_a_known_ranking() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    scores = np.arange(10, 0, -1, dtype=float)
    # top 20% = the two highest scores: one outcome of two -> PPV 0.5; 1 of 2 outcomes found; prevalence 0.2 -> lift 2.5
    assert top_fraction_metrics(y, scores, 0.2) == {"ppv": 0.5, "predicted": 9.5, "listed_calibration": -9.0, "sensitivity": 0.5, "lift": 2.5}


def test_listed_calibration_is_the_observed_rate_among_the_listed_minus_their_mean_probability() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.7, 0.5, 0.4, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
    # top 30% = 0.9, 0.7, 0.5: two outcomes of three listed; mean predicted 0.7 -> observed - predicted = -0.0333
    top = top_fraction_metrics(y, p, 0.3)
    assert top["predicted"] == pytest.approx(0.7)
    assert top["listed_calibration"] == pytest.approx(2 / 3 - 0.7)


def test_ties_at_the_list_cut_are_broken_at_random_and_reproducibly() -> None:
    y = np.array([1, 0] * 50)
    scores = np.zeros(100)
    first = top_fraction_metrics(y, scores, 0.1, seed=5)
    assert first == top_fraction_metrics(y, scores, 0.1, seed=5)
    assert 0.0 <= first["ppv"] <= 1.0


def test_labels_that_are_not_zero_or_one_raise_training_error() -> None:
    with pytest.raises(TrainingError, match="labels must be 0 or 1"):
        auroc(np.array([0, 1, np.nan]), np.array([0.1, 0.2, 0.3]))


def test_bootstrap_interval_brackets_the_point_estimate_and_is_reproducible(known: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, scores, _ = known
    people = np.arange(y.size) // 2  # two rows per person, resampled together
    kwargs = dict(groups=people, fractions={"capacity": 0.006}, probabilistic=True, n_bootstrap=30, ci_level=0.95, ece_bins=10, seed=1)
    result = evaluate_scores(y, scores, **kwargs)
    assert result["auroc"].value == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert result["auroc"].low < result["auroc"].value < result["auroc"].high
    assert result == evaluate_scores(y, scores, **kwargs)
    assert set(result) == {
        "auroc", "auprc", "brier", "calibration_intercept", "calibration_slope", "ece",
        "ppv_capacity", "sensitivity_capacity", "lift_capacity", "predicted_capacity", "listed_calibration_capacity",
    }
