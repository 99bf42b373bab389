"""Embedded MLflow: a SQLite tracking store and a local artifact folder under the risingrisk home (no server)."""

from __future__ import annotations

import logging
import os

import mlflow
from mlflow import MlflowClient

from features.home import Home

__all__ = ["EXPERIMENT_NAME", "configure_tracking", "client"]

#: MLflow experiment holding every training and promotion run.
EXPERIMENT_NAME = "risingrisk"


def _quiet() -> None:
    # MLflow's SQLite store logs alembic migrations on first use; keep the console for our progress display.
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def configure_tracking(home: Home) -> str:
    """Point MLflow at ``home`` (tracking and registry) and return the experiment id, creating it if needed.

    The experiment's artifact location is ``home.artifacts`` so runs and models never land in ``./mlruns``.
    """
    _quiet()
    home.ensure()
    mlflow.set_tracking_uri(home.tracking_uri)
    mlflow.set_registry_uri(home.tracking_uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        experiment_id = mlflow.create_experiment(EXPERIMENT_NAME, artifact_location=home.artifacts.resolve().as_uri())
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def client(home: Home) -> MlflowClient:
    """An ``MlflowClient`` bound to ``home``'s store without touching the global tracking URI."""
    _quiet()
    return MlflowClient(tracking_uri=home.tracking_uri, registry_uri=home.tracking_uri)
