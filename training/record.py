"""What a training run records in MLflow: flattened params, metrics, tags, figures, tables, the model's metadata and the model card."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from features.config import FeatureConfig
from models.risk_model import RiskModel
from training.calibration import CalibrationChoice
from training.config import ExperimentConfig
from training.dataset import TrainingData
from training.equity import EquityAudit
from training.evaluate import Evaluation, HeadToHead, headline_metrics
from training.model_card import CardFacts, write_model_card
from training.registry import MODEL_CARD_ARTIFACT
from training.split import IndexDates

__all__ = ["flatten", "run_params", "run_metrics", "run_tags", "model_metadata", "log_run", "log_model_card", "drift_reference"]

#: MLflow's limits on one param value and one tag value (characters).
_PARAM_CHARS = 6000
_TAG_CHARS = 4900


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested mappings as dotted keys; lists as JSON, other values as text (MLflow params are strings)."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: json.dumps(value) if isinstance(value, (list, tuple)) else str(value)}


def run_params(
    config: ExperimentConfig, *, dates: IndexDates, extract: date, capacity_fraction: float, choice: CalibrationChoice, best_iteration: int
) -> dict[str, str]:
    """The experiment's settings and what the run resolved from the data (``resolved.*``)."""
    params = flatten(config.to_dict())
    params.update({f"resolved.{k}_dates": json.dumps(v) for k, v in dates.as_dict().items()})
    params.update({
        "resolved.extract_date": extract.isoformat(),
        "resolved.capacity_fraction": f"{capacity_fraction:.6f}",
        "resolved.calibration_method": choice.method,
        "resolved.best_iteration": str(best_iteration),
    })
    return params


def run_metrics(evaluation: Evaluation, *, choice: CalibrationChoice, audit: EquityAudit, best_iteration: int) -> dict[str, float]:
    """The registered model's headline metrics unprefixed, every model's as ``<model>.<metric>``, and the run's other numbers."""
    logged = headline_metrics(evaluation.metrics["lightgbm"])
    for key, values in evaluation.metrics.items():
        for metric, ci in values.items():
            logged.update({f"{key}.{metric}": ci.value, f"{key}.{metric}_low": ci.low, f"{key}.{metric}_high": ci.high})
    logged.update({f"calibration_cv_brier.{m}": b for m, b in choice.cv_brier.items()})
    logged.update({f"oracle.{k}": v for k, v in (evaluation.oracle or {}).items()})
    if evaluation.champion is not None:
        logged.update(evaluation.champion.flat())
    logged["equity_gates_passed"] = float(audit.passed)
    logged["best_iteration"] = float(best_iteration)
    return logged


def run_tags(config: ExperimentConfig, *, data_dir: Path, audit: EquityAudit, champion: HeadToHead | None) -> dict[str, str]:
    """Tags promotion reads (equity outcome; champion compared on the same rows, on which rows or why not) and the run's provenance."""
    tags = {
        "risingrisk.stage": "train",
        "risingrisk.outcome": config.outcome,
        "risingrisk.experiment": config.name,
        "risingrisk.data_dir": str(data_dir.resolve()),
        "risingrisk.equity_passed": str(audit.passed),
        "risingrisk.equity_failures": json.dumps(list(audit.failures))[:_TAG_CHARS],
    }
    if champion is not None:
        tags["risingrisk.champion_h2h_version"] = champion.version
        tags["risingrisk.champion_h2h_basis"] = champion.basis[:_TAG_CHARS]
        tags["risingrisk.champion_h2h_refused"] = str(champion.refused)
    return tags


def model_metadata(
    model: RiskModel, config: ExperimentConfig, *, feature_config: FeatureConfig, dates: IndexDates, extract: date, choice: CalibrationChoice
) -> dict[str, Any]:
    """The facts registered beside the model (``metadata.json``) that loading and scoring need."""
    return {
        "feature_names": model.feature_names_,
        "outcome": config.outcome,
        "feature_config": feature_config.to_dict(),
        "training_window": dates.as_dict(),
        "extract_date": extract.isoformat(),
        "calibration_method": choice.method,
        "capacity_per_1000": config.evaluation.capacity_per_1000,
        "experiment": config.name,
        "lists": config.lists.to_dict(),
        "monotone": {"enabled": config.model.monotone, "method": config.model.monotone_method},
    }


def log_run(
    *,
    params: dict[str, str],
    metrics: dict[str, float],
    tags: dict[str, str],
    figures: dict[str, Figure],
    config: ExperimentConfig,
    feature_config: FeatureConfig,
    evaluation: Evaluation,
    audit: EquityAudit,
    data: TrainingData,
    importance: pd.Series,
) -> None:
    """Log everything but the model to the active MLflow run (non-finite metrics are left out; figures are closed)."""
    mlflow.set_tags(tags)
    mlflow.log_params({k: v[:_PARAM_CHARS] for k, v in params.items()})
    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    for file_name, figure in figures.items():
        mlflow.log_figure(figure, f"figures/{file_name}")
        plt.close(figure)
    mlflow.log_dict(config.to_dict(), "config/experiment.json")
    mlflow.log_dict(feature_config.to_dict(), "config/features.json")
    mlflow.log_dict({k: {m: ci.as_dict() for m, ci in v.items()} for k, v in evaluation.metrics.items()}, "evaluation/metrics.json")
    mlflow.log_text(audit.table.to_csv(index=False), "evaluation/equity_audit.csv")
    mlflow.log_text(data.slices.to_csv(index=False), "evaluation/slices.csv")
    mlflow.log_text(importance.to_csv(header=True), "evaluation/shap_importance.csv")


def log_model_card(facts: CardFacts) -> Path | None:
    """Write the card (Markdown and HTML) into the active run's ``model_card/`` and return its local path (``None`` if remote)."""
    with tempfile.TemporaryDirectory(prefix="risingrisk-card-") as tmp:
        write_model_card(facts, Path(tmp))
        mlflow.log_artifacts(tmp, "model_card")
    parsed = urlparse(mlflow.get_artifact_uri(MODEL_CARD_ARTIFACT))
    path = Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None
    return path if path is not None and path.exists() else None


def drift_reference(model: RiskModel, data: TrainingData, *, rows: int, seed: int) -> pd.DataFrame:
    """A seeded random sample of at most ``rows`` training rows: the model's features, ``neighbourhood`` and calibrated ``score``.

    Monitoring measures drift of the population scored later against it (``serving.monitoring``).
    Only rows with full history are drawn (as every scored row has, by the ``short_history``
    check), so counts set missing at early training dates do not read as drift.
    """
    full = data.training_rows[data.full_history[data.training_rows]]
    pool = full if len(full) else data.training_rows
    chosen = np.sort(np.random.default_rng(seed).choice(pool, min(rows, len(pool)), replace=False))
    sample = data.X.iloc[chosen].reset_index(drop=True)
    sample["neighbourhood"] = data.frame["neighbourhood"].iloc[chosen].astype("string").to_numpy()
    sample["score"] = model.predict_proba(data.X.iloc[chosen])[:, 1]
    return sample
