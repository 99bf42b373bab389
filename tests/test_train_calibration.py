"""Calibration choice on the held-out slice, and the JSON round trip of the risk model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.risk_model import LogOddsCalibrator, RiskModel
from training.calibration import choose_calibration
from training.errors import TrainingError
from training.metrics import brier_score


def test_calibration_lowers_brier_on_a_deliberately_miscalibrated_input() -> None:
    rng = np.random.default_rng(4)
    true_log_odds = rng.normal(-3.5, 1.0, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-true_log_odds))).astype(float)
    skewed = 2.0 * true_log_odds + 3.0  # too extreme and too high
    people = np.arange(20000)
    choice = choose_calibration(skewed, y, groups=people, methods=("smoothed_isotonic", "beta", "platt"), folds=5, seed=0)
    before = brier_score(y, 1 / (1 + np.exp(-skewed)))
    after = brier_score(y, choice.calibrator.transform(skewed))
    assert after < before
    assert set(choice.cv_brier) == {"smoothed_isotonic", "beta", "platt"}
    assert choice.method == min(choice.cv_brier, key=choice.cv_brier.__getitem__)


def test_a_calibration_slice_without_outcomes_raises_training_error() -> None:
    with pytest.raises(TrainingError, match="calibration slice must contain both outcomes"):
        choose_calibration(np.zeros(10), np.zeros(10), groups=np.arange(10), methods=("platt",), folds=2, seed=0)


@pytest.mark.parametrize("method", ["smoothed_isotonic", "beta", "platt"])
def test_no_calibrated_score_is_exactly_0_or_1_even_where_the_top_block_is_all_outcomes(method: str) -> None:
    rng = np.random.default_rng(3)
    log_odds = np.r_[rng.normal(-4, 1, 5000), rng.normal(4, 0.2, 40), rng.normal(-9, 0.2, 400)]
    y = np.r_[(rng.random(5000) < 1 / (1 + np.exp(-rng.normal(-4, 1, 5000)))), np.ones(40), np.zeros(400)].astype(float)
    plain = LogOddsCalibrator(method="isotonic").fit(log_odds, y).transform(log_odds)
    assert plain.max() == 1.0 and plain.min() == 0.0  # the problem: 40 people shown 100%, 400 shown 0%
    calibrated = LogOddsCalibrator(method=method).fit(log_odds, y).transform(np.r_[log_odds, -40.0, 40.0])
    assert ((calibrated > 0.0) & (calibrated < 1.0)).all()


def test_smoothed_isotonic_is_monotone_and_stays_calibrated_at_the_top_of_the_list() -> None:
    rng = np.random.default_rng(5)
    true_log_odds = rng.normal(-4.0, 1.4, 60000)
    y = (rng.random(true_log_odds.size) < 1 / (1 + np.exp(-true_log_odds))).astype(float)
    fit, test = slice(0, 30000), slice(30000, None)
    calibrator = LogOddsCalibrator(method="smoothed_isotonic").fit(true_log_odds[fit], y[fit])
    grid = np.linspace(-10, 4, 200)
    assert (np.diff(calibrator.transform(grid)) >= 0).all()
    p = calibrator.transform(true_log_odds[test])
    top = np.argsort(-p)[:300]  # the listed: top 1%
    assert abs(p[top].mean() - y[test][top].mean()) < 0.06


@pytest.mark.parametrize("method", ["smoothed_isotonic", "beta", "platt", "isotonic"])
def test_calibrator_round_trips_through_json_with_identical_output(method: str) -> None:
    rng = np.random.default_rng(1)
    log_odds = rng.normal(-2, 1, 500)
    y = (rng.random(500) < 1 / (1 + np.exp(-log_odds))).astype(float)
    fitted = LogOddsCalibrator(method=method).fit(log_odds, y)
    again = LogOddsCalibrator.from_dict(fitted.to_dict())
    grid = np.linspace(-6, 3, 50)
    assert np.array_equal(fitted.transform(grid), again.transform(grid))


def test_risk_model_saved_and_loaded_predicts_identically(tmp_path) -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    X.loc[::7, "b"] = np.nan
    y = (rng.random(600) < 1 / (1 + np.exp(-2 * X["a"].to_numpy()))).astype(int)
    model = RiskModel(n_estimators=20, min_child_samples=20).fit(X[:400], y[:400], X_valid=X[400:500], y_valid=y[400:500])
    model.calibrate(X[500:], y[500:], method="platt")
    loaded = RiskModel.load(model.save(tmp_path / "model"))
    assert (tmp_path / "model" / "booster.txt").read_text().startswith("tree")
    assert loaded.feature_names_ == ["a", "b"]
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
