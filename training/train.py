"""Training, as one MLflow run: index dates → features → split → fit → calibrate → evaluate → equity → figures → registry → model card."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import mlflow
import pandas as pd

from features.database import database_url
from features.dates import extract_date
from features.definitions import predictor_specs
from features.engines import DuckDBEngine, FeatureEngine
from features.home import Home, home as default_home
from features.progress import ProgressCallback, report
from training.card_facts import card_facts
from training.compare import compare_constraints, list_policies
from training.config import ExperimentConfig
from training.dataset import prepare
from training.equity import audit_equity
from training.evaluate import evaluate, top_mask
from training.feedback import apply_feedback_rule, enrolment_dates
from training.fit import calibrate, fit_baselines, fit_risk_model
from training.metrics import MetricCI
from training.plots import evaluation_figures
from training.record import drift_reference, log_model_card, log_run, model_metadata, run_metrics, run_params, run_tags
from training.registry import CHALLENGER, CHAMPION, LoadedModel, load_model, log_and_register, model_name
from training.split import choose_index_dates, data_start
from training.tracking import configure_tracking

__all__ = ["STAGES", "TrainResult", "train"]

#: Stages reported to the progress callback, in order.
STAGES: tuple[str, ...] = (
    "index dates",
    "features",
    "split",
    "baselines",
    "lightgbm",
    "calibration",
    "evaluation",
    "equity audit",
    "constraint comparison",
    "list policies",
    "figures",
    "registry",
    "model card",
)


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced (also in MLflow)."""

    run_id: str
    model_name: str
    version: str
    index_dates: dict[str, list[str]]
    metrics: dict[str, dict[str, MetricCI]]
    oracle: dict[str, float] | None
    calibration_method: str
    equity_passed: bool
    equity_failures: tuple[str, ...]
    capacity_fraction: float
    slices: pd.DataFrame
    model_card: Path | None
    policies: pd.DataFrame = field(default_factory=pd.DataFrame)
    constraints: pd.DataFrame | None = None
    seconds: dict[str, float] = field(default_factory=dict)


