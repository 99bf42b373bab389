"""A small calibrated model fitted on a simulated extract, and a tracked home to register it in, for tests that need a champion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from features.build import build_features
from features.config import FeatureConfig
from features.definitions import predictor_names
from features.home import Home
from models.risk_model import RiskModel
from training.config import ExperimentConfig
from training.dataset import TrainingData, prepare
from training.split import IndexDates
from training.tracking import configure_tracking

__all__ = ["SmallModel", "small_model", "tracked_home"]


@dataclass(frozen=True)
class SmallModel:
    """The fitted model, the split it came from and the registry metadata that describes it."""

    model: RiskModel
    data: TrainingData
    metadata: dict[str, Any]


def small_model(sim_dir: Path, dates: IndexDates) -> SmallModel:
    """Sixty shallow trees on the default predictors at ``dates``, early-stopped and Platt-calibrated on their slices."""
    config = FeatureConfig()
    names = predictor_names(config)
    frame = build_features(sim_dir, as_of=[*dates.train, *dates.valid], labels=True, config=config)
    data = prepare(frame, dates, predictors=names, config=ExperimentConfig())
    fit, stop, cal = data.rows["fit"], data.rows["early_stop"], data.rows["calibrate"]
    model = RiskModel(n_estimators=60, learning_rate=0.1, num_leaves=15, min_child_samples=50, early_stopping_rounds=20, n_jobs=1)
    model.fit(data.X.iloc[fit], data.y[fit], X_valid=data.X.iloc[stop], y_valid=data.y[stop])
    model.calibrate(data.X.iloc[cal], data.y[cal], method="platt")
    metadata = {"feature_names": names, "outcome": config.outcome, "feature_config": config.to_dict(), "training_window": dates.as_dict()}
    return SmallModel(model, data, metadata)


def tracked_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A fresh home whose MLflow tracking is configured (models can be registered in it)."""
    where = Home(tmp_path_factory.mktemp("home")).ensure()
    configure_tracking(where)
    return where
