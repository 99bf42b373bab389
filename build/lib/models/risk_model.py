"""The rising-risk estimator: a LightGBM booster with early stopping and a calibration map on its log-odds."""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Mapping
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.config import LightGBMConfig
from models.constraints import constraint_vector
from models.errors import CalibrationMethodError, PredictorFrameError

__all__ = ["RiskModel", "LogOddsCalibrator", "CALIBRATION_MAPS", "BOOSTER_FILE", "STATE_FILE"]

#: File names written by ``RiskModel.save``: the native LightGBM text model and the calibration state.
BOOSTER_FILE = "booster.txt"
STATE_FILE = "risk_model.json"

CalibrationMethod = Literal["smoothed_isotonic", "beta", "platt", "isotonic"]
#: Every calibration map a model may carry; all but plain ``isotonic`` stay strictly inside (0, 1).
CALIBRATION_MAPS: tuple[str, ...] = ("smoothed_isotonic", "beta", "platt", "isotonic")
#: Platt's prior for the smoothed isotonic map is kept this far from 0 and 1 (numerical guard only).
_PRIOR_EPS = 1e-6

#: The single source of the keyword defaults below (the experiment's ``[model]`` table uses the same class).
_DEFAULTS = LightGBMConfig()


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _beta_features(log_odds: np.ndarray) -> np.ndarray:
    """``ln p`` and ``-ln(1 - p)`` of ``p = sigmoid(log_odds)``, computed stably (beta calibration's inputs)."""
    return np.column_stack([-_softplus(-log_odds), _softplus(log_odds)])


