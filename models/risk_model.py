"""The rising-risk estimator: a LightGBM booster with early stopping and a calibration map on its log-odds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.config import LightGBMConfig
from models.errors import CalibrationMethodError, PredictorFrameError

__all__ = ["RiskModel", "LogOddsCalibrator", "BOOSTER_FILE", "STATE_FILE"]

#: File names written by ``RiskModel.save``: the native LightGBM text model and the calibration state.
BOOSTER_FILE = "booster.txt"
STATE_FILE = "risk_model.json"

CalibrationMethod = Literal["isotonic", "platt"]

#: The single source of the keyword defaults below (the experiment's ``[model]`` table uses the same class).
_DEFAULTS = LightGBMConfig()


class LogOddsCalibrator:
    """Monotone map from the booster's log-odds to a calibrated probability (isotonic or Platt).

    The fitted map is stored as plain numbers (isotonic knots, or Platt's intercept and slope) so
    it round-trips through JSON: no pickle is needed to reload a registered model.
    """

    def __init__(self, *, method: CalibrationMethod) -> None:
        self.method = method

    def fit(self, log_odds: np.ndarray, y: np.ndarray) -> "LogOddsCalibrator":
        log_odds = np.asarray(log_odds, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(log_odds, y)
            self.knots_x_ = np.asarray(iso.X_thresholds_, dtype=float)
            self.knots_y_ = np.asarray(iso.y_thresholds_, dtype=float)
        elif self.method == "platt":
            platt = LogisticRegression(C=1e6).fit(log_odds.reshape(-1, 1), y)
            self.intercept_ = float(platt.intercept_[0])
            self.slope_ = float(platt.coef_[0, 0])
        else:
            raise CalibrationMethodError(f"calibration method must be 'isotonic' or 'platt'; got {self.method!r}. Use one of those two.")
        return self

    def transform(self, log_odds: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities for ``log_odds``."""
        log_odds = np.asarray(log_odds, dtype=float)
        if self.method == "isotonic":
            return np.interp(log_odds, self.knots_x_, self.knots_y_)
        return 1.0 / (1.0 + np.exp(-(self.intercept_ + self.slope_ * log_odds)))

    def to_dict(self) -> dict[str, object]:
        """The fitted map as JSON-friendly numbers."""
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.knots_x_.tolist(), "y": self.knots_y_.tolist()}
        return {"method": "platt", "intercept": self.intercept_, "slope": self.slope_}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "LogOddsCalibrator":
        """Rebuild a fitted calibrator from ``to_dict`` output."""
        calibrator = cls(method=data["method"])  # type: ignore[arg-type]
        if calibrator.method == "isotonic":
            calibrator.knots_x_ = np.asarray(data["x"], dtype=float)
            calibrator.knots_y_ = np.asarray(data["y"], dtype=float)
        elif calibrator.method == "platt":
            calibrator.intercept_ = float(data["intercept"])  # type: ignore[arg-type]
            calibrator.slope_ = float(data["slope"])  # type: ignore[arg-type]
        else:
            raise CalibrationMethodError(f"calibration method must be 'isotonic' or 'platt'; got {calibrator.method!r}. Re-train the model.")
        return calibrator


class RiskModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier with early stopping, then a separately fitted calibration map.

    The keyword defaults are :class:`models.config.LightGBMConfig`'s (``RiskModel(**config.model_dump())``
    builds the experiment's model).

    ``fit`` uses ``(X_valid, y_valid)`` only for early stopping; ``calibrate`` must be given a
    slice that neither training nor early stopping saw, or the calibration is optimistic.
    """

    def __init__(
        self,
        *,
        n_estimators: int = _DEFAULTS.n_estimators,
        learning_rate: float = _DEFAULTS.learning_rate,
        num_leaves: int = _DEFAULTS.num_leaves,
        max_depth: int = _DEFAULTS.max_depth,
        min_child_samples: int = _DEFAULTS.min_child_samples,
        subsample: float = _DEFAULTS.subsample,
        colsample_bytree: float = _DEFAULTS.colsample_bytree,
        reg_lambda: float = _DEFAULTS.reg_lambda,
        early_stopping_rounds: int = _DEFAULTS.early_stopping_rounds,
        random_state: int = _DEFAULTS.random_state,
        n_jobs: int = _DEFAULTS.n_jobs,
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
            raise PredictorFrameError(f"X must be a pandas DataFrame with named features; got {type(X).__name__}. Pass the feature table's predictor columns.")
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

    def probability(self, log_odds: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class for booster log-odds (logistic if not calibrated)."""
        return self.calibrator_.transform(log_odds) if self.calibrator_ is not None else 1.0 / (1.0 + np.exp(-log_odds))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities as an ``(n, 2)`` array; uncalibrated if ``calibrate`` was not called."""
        positive = self.probability(self.predict_log_odds(X))
        return np.column_stack([1.0 - positive, positive])

    def save(self, directory: Path) -> Path:
        """Write the native booster (``booster.txt``) and the calibration map (``calibrator.json``); no pickle."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(directory / BOOSTER_FILE), num_iteration=self.best_iteration_)
        state = {
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "best_iteration": self.best_iteration_,
            "calibrator": self.calibrator_.to_dict() if self.calibrator_ is not None else None,
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> "RiskModel":
        """Rebuild a fitted model written by ``save``."""
        directory = Path(directory)
        state = json.loads((directory / STATE_FILE).read_text())
        model = cls(**state["params"])
        model.booster_ = lgb.Booster(model_file=str(directory / BOOSTER_FILE))
        model.best_iteration_ = int(state["best_iteration"])
        model.feature_names_ = list(state["feature_names"])
        model.classes_ = np.array([0, 1])
        model.calibrator_ = LogOddsCalibrator.from_dict(state["calibrator"]) if state["calibrator"] else None
        return model
