"""The rising-risk estimator: a LightGBM booster with early stopping and a calibration map on its log-odds."""

from __future__ import annotations

from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = ["RiskModel", "LogOddsCalibrator"]

CalibrationMethod = Literal["isotonic", "platt"]


class LogOddsCalibrator:
    """Monotone map from the booster's log-odds to a calibrated probability (isotonic or Platt)."""

    def __init__(self, *, method: CalibrationMethod) -> None:
        self.method = method

    def fit(self, log_odds: np.ndarray, y: np.ndarray) -> "LogOddsCalibrator":
        if self.method == "isotonic":
            self.map_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(log_odds, y)
        elif self.method == "platt":
            self.map_ = LogisticRegression(C=1e6).fit(log_odds.reshape(-1, 1), y)
        else:
            raise ValueError(f"calibration method must be 'isotonic' or 'platt'; got {self.method!r}")
        return self

    def transform(self, log_odds: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities for ``log_odds``."""
        if self.method == "isotonic":
            return np.asarray(self.map_.predict(log_odds), dtype=float)
        return self.map_.predict_proba(np.asarray(log_odds).reshape(-1, 1))[:, 1]


class RiskModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier with early stopping, then a separately fitted calibration map.

    ``fit`` uses ``(X_valid, y_valid)`` only for early stopping; ``calibrate`` must be given a
    slice that neither training nor early stopping saw, or the calibration is optimistic.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 2000,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        max_depth: int = -1,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 100,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: np.ndarray, *, X_valid: pd.DataFrame, y_valid: np.ndarray) -> "RiskModel":
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with named features; got {type(X).__name__}")
        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1.0 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }
        train = lgb.Dataset(X, label=np.asarray(y), free_raw_data=True)
        valid = lgb.Dataset(X_valid, label=np.asarray(y_valid), reference=train)
        self.booster_ = lgb.train(
            params,
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.feature_names_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        self.calibrator_: LogOddsCalibrator | None = None
        return self

    def calibrate(self, X: pd.DataFrame, y: np.ndarray, *, method: CalibrationMethod) -> "RiskModel":
        """Fit the calibration map on a held-out slice; returns self."""
        self.calibrator_ = LogOddsCalibrator(method=method).fit(self.predict_log_odds(X), np.asarray(y))
        return self

    def predict_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated booster output in log-odds (the space TreeSHAP explains)."""
        return self.booster_.predict(X[self.feature_names_], raw_score=True, num_iteration=self.best_iteration_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities as an ``(n, 2)`` array; uncalibrated if ``calibrate`` was not called."""
        log_odds = self.predict_log_odds(X)
        positive = self.calibrator_.transform(log_odds) if self.calibrator_ is not None else 1.0 / (1.0 + np.exp(-log_odds))
        return np.column_stack([1.0 - positive, positive])
