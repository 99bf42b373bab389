"""The MLflow model registry: log and register a trained model (alias ``challenger``), and load any alias with its native booster."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from features.config import FeatureConfig
from features.home import Home, home as default_home
from models.config import DEFAULT_CAPACITY_PER_1000
from models.risk_model import RiskModel
from training.errors import ModelNotFoundError
from training.list_policy import ListsConfig
from training.seen_people import TrainingPeople, training_people
from training.tracking import client as tracking_client

__all__ = [
    "MODEL_NAME",
    "CHALLENGER",
    "CHAMPION",
    "MODEL_ARTIFACT",
    "MODEL_CARD_ARTIFACT",
    "DRIFT_REFERENCE_FILE",
    "model_name",
    "LoadedModel",
    "RiskPyfunc",
    "log_and_register",
    "load_model",
    "load_version",
]

MODEL_NAME = "risingrisk-high-intensity-use"
CHALLENGER = "challenger"
CHAMPION = "champion"
#: Name of the logged model inside a run.
MODEL_ARTIFACT = "model"
#: Run artifact path of the Markdown model card.
MODEL_CARD_ARTIFACT = "model_card/model_card.md"
_RISK_MODEL_DIR = "risk_model"
_METADATA_FILE = "metadata.json"
#: Artifact of the logged model holding the drift reference: a sample of training rows' features, ``neighbourhood`` and ``score``.
DRIFT_REFERENCE_FILE = "drift_reference.parquet"
_REQUIREMENTS = ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")


def model_name(outcome: str) -> str:
    """Registered model name for an outcome, e.g. ``risingrisk-high-intensity-use``."""
    return f"risingrisk-{outcome.replace('_', '-')}"


class RiskPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: predicts the calibrated probability; the native booster sits beside it as ``booster.txt``."""

    def load_context(self, context: Any) -> None:
        self.model = RiskModel.load(Path(context.artifacts[_RISK_MODEL_DIR]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict_proba(model_input)[:, 1]


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version resolved from an alias, with what scoring and explanation need.

    ``training_people`` says whom it was fitted on (its recorded split settings), so every later
    measurement on labelled rows can keep to people it never saw (``training.seen_people``).
    """

    name: str
    version: str
    alias: str
    run_id: str
    model: RiskModel
    feature_names: list[str]
    outcome: str
    feature_config: FeatureConfig
    metrics: dict[str, float]
    training_window: dict[str, list[str]]
    model_card_path: Path | None
    training_people: TrainingPeople
    lists: ListsConfig = field(default_factory=ListsConfig)
    capacity_per_1000: float = DEFAULT_CAPACITY_PER_1000
    drift_reference_path: Path | None = None

    def drift_reference(self) -> pd.DataFrame | None:
        """The training sample drift is measured against (features, ``neighbourhood``, ``score``); ``None`` for models registered without one."""
        return pd.read_parquet(self.drift_reference_path) if self.drift_reference_path is not None else None


def log_and_register(
    model: RiskModel,
    *,
    name: str,
    example: pd.DataFrame,
    metadata: dict[str, Any],
    aliases: tuple[str, ...] = (CHALLENGER,),
    drift_reference: pd.DataFrame | None = None,
) -> str:
    """Log ``model`` to the active run as a pyfunc (signature and input example), register it and set ``aliases``.

    The artifacts are the native LightGBM text model, the calibration map as JSON and
    ``metadata.json`` (feature names, outcome, feature config, training window); the pyfunc
    wrapper is logged as code (``training/pyfunc_model.py``), so nothing is pickled and the booster
    loads with LightGBM alone.

    Parameters
    ----------
    model
        Fitted and calibrated risk model.
    name
        Registered model name.
    example
        A few rows of predictors (the input example; also used to infer the signature).
    metadata
        JSON-serialisable facts about the model that ``load_model`` returns.
    aliases
        Aliases pointed at the new version.
    drift_reference
        A sample of training rows (model features, ``neighbourhood``, calibrated ``score``) logged as
        ``drift_reference.parquet`` beside the model, for monitoring drift; ``None`` logs none.

    Returns
    -------
    str
        The new model version.
    """
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model.save(Path(tmp) / _RISK_MODEL_DIR)
        metadata_path = Path(tmp) / _METADATA_FILE
        metadata_path.write_text(json.dumps(metadata, indent=2, default=str))
        artifacts = {_RISK_MODEL_DIR: str(model_dir), _METADATA_FILE: str(metadata_path)}
        if drift_reference is not None:
            drift_reference.to_parquet(Path(tmp) / DRIFT_REFERENCE_FILE, index=False)
            artifacts[DRIFT_REFERENCE_FILE] = str(Path(tmp) / DRIFT_REFERENCE_FILE)
        example = example[model.feature_names_]
        signature = infer_signature(example, model.predict_proba(example)[:, 1])
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts=artifacts,
            signature=signature,
            input_example=example,
            registered_model_name=name,
            pip_requirements=[f"{package}=={installed_version(package)}" for package in _REQUIREMENTS],
        )
    version = str(info.registered_model_version)
    registry = mlflow.MlflowClient()
    for alias in aliases:
        registry.set_registered_model_alias(name, alias, version)
    return version


def _local_path(uri: str) -> Path:
    """The local folder of a file-store artifact URI; the registry is always the home's file store (no download, no temp folder)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ModelNotFoundError(
            f"model artifacts must be in the local file store under the risingrisk home; got {uri}. "
            "Train with this risingrisk home (it configures MLflow's artifact folder)."
        )
    return Path(unquote(parsed.path))


def _model_dir(registry: Any, version: Any) -> Path:
    source = str(version.source)
    model_id = getattr(version, "model_id", None) or (source.removeprefix("models:/") if source.startswith("models:/m-") else None)
    if model_id:
        return _local_path(registry.get_logged_model(model_id).artifact_location)
    return _local_path(version.source)


def load_version(version: Any, *, alias: str, home: Home) -> LoadedModel:
    """Build a :class:`LoadedModel` from an MLflow ``ModelVersion`` (read in place from the home's artifact folder)."""
    registry = tracking_client(home)
    artifacts = _model_dir(registry, version) / "artifacts"
    model = RiskModel.load(artifacts / _RISK_MODEL_DIR)
    metadata = json.loads((artifacts / _METADATA_FILE).read_text())
    feature_config = FeatureConfig.load(metadata["feature_config"])
    run = registry.get_run(version.run_id)
    card = _local_path(run.info.artifact_uri) / MODEL_CARD_ARTIFACT
    reference = artifacts / DRIFT_REFERENCE_FILE
    return LoadedModel(
        name=version.name,
        version=str(version.version),
        alias=alias,
        run_id=version.run_id,
        model=model,
        feature_names=list(metadata["feature_names"]),
        outcome=str(metadata["outcome"]),
        feature_config=feature_config,
        metrics=dict(run.data.metrics),
        training_window={k: list(v) for k, v in metadata["training_window"].items()},
        model_card_path=card if card.exists() else None,
        training_people=training_people(
            {"resolved.train_dates": json.dumps(metadata["training_window"].get("train", [])), **run.data.params},
            model=f"v{version.version}", outcome_window=feature_config.outcome_window,
        ),
        lists=ListsConfig.load(metadata.get("lists", {})),
        capacity_per_1000=float(metadata.get("capacity_per_1000", DEFAULT_CAPACITY_PER_1000)),
        drift_reference_path=reference if reference.exists() else None,
    )


def load_model(alias: str = CHAMPION, *, home: Home | None = None, name: str = MODEL_NAME) -> LoadedModel:
    """Load the model version an alias points to, with its native booster, calibration map and metadata.

    Raises
    ------
    ModelNotFoundError
        If the registry, the model or the alias does not exist.
    """
    home = home or default_home()
    fix = "Run `risingrisk train --data DIR` (alias challenger), then `risingrisk promote` (alias champion)."
    if not home.mlflow_db.exists():
        raise ModelNotFoundError(f"model {name!r} alias {alias!r} must exist; got no MLflow store at {home.mlflow_db}. {fix}")
    try:
        version = tracking_client(home).get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise ModelNotFoundError(f"model {name!r} alias {alias!r} must exist in {home.mlflow_db}; got none ({exc.error_code}). {fix}") from None
    return load_version(version, alias=alias, home=home)
