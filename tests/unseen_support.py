"""Hand-built labelled frames and registered models with chosen split settings, for the tests that models are measured on people they never saw."""

from __future__ import annotations

import json
from datetime import date

import mlflow
import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.home import Home
from models.risk_model import RiskModel
from training.config import ExperimentConfig
from training.dataset import TrainingData, prepare
from training.record import flatten
from training.registry import MODEL_NAME, log_and_register
from training.split import IndexDates
from training.tracking import configure_tracking

__all__ = ["HAND_DATES", "PREDICTORS", "hand_frame", "hand_data", "split_params", "fit_small", "register"]

#: Two monthly training dates and two quarterly validation dates (each date's 6-18 month outcome window overlaps the next's).
HAND_DATES = IndexDates(train=(date(2021, 1, 1), date(2021, 2, 1)), valid=(date(2021, 6, 1), date(2021, 9, 1)))
PREDICTORS = ["x1", "x2"]


def hand_frame(people: int = 2400, seed: int = 3) -> pd.DataFrame:
    """Every person at every date of :data:`HAND_DATES`: two predictors, a logistic outcome on ``x1`` (about 20%), all in the cohort.

    Not the simulator: a person's risk is one fixed draw, so a model that memorised them would carry it across dates.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"h{i:05d}" for i in range(people)], dtype=object)
    frailty = rng.normal(size=people)
    dates = [*HAND_DATES.train, *HAND_DATES.valid]
    frames = []
    for when in dates:
        x1 = frailty + rng.normal(scale=0.5, size=people)
        label = (rng.random(people) < 1 / (1 + np.exp(-(1.5 * frailty - 1.8)))).astype(float)
        frames.append(pd.DataFrame({
            "person_id": ids, "as_of": pd.Timestamp(when), "in_cohort": True, "x1": x1, "x2": rng.normal(size=people),
            "label_high_intensity_use": label, "neighbourhood": "N1",
        }))
    return pd.concat(frames, ignore_index=True)


def hand_data(frame: pd.DataFrame, *, seed: int = 7, validation_fraction: float = 0.4, **promotion: object) -> tuple[TrainingData, ExperimentConfig]:
    """The frame split with the given sides (and ``[promotion]`` settings), as training would."""
    config = ExperimentConfig.load({"split": {"seed": seed, "validation_fraction": validation_fraction}, "promotion": promotion})
    return prepare(frame, HAND_DATES, predictors=PREDICTORS, config=config), config


def split_params(config: ExperimentConfig, *, old_split: bool = False) -> dict[str, str]:
    """The MLflow params a training run records for ``config`` (without ``split.validation_fraction`` for an old-split run)."""
    params = flatten(config.to_dict())
    params["resolved.train_dates"] = json.dumps([d.isoformat() for d in HAND_DATES.train])
    if old_split:
        del params["split.validation_fraction"]
    return params


def fit_small(data: TrainingData) -> RiskModel:
    """A small LightGBM grown on ``data``'s fit slice (trees chosen on its early-stopping slice), calibrated on its calibration slice."""
    fit, stop, cal = data.rows["fit"], data.rows["early_stop"], data.rows["calibrate"]
    model = RiskModel(n_estimators=30, learning_rate=0.1, num_leaves=7, min_child_samples=20, early_stopping_rounds=10, n_jobs=1)
    model.fit(data.X.iloc[fit], data.y[fit], X_valid=data.X.iloc[stop], y_valid=data.y[stop])
    return model.calibrate(data.X.iloc[cal], data.y[cal], method="platt")


def register(
    home: Home, model: RiskModel, *, params: dict[str, str], aliases: tuple[str, ...], metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None, example: pd.DataFrame,
) -> str:
    """Register ``model`` in a run that recorded ``params`` (and ``metrics``, ``tags``), as a training run would."""
    configure_tracking(home)
    metadata = {"feature_names": PREDICTORS, "outcome": "high_intensity_use", "feature_config": FeatureConfig().to_dict(),
                "training_window": HAND_DATES.as_dict()}
    with mlflow.start_run():
        mlflow.log_params(params)
        mlflow.log_metrics(metrics or {})
        mlflow.set_tags(tags or {})
        return log_and_register(model, name=MODEL_NAME, example=example, metadata=metadata, aliases=aliases)
