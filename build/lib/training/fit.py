"""Fitting: the three baselines and LightGBM on the training dates, then the calibration maps on the calibration slice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline

from features.config import FeatureConfig
from features.definitions import FeatureSpec, predictor_specs, window_name
from models.constraints import monotone_directions
from models.baselines import EdCountRule, HertsSegmentation, logistic_pipeline
from models.risk_model import LogOddsCalibrator, RiskModel
from training.calibration import CalibrationChoice, choose_calibration
from training.config import ExperimentConfig
from training.dataset import TrainingData

__all__ = ["Baselines", "fit_baselines", "fit_risk_model", "calibrate"]


@dataclass(frozen=True)
class Baselines:
    """The incumbents: the two rules' raw scores on every row and the fitted logistic regression."""

    rule_scores: dict[str, np.ndarray]
    logistic: Pipeline


def fit_baselines(data: TrainingData, *, config: ExperimentConfig, feature_config: FeatureConfig) -> Baselines:
    """Score the ED-count rule (last 12 months' windows) and the Herts rules; fit the logistic regression on the training dates.

    The logistic regression sees at most ``baselines.logistic_max_rows`` training rows (a seeded
    subsample beyond); validation dates are never used for fitting.
    """
    last_year = tuple(window_name("ed", w) for w in sorted(feature_config.windows) if w[1] <= feature_config.recent_months)
    rule_scores = {"ed_count": EdCountRule(columns=last_year).score(data.X), "herts_segmentation": HertsSegmentation().score(data.X)}
    train_rows = data.training_rows
    settings = config.baselines
    if len(train_rows) > settings.logistic_max_rows:
        train_rows = np.sort(np.random.default_rng(config.split.seed).choice(train_rows, settings.logistic_max_rows, replace=False))
    logistic = logistic_pipeline(data.X, c=settings.logistic_c, max_iter=settings.logistic_max_iter, random_state=config.split.seed)
    logistic.fit(data.X.iloc[train_rows], data.y[train_rows])
    return Baselines(rule_scores=rule_scores, logistic=logistic)


def fit_risk_model(
    data: TrainingData, *, config: ExperimentConfig, specs: Mapping[str, FeatureSpec] | None = None, monotone: bool | None = None
) -> RiskModel:
    """Grow LightGBM on the ``fit`` slice, choosing the number of trees on the ``early_stop`` slice (both at training dates).

    Parameters
    ----------
    data
        The split rows.
    config
        The experiment (``[model]`` hyperparameters and ``monotone`` switch).
    specs
        The predictor declarations whose ``direction`` constrains each predictor; ``None`` = the
        default declarations of the model's features.
    monotone
        Override ``config.model.monotone`` (the unconstrained comparison fits with ``False``).
    """
    fit, stop = data.rows["fit"], data.rows["early_stop"]
    params = config.model.model_dump()
    if monotone is not None:
        params["monotone"] = monotone
    directions = monotone_directions(specs if specs is not None else predictor_specs(config.features))
    model = RiskModel(**params, directions=directions)
    return model.fit(data.X.iloc[fit], data.y[fit], X_valid=data.X.iloc[stop], y_valid=data.y[stop])


def calibrate(
    model: RiskModel, baselines: Baselines, data: TrainingData, *, config: ExperimentConfig
) -> tuple[CalibrationChoice, dict[str, LogOddsCalibrator]]:
    """Choose and set the model's calibration map, and map each rule's score to an observed rate, on the ``calibrate`` slice.

    Rule scores become probabilities by the observed rate per score level on the same slice (for
    Brier and calibration); their ranking metrics use the raw scores. Returns the choice and the
    rules' maps; ``model.calibrator_`` is set in place.
    """
    rows = data.rows["calibrate"]
    choice = choose_calibration(
        model.predict_log_odds(data.X.iloc[rows]), data.y[rows], groups=data.persons[rows], methods=config.calibration.methods,
        folds=config.calibration.folds, seed=config.split.seed, prior_rows=config.calibration.prior_rows,
    )
    model.calibrator_ = choice.calibrator
    rule_maps = {name: LogOddsCalibrator(method="isotonic").fit(score[rows], data.y[rows]) for name, score in baselines.rule_scores.items()}
    return choice, rule_maps