class LogOddsCalibrator:
    """Monotone map from the booster's log-odds to a calibrated probability.

    Methods:

    - ``smoothed_isotonic``: isotonic regression whose blocks are shrunk towards a Platt fit by
      ``prior_rows`` pseudo-rows (default ``sqrt(rows)``), re-made monotone, and interpolated
      linearly between block centres. A small top block (40 people, 34 outcomes) no longer reads
      100%; it stays strictly inside (0, 1) and flat beyond the outermost centres.
    - ``beta``: beta calibration (Kull, Silva Filho and Flach 2017),
      ``logit q = a ln p - b ln(1 - p) + c`` with ``a, b >= 0`` (a term whose coefficient comes out
      negative is dropped and the rest refitted, keeping the map monotone); smooth, never 0 or 1.
    - ``platt``: logistic regression on the log-odds.

    ``beta`` and ``platt`` are flat beyond the calibration slice's log-odds range (no extrapolation,
    like the isotonic maps); a model saved before the range was stored maps without the clip.
    - ``isotonic``: plain isotonic regression (step function; can output exactly 0 or 1 — kept to
      load older models and for the rule baselines' score-to-rate maps).

    The fitted map is stored as plain numbers so it round-trips through JSON: no pickle is needed
    to reload a registered model.
    """

    def __init__(self, *, method: CalibrationMethod, prior_rows: float | None = None) -> None:
        self.method = method
        self.prior_rows = prior_rows

    def fit(self, log_odds: np.ndarray, y: np.ndarray) -> "LogOddsCalibrator":
        log_odds = np.asarray(log_odds, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(log_odds, y)
            self.knots_x_ = np.asarray(iso.X_thresholds_, dtype=float)
            self.knots_y_ = np.asarray(iso.y_thresholds_, dtype=float)
        elif self.method == "smoothed_isotonic":
            self.knots_x_, self.knots_y_ = self._smoothed_knots(log_odds, y)
        elif self.method == "beta":
            self.a_, self.b_, self.intercept_ = self._beta(log_odds, y)
            self.range_ = (float(log_odds.min()), float(log_odds.max()))
        elif self.method == "platt":
            platt = LogisticRegression(C=1e6).fit(log_odds.reshape(-1, 1), y)
            self.intercept_ = float(platt.intercept_[0])
            self.slope_ = float(platt.coef_[0, 0])
            self.range_ = (float(log_odds.min()), float(log_odds.max()))
        else:
            raise CalibrationMethodError(
                f"calibration method must be one of {list(CALIBRATION_MAPS)}; got {self.method!r}. Use one of those."
            )
        return self

    def _smoothed_knots(self, log_odds: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(log_odds, kind="stable")
        xs, ys = log_odds[order], y[order]
        fitted = IsotonicRegression(out_of_bounds="clip").fit(xs, ys).predict(xs)
        starts = np.r_[0, np.flatnonzero(np.diff(fitted) != 0.0) + 1]
        rows = np.diff(np.r_[starts, xs.size]).astype(float)
        positives = np.add.reduceat(ys, starts)
        centres = np.add.reduceat(xs, starts) / rows
        platt = LogisticRegression(C=1e6).fit(xs.reshape(-1, 1), ys)
        prior = np.clip(platt.predict_proba(centres.reshape(-1, 1))[:, 1], _PRIOR_EPS, 1.0 - _PRIOR_EPS)
        pseudo = float(self.prior_rows) if self.prior_rows is not None else float(np.sqrt(xs.size))
        rates = (positives + pseudo * prior) / (rows + pseudo)
        rates = IsotonicRegression().fit(centres, rates, sample_weight=rows + pseudo).predict(centres)
        return centres, np.asarray(rates, dtype=float)

    @staticmethod
    def _beta(log_odds: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
        features = _beta_features(log_odds)
        keep = [0, 1]
        while True:
            fit = LogisticRegression(C=1e6).fit(features[:, keep], y)
            coefs = dict(zip(keep, fit.coef_[0]))
            negative = [k for k, c in coefs.items() if c < 0]
            if not negative or len(keep) == 1:
                break
            keep = [k for k in keep if k not in negative] or [min(coefs, key=coefs.__getitem__)]
        a = max(float(coefs.get(0, 0.0)), 0.0)
        b = max(float(coefs.get(1, 0.0)), 0.0)
        return a, b, float(fit.intercept_[0])

    def transform(self, log_odds: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities for ``log_odds``."""
        log_odds = np.asarray(log_odds, dtype=float)
        if self.method in ("isotonic", "smoothed_isotonic"):
            return np.interp(log_odds, self.knots_x_, self.knots_y_)
        if getattr(self, "range_", None) is not None:
            log_odds = np.clip(log_odds, *self.range_)  # no extrapolation beyond the calibration slice's scores
        if self.method == "beta":
            z = self.intercept_ + _beta_features(log_odds) @ np.array([self.a_, self.b_])
            return 1.0 / (1.0 + np.exp(-z))
        return 1.0 / (1.0 + np.exp(-(self.intercept_ + self.slope_ * log_odds)))

    def to_dict(self) -> dict[str, object]:
        """The fitted map as JSON-friendly numbers."""
        if self.method in ("isotonic", "smoothed_isotonic"):
            return {"method": self.method, "x": self.knots_x_.tolist(), "y": self.knots_y_.tolist()}
        if self.method == "beta":
            return {"method": "beta", "a": self.a_, "b": self.b_, "intercept": self.intercept_, "range": list(self.range_)}
        return {"method": "platt", "intercept": self.intercept_, "slope": self.slope_, "range": list(self.range_)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "LogOddsCalibrator":
        """Rebuild a fitted calibrator from ``to_dict`` output."""
        calibrator = cls(method=data["method"])  # type: ignore[arg-type]
        calibrator.range_ = tuple(data["range"]) if "range" in data else None  # type: ignore[arg-type]
        if calibrator.method in ("isotonic", "smoothed_isotonic"):
            calibrator.knots_x_ = np.asarray(data["x"], dtype=float)
            calibrator.knots_y_ = np.asarray(data["y"], dtype=float)
        elif calibrator.method == "beta":
            calibrator.a_, calibrator.b_ = float(data["a"]), float(data["b"])  # type: ignore[arg-type]
            calibrator.intercept_ = float(data["intercept"])  # type: ignore[arg-type]
        elif calibrator.method == "platt":
            calibrator.intercept_ = float(data["intercept"])  # type: ignore[arg-type]
            calibrator.slope_ = float(data["slope"])  # type: ignore[arg-type]
        else:
            raise CalibrationMethodError(
                f"calibration method must be one of {list(CALIBRATION_MAPS)}; got {calibrator.method!r}. Re-train the model."
            )
        return calibrator


class RiskModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier with early stopping, then a separately fitted calibration map.

    The keyword defaults are :class:`models.config.LightGBMConfig`'s (``RiskModel(**config.model_dump())``
    builds the experiment's model).

    With ``monotone`` on and ``directions`` given (``models.constraints.monotone_directions`` of the
    predictor declarations), each predictor is constrained to its declared clinical direction
    (LightGBM ``monotone_constraints``, method ``monotone_method``); predictors without a direction are free.

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
        monotone: bool = _DEFAULTS.monotone,
        monotone_method: str = _DEFAULTS.monotone_method,
        directions: Mapping[str, int] | None = None,
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
        self.monotone = monotone
        self.monotone_method = monotone_method
        self.directions = dict(directions) if directions is not None else None

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
        if self.monotone and self.directions:
            params["monotone_constraints"] = constraint_vector(list(X.columns), self.directions)
            params["monotone_constraints_method"] = self.monotone_method
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
