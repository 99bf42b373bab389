"""Side-by-side checks of the model's design choices on the evaluation rows: monotone constraints on vs off, and each list policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features
from features.config import FeatureConfig
from features.dates import add_months
from features.definitions import FeatureSpec
from models.risk_model import RiskModel
from training.calibration import choose_calibration
from training.config import ExperimentConfig
from training.dataset import TrainingData
from training.fit import fit_risk_model
from training.list_policy import PolicyReport, policy_report
from training.metrics import MetricCI, evaluate_scores

__all__ = ["COMPARED", "ConstraintComparison", "compare_constraints", "earlier_scores", "list_policies"]

#: Metrics shown side by side for the constrained and unconstrained model.
COMPARED: tuple[str, ...] = ("auroc", "ppv_capacity", "brier", "calibration_slope", "ece", "listed_calibration_capacity")


@dataclass(frozen=True)
class ConstraintComparison:
    """The constrained (registered) and the unconstrained model's metrics on the same evaluation rows."""

    metrics: dict[str, dict[str, MetricCI]]
    calibration_methods: dict[str, str]

    def table(self) -> pd.DataFrame:
        """One row per model: each of :data:`COMPARED` as ``value (low–high)``."""
        return pd.DataFrame([
            {"model": key, "calibration": self.calibration_methods[key], **{m: values[m].text(4 if m in ("brier", "ece") else 3) for m in COMPARED}}
            for key, values in self.metrics.items()
        ])

    def flat(self) -> dict[str, float]:
        """MLflow metrics ``constraints.<model>.<metric>``."""
        return {f"constraints.{key}.{m}": values[m].value for key, values in self.metrics.items() for m in COMPARED}


def compare_constraints(
    model: RiskModel, data: TrainingData, *, config: ExperimentConfig, specs: Mapping[str, FeatureSpec], constrained: dict[str, MetricCI], method: str
) -> ConstraintComparison:
    """Fit the same model without monotone constraints, calibrate it the same way, and score both on the evaluation rows.

    Parameters
    ----------
    model
        The registered (constrained) model, already calibrated; not changed.
    data
        The split rows (fit, early stopping and calibration slices as for the registered model).
    config
        The experiment.
    specs
        The predictor declarations.
    constrained, method
        The registered model's metrics on the evaluation rows and its calibration method.
    """
    free = fit_risk_model(data, config=config, specs=specs, monotone=False)
    rows = data.rows["calibrate"]
    choice = choose_calibration(
        free.predict_log_odds(data.X.iloc[rows]), data.y[rows], groups=data.persons[rows], methods=config.calibration.methods,
        folds=config.calibration.folds, seed=config.split.seed, prior_rows=config.calibration.prior_rows,
    )
    free.calibrator_ = choice.calibrator
    evaluated = data.rows["evaluate"]
    ev = config.evaluation
    free_metrics = evaluate_scores(
        data.y[evaluated], free.predict_proba(data.X.iloc[evaluated])[:, 1], groups=data.persons[evaluated], fractions=data.fractions,
        probabilistic=True, n_bootstrap=ev.n_bootstrap, ci_level=ev.ci_level, ece_bins=ev.ece_bins, seed=ev.seed,
    )
    return ConstraintComparison(
        metrics={"constrained": constrained, "unconstrained": free_metrics},
        calibration_methods={"constrained": method, "unconstrained": choice.method},
    )


def earlier_scores(
    model: RiskModel, data_dir: Path, index: pd.DataFrame, *, months: int, feature_config: FeatureConfig
) -> np.ndarray:
    """The same model's score for each ``(person_id, as_of)`` row ``months`` earlier (NaN if the person was not registered then).

    Features are built as of the earlier date with the same two clocks, so nothing after it is used.
    """
    earlier = [add_months(d, -months) for d in pd.to_datetime(index["as_of"]).dt.date]
    wanted = pd.DataFrame({"person_id": index["person_id"].astype(str).to_numpy(), "as_of": pd.to_datetime(earlier)})
    table = build_features(data_dir, index=wanted, labels=False, config=feature_config)
    registered = ~table["excluded_reason"].isin(["not_registered", "deceased"]).to_numpy()
    scores = pd.Series(np.nan, index=pd.MultiIndex.from_arrays(
        [table["person_id"].astype(str).to_numpy(), pd.to_datetime(table["as_of"]).to_numpy()]
    ))
    if registered.any():
        scores.iloc[np.flatnonzero(registered)] = model.predict_proba(table.loc[registered])[:, 1]
    keys = pd.MultiIndex.from_arrays([wanted["person_id"].to_numpy(), wanted["as_of"].to_numpy()])
    return scores.reindex(keys).to_numpy(dtype=float)


def list_policies(
    model: RiskModel,
    data: TrainingData,
    scores: np.ndarray,
    *,
    config: ExperimentConfig,
    data_dir: Path,
) -> PolicyReport:
    """Every list policy on the evaluation rows with the capacity's list size (pooled over the validation dates)."""
    evaluated = data.rows["evaluate"]
    frame = data.frame.iloc[evaluated].reset_index(drop=True)
    earlier = earlier_scores(model, data_dir, frame[["person_id", "as_of"]], months=config.lists.rising_months, feature_config=config.features)
    k = max(1, round(data.capacity_fraction * len(evaluated)))
    return policy_report(frame, data.y[evaluated], scores, k, config=config.lists, earlier=earlier, seed=config.evaluation.seed)
