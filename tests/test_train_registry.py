"""The model registry: a registered model loads with its metadata, and loading leaves nothing in the temp directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from features.home import home
from models.risk_model import RiskModel
from training.registry import load_model, log_and_register
from training.tracking import configure_tracking


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, (rng.random(n) < 1 / (1 + np.exp(-2 * X["a"].to_numpy()))).astype(int)


@pytest.fixture()
def registered(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    X, y = _frame(600, 1)
    model = RiskModel(n_estimators=20, min_child_samples=20, n_jobs=1).fit(X[:400], y[:400], X_valid=X[400:500], y_valid=y[400:500])
    model.calibrate(X[500:], y[500:], method="platt")
    configure_tracking(home(root))
    metadata = {"feature_names": ["a", "b"], "outcome": "high_intensity_use", "feature_config": FeatureConfig().to_dict(),
                "training_window": {"train": ["2024-12-01"], "valid": ["2025-03-01"]}}
    with mlflow.start_run():
        log_and_register(model, name="risingrisk-high-intensity-use", example=X.head(3), metadata=metadata, aliases=("champion",))
    return root


def test_loading_a_model_leaves_no_new_folder_in_the_temp_directory(registered: Path) -> None:
    before = set(Path(tempfile.gettempdir()).iterdir())
    for _ in range(3):
        loaded = load_model("champion", home=home(registered))
    after = set(Path(tempfile.gettempdir()).iterdir())
    assert [p.name for p in after - before if p.name.startswith("risingrisk-")] == []
    assert (loaded.version, loaded.feature_names, loaded.feature_config) == ("1", ["a", "b"], FeatureConfig())
    assert loaded.training_window == {"train": ["2024-12-01"], "valid": ["2025-03-01"]}
