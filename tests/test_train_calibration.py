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
    choice = choose_calibration(skewed, y, groups=people, methods=("isotonic", "platt"), folds=5, seed=0)
    before = brier_score(y, 1 / (1 + np.exp(-skewed)))
    after = brier_score(y, choice.calibrator.transform(skewed))
    assert after < before
    assert set(choice.cv_brier) == {"isotonic", "platt"}
    assert choice.method == min(choice.cv_brier, key=choice.cv_brier.__getitem__)


def test_a_calibration_slice_without_outcomes_raises_training_error() -> None:
    with pytest.raises(TrainingError, match="calibration slice must contain both outcomes"):
        choose_calibration(np.zeros(10), np.zeros(10), groups=np.arange(10), methods=("platt",), folds=2, seed=0)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
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