class _Stages:
    """Reports each stage to the progress callback as it starts and records its wall time."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        report(self.progress, name, STAGES.index(name), len(STAGES))
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        report(self.progress, name, STAGES.index(name) + 1, len(STAGES))


def _champion(home: Home, name: str) -> LoadedModel | None:
    try:
        return load_model(CHAMPION, home=home, name=name)
    except LookupError:
        return None


def train(
    data_dir: Path, config: ExperimentConfig, *, home: Home | None = None, progress: ProgressCallback | None = None,
    engine: FeatureEngine | None = None,
) -> TrainResult:
    """Run the whole training pipeline as one MLflow run and register the model with alias ``challenger``.

    Parameters
    ----------
    data_dir
        A contract data directory. ``DIR/_truth`` is read only by the evaluation step, and only
        when ``config.evaluation.use_truth`` is set (simulated data).
    config
        The experiment.
    home
        risingrisk home (MLflow store and artifacts); default ``$RISINGRISK_HOME`` or ``./.risingrisk``.
    progress
        Called with each stage of :data:`STAGES` as it starts and ends (``features.progress``).
    engine
        Builds the training feature table (``features.engines``); default embedded DuckDB. Spark
        builds the same table (same declarations, same two clocks) on a cluster or every local core.

    Raises
    ------
    SplitError
        If the data cannot provide the training and validation dates.
    TrainingError
        If a slice lacks outcomes, or an equity attribute is missing.
    """
    data_dir = Path(data_dir)
    home = home or default_home()
    stage = _Stages(progress)
    feature_config = config.features
    name = model_name(config.outcome)
    configure_tracking(home)
    with mlflow.start_run(run_name=f"{config.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}") as run:
        with stage("index dates"):
            extract = extract_date(data_dir)
            start = data_start(data_dir)
            dates = choose_index_dates(
                config.split, start=start, data_end=feature_config.data_end or extract, outcome_window=feature_config.outcome_window,
                lookback_months=feature_config.lookback_months,
            )
        with stage("features"):
            frame = (engine or DuckDBEngine()).build_features(
                data_dir, as_of=[*dates.train, *dates.valid], labels=True, config=feature_config
            )
            feedback = apply_feedback_rule(
                frame,
                enrolment_dates(data_dir, database=database_url(home), as_of=extract, config=config.feedback),
                outcome_window=feature_config.outcome_window,
                config=config.feedback,
            )
            frame = feedback.table
            mlflow.log_metrics({"feedback.rows_affected": feedback.rows_affected, "feedback.rows_dropped": feedback.rows_dropped,
                                "feedback.people_affected": feedback.people_affected})
        with stage("split"):
            specs = predictor_specs(feature_config)
            data = prepare(frame, dates, predictors=list(specs), config=config)
        with stage("baselines"):
            baselines = fit_baselines(data, config=config, feature_config=feature_config)
        with stage("lightgbm"):
            model = fit_risk_model(data, config=config, specs=specs)
        with stage("calibration"):
            choice, rule_maps = calibrate(model, baselines, data, config=config)
        with stage("evaluation"):
            evaluation = evaluate(
                model, baselines, rule_maps, data, config=config, feature_config=feature_config, data_dir=data_dir,
                champion=_champion(home, name),
            )
        with stage("equity audit"):
            evaluated = data.rows["evaluate"]
            selected = top_mask(evaluation.probabilities["lightgbm"], data.capacity_fraction, config.evaluation.seed)
            audit = audit_equity(
                data.frame.iloc[evaluated], evaluation.y, evaluation.probabilities["lightgbm"], selected, config=config.equity,
                n_bootstrap=config.evaluation.n_bootstrap, seed=config.evaluation.seed,
            )
        with stage("constraint comparison"):
            comparison = (
                compare_constraints(model, data, config=config, specs=specs, constrained=evaluation.metrics["lightgbm"], method=choice.method)
                if config.model.monotone and config.evaluation.compare_unconstrained
                else None
            )
        with stage("list policies"):
            policies = list_policies(model, data, evaluation.probabilities["lightgbm"], config=config, data_dir=data_dir)
        with stage("figures"):
            X_eval = data.X.iloc[evaluated]
            ev = config.evaluation
            figures, importance = evaluation_figures(
                evaluation, audit.table, model, X_eval, n_bins=ev.ece_bins, shap_sample=ev.shap_sample, seed=ev.seed
            )
        with stage("registry"):
            log_run(
                params=run_params(
                    config, dates=dates, extract=extract, capacity_fraction=data.capacity_fraction, choice=choice,
                    best_iteration=model.best_iteration_,
                ),
                metrics=run_metrics(evaluation, choice=choice, audit=audit, best_iteration=model.best_iteration_),
                tags=run_tags(
                    config, data_dir=data_dir, audit=audit, champion=evaluation.champion
                ),
                figures=figures, config=config, feature_config=feature_config, evaluation=evaluation, audit=audit, data=data,
                importance=importance,
            )
            mlflow.log_metrics({**policies.metrics(), **(comparison.flat() if comparison is not None else {})})
            mlflow.log_text(policies.summary.to_csv(index=False), "lists/policies.csv")
            mlflow.log_text(policies.by_band.to_csv(index=False), "lists/policies_by_band.csv")
            if comparison is not None:
                mlflow.log_text(comparison.table().to_csv(index=False), "constraints/comparison.csv")
            metadata = model_metadata(model, config, feature_config=feature_config, dates=dates, extract=extract, choice=choice)
            reference = drift_reference(model, data, rows=config.evaluation.drift_reference_rows, seed=config.evaluation.seed)
            version = log_and_register(
                model, name=name, example=X_eval.head(5), metadata=metadata, aliases=(CHALLENGER,), drift_reference=reference
            )
        with stage("model card"):
            card = log_model_card(card_facts(
                config=config, feature_config=feature_config, name=name, version=version, run_id=run.info.run_id, data_dir=data_dir,
                start=start, extract=extract, dates=dates, best_iteration=model.best_iteration_, choice=choice,
                metrics=evaluation.metrics, oracle=evaluation.oracle, audit=audit, data=data, specs=specs, feedback=feedback,
                comparison=comparison, policies=policies,
            ))
        mlflow.log_metrics({f"seconds.{k.replace(' ', '_')}": v for k, v in stage.seconds.items()})
    return TrainResult(
        run_id=run.info.run_id,
        model_name=name,
        version=version,
        index_dates=dates.as_dict(),
        metrics=evaluation.metrics,
        oracle=evaluation.oracle,
        calibration_method=choice.method,
        equity_passed=audit.passed,
        equity_failures=audit.failures,
        capacity_fraction=data.capacity_fraction,
        slices=data.slices,
        model_card=card,
        policies=policies.summary,
        constraints=comparison.table() if comparison is not None else None,
        seconds=stage.seconds,
    )
