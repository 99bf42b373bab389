"""Out-of-time evaluation: every model's metrics with intervals on the same rows, the simulator's oracle, and the champion head to head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.config import FeatureConfig
from models.risk_model import LogOddsCalibrator, RiskModel
from training.config import ExperimentConfig
from training.dataset import TrainingData
from training.fit import Baselines
from training.metrics import MetricCI, evaluate_scores
from training.oracle import oracle_probability, truth_path
from training.registry import LoadedModel

__all__ = ["MODELS", "HEADLINE", "Evaluation", "HeadToHead", "evaluate", "oracle_comparison", "head_to_head", "headline_metrics", "top_mask"]

#: Model keys in evaluation order: ours first, then the three incumbents.
MODELS: dict[str, str] = {
    "lightgbm": "LightGBM (calibrated)",
    "ed_count": "ED attendances, last 12 months (Tier 1 rule)",
    "herts_segmentation": "Herts-style rules segmentation",
    "logistic": "Logistic regression",
}
#: Metrics logged without a prefix for the registered model (what promotion and load_model read).
HEADLINE: tuple[str, ...] = ("auroc", "auprc", "brier", "calibration_intercept", "calibration_slope", "ece", "ppv_capacity", "sensitivity_capacity", "lift_capacity", "predicted_capacity", "listed_calibration_capacity")


@dataclass(frozen=True)
class Evaluation:
    """Scores and metrics on the ``evaluate`` slice.

    ``probabilities`` are each model's calibrated probabilities; ``ranking`` the scores its rank
    metrics use (the rules' raw scores: an isotonic map can merge levels, the ranking must be the
    rule's own). ``oracle`` is ``None`` on real data; ``champion`` holds the champion and the
    challenger on the same rows of people neither was trained on (:class:`HeadToHead`), or is ``None``.
    """

    y: np.ndarray
    probabilities: dict[str, np.ndarray]
    ranking: dict[str, np.ndarray]
    metrics: dict[str, dict[str, MetricCI]]
    oracle: dict[str, float] | None
    champion: HeadToHead | None


def headline_metrics(metrics: dict[str, MetricCI]) -> dict[str, float]:
    """The registered model's unprefixed MLflow metrics (value, ``_low`` and ``_high``)."""
    out: dict[str, float] = {}
    for name in HEADLINE:
        ci = metrics[name]
        out[name], out[f"{name}_low"], out[f"{name}_high"] = ci.value, ci.low, ci.high
    return out


def top_mask(scores: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The ``fraction`` of rows with the highest scores (at least one), ties broken by a seeded shuffle."""
    order = np.lexsort((np.random.default_rng(seed).random(scores.size), -scores))
    mask = np.zeros(scores.size, dtype=bool)
    mask[order[: max(1, round(fraction * scores.size))]] = True
    return mask


def _common(data: TrainingData, config: ExperimentConfig) -> dict[str, Any]:
    ev = config.evaluation
    return dict(
        groups=data.persons[data.rows["evaluate"]], fractions=data.fractions, n_bootstrap=ev.n_bootstrap, ci_level=ev.ci_level,
        ece_bins=ev.ece_bins, seed=ev.seed,
    )


def oracle_comparison(
    truth: Path, data: TrainingData, model_p: np.ndarray, model_metrics: dict[str, MetricCI], *, config: ExperimentConfig, feature_config: FeatureConfig
) -> dict[str, float]:
    """The oracle's AUROC (true latent rates, simulated data only) and the model's on the same rows, and their ratio.

    Parameters
    ----------
    truth
        The simulator's ``latent_risk.parquet``; read only here, never by fitting (it would leak the outcome).
    data
        The split rows; the ``evaluate`` slice is scored.
    model_p, model_metrics
        The model's probabilities and metrics on the ``evaluate`` slice.
    config, feature_config
        The experiment and its feature definitions (outcome window and thresholds).
    """
    rows = data.rows["evaluate"]
    y = data.y[rows]
    oracle_p = oracle_probability(truth, data.frame.iloc[rows][["person_id", "as_of"]], config=feature_config, threads=feature_config.threads)
    known = ~np.isnan(oracle_p)
    on_known = {**_common(data, config), "groups": data.persons[rows][known]}
    oracle_ci = evaluate_scores(y[known], oracle_p[known], probabilistic=False, **on_known)
    model_on_known = model_metrics if known.all() else evaluate_scores(y[known], model_p[known], probabilistic=False, **on_known)
    return {
        "oracle_auroc": oracle_ci["auroc"].value,
        "oracle_auroc_low": oracle_ci["auroc"].low,
        "oracle_auroc_high": oracle_ci["auroc"].high,
        "oracle_ppv_capacity": oracle_ci["ppv_capacity"].value,
        "model_auroc": model_on_known["auroc"].value,
        "ratio": model_on_known["auroc"].value / oracle_ci["auroc"].value,
        "rows": float(known.sum()),
    }


@dataclass(frozen=True)
class HeadToHead:
    """The champion and the challenger on the same evaluation rows: the challenger's ``evaluate`` rows of people neither was trained on.

    ``rows`` were compared and ``dropped`` left out (people the champion was trained on, by its
    recorded split settings); ``basis`` says so in a sentence. ``champion`` and ``challenger`` are
    ``None`` when the comparison is refused (``basis`` then says why).
    """

    version: str
    rows: int
    dropped: int
    outcomes: int
    basis: str
    champion: dict[str, MetricCI] | None
    challenger: dict[str, MetricCI] | None

    @property
    def refused(self) -> bool:
        """Whether no comparison was made (champion trained with the old split, or too few outcomes left)."""
        return self.champion is None

    def flat(self) -> dict[str, float]:
        """MLflow metrics: ``champion_h2h.<metric>`` and ``challenger_h2h.<metric>`` (when compared) and the row counts."""
        out = {"champion_h2h.rows": float(self.rows), "champion_h2h.rows_dropped": float(self.dropped), "champion_h2h.outcomes": float(self.outcomes)}
        for prefix, metrics in (("champion_h2h", self.champion), ("challenger_h2h", self.challenger)):
            out.update({f"{prefix}.{k}": v.value for k, v in (metrics or {}).items()})
        return out


def head_to_head(
    champion: LoadedModel | None, data: TrainingData, challenger_p: np.ndarray, *, config: ExperimentConfig, challenger_metrics: dict[str, MetricCI]
) -> HeadToHead | None:
    """The champion and the challenger on the challenger's ``evaluate`` rows of people neither model was trained on.

    The challenger's ``evaluate`` rows are its validation people by construction; the rows of people
    who were training people under the champion's recorded split settings (another ``split.seed``
    or ``validation_fraction``) are dropped, since the champion may have memorised their outcome. A
    champion trained with the old split (no ``split.validation_fraction`` recorded) was trained on
    every person at its training dates, so no row is known to be unseen: the comparison is refused.
    It is refused too when fewer than ``promotion.min_compared_outcomes`` outcomes (or
    non-outcomes) remain. ``None`` when there is no champion or its predictors are not available.

    Parameters
    ----------
    champion
        The current champion (with its recorded training people), or ``None``.
    data
        The challenger's split rows.
    challenger_p, challenger_metrics
        The challenger's probabilities and metrics on the whole ``evaluate`` slice.
    config
        The challenger's experiment (bootstrap settings and ``promotion.min_compared_outcomes``).
    """
    rows = data.rows["evaluate"]
    X_eval = data.X.iloc[rows]
    if champion is None or not set(champion.feature_names) <= set(X_eval.columns):
        return None
    trained = champion.training_people
    if not trained.recorded:
        return HeadToHead(
            champion.version, 0, len(rows), 0,
            f"champion {trained.describe()}: its training people cannot be told apart, so no evaluation row is known to be unseen by it",
            None, None,
        )
    kept = trained.never_trained_on(data.frame["person_id"].iloc[rows])
    y = data.y[rows][kept]
    outcomes, dropped, compared = int(y.sum()), int((~kept).sum()), int(kept.sum())
    why = (
        f"{dropped:,} of {len(rows):,} dropped: people champion {trained.describe()} was trained on" if dropped
        else "none dropped: every one is a validation person under both models' split settings"
    )
    least = config.promotion.min_compared_outcomes
    if min(outcomes, y.size - outcomes) < least:
        return HeadToHead(
            champion.version, compared, dropped, outcomes,
            f"only {compared:,} of the challenger's evaluation rows are of people neither model was trained on ({why}), with {outcomes:,} "
            f"outcomes and {y.size - outcomes:,} non-outcomes: fewer than promotion.min_compared_outcomes = {least} (training the challenger "
            "with the champion's split.seed and validation_fraction drops none)",
            None, None,
        )
    common = {**_common(data, config), "groups": data.persons[rows][kept]}
    champion_metrics = evaluate_scores(y, champion.model.predict_proba(X_eval[kept])[:, 1], probabilistic=True, **common)
    same = challenger_metrics if kept.all() else evaluate_scores(y, challenger_p[kept], probabilistic=True, **common)
    return HeadToHead(champion.version, compared, dropped, outcomes, f"on the same {compared:,} evaluation rows ({why})", champion_metrics, same)


def evaluate(
    model: RiskModel,
    baselines: Baselines,
    rule_maps: dict[str, LogOddsCalibrator],
    data: TrainingData,
    *,
    config: ExperimentConfig,
    feature_config: FeatureConfig,
    data_dir: Path,
    champion: LoadedModel | None,
) -> Evaluation:
    """Every model's metrics (point and person-grouped bootstrap interval) on the ``evaluate`` slice, plus oracle and champion.

    Parameters
    ----------
    model, baselines, rule_maps
        The calibrated LightGBM, the incumbents and the rules' score-to-rate maps.
    data
        The split rows (only the ``evaluate`` slice is scored: no model saw it).
    config, feature_config
        The experiment and its feature definitions.
    data_dir
        The data directory; its ``_truth`` is read only when ``evaluation.use_truth`` is set.
    champion
        The current champion, compared on the same rows of people neither model was trained on, or ``None``.
    """
    rows = data.rows["evaluate"]
    X_eval, y_eval = data.X.iloc[rows], data.y[rows]
    raw = {name: score[rows] for name, score in baselines.rule_scores.items()}
    probabilities = {
        "lightgbm": model.predict_proba(X_eval)[:, 1],
        "ed_count": rule_maps["ed_count"].transform(raw["ed_count"]),
        "herts_segmentation": rule_maps["herts_segmentation"].transform(raw["herts_segmentation"]),
        "logistic": baselines.logistic.predict_proba(X_eval)[:, 1],
    }
    ranking = {**probabilities, **raw}
    common = _common(data, config)
    metrics: dict[str, dict[str, MetricCI]] = {}
    for key in MODELS:
        metrics[key] = evaluate_scores(y_eval, probabilities[key], probabilistic=True, **common)
        if key in raw:
            metrics[key].update(evaluate_scores(y_eval, ranking[key], probabilistic=False, **common))
    truth = truth_path(data_dir) if config.evaluation.use_truth else None
    oracle = (
        oracle_comparison(truth, data, probabilities["lightgbm"], metrics["lightgbm"], config=config, feature_config=feature_config)
        if truth is not None
        else None
    )
    return Evaluation(
        y=y_eval, probabilities=probabilities, ranking=ranking, metrics=metrics, oracle=oracle,
        champion=head_to_head(champion, data, probabilities["lightgbm"], config=config, challenger_metrics=metrics["lightgbm"]),
    )
