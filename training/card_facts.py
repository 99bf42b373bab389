"""The model card's facts: what the training run measured, gathered into :class:`training.model_card.CardFacts` tables."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd

from features.config import FeatureConfig
from features.definitions import FeatureSpec
from training.calibration import CalibrationChoice
from training.config import ExperimentConfig
from training.dataset import TrainingData
from training.equity import EquityAudit
from training.compare import ConstraintComparison
from training.evaluate import MODELS
from training.feedback import FeedbackResult
from training.list_policy import PolicyReport
from training.metrics import MetricCI
from training.model_card import CardFacts, markdown_table
from training.split import IndexDates

__all__ = ["FIGURES", "card_facts"]

#: Caption -> path (relative to the card) of each figure the run logs under ``figures/``.
FIGURES: dict[str, str] = {
    "ROC and precision-recall curves": "../figures/roc_pr.png",
    "Calibration plot": "../figures/calibration.png",
    "Global importance (TreeSHAP)": "../figures/shap_importance.png",
    "Subgroup chart": "../figures/subgroups.png",
}


def card_facts(
    *,
    config: ExperimentConfig,
    feature_config: FeatureConfig,
    name: str,
    version: str,
    run_id: str,
    data_dir: Path,
    start: date,
    extract: date,
    dates: IndexDates,
    best_iteration: int,
    choice: CalibrationChoice,
    metrics: dict[str, dict[str, MetricCI]],
    oracle: dict[str, float] | None,
    audit: EquityAudit,
    data: TrainingData,
    specs: dict[str, FeatureSpec],
    feedback: FeedbackResult,
    comparison: ConstraintComparison | None = None,
    policies: PolicyReport | None = None,
) -> CardFacts:
    """Gather the model card's facts and tables from what the run measured.

    Parameters
    ----------
    config, feature_config
        The experiment and its feature definitions.
    name, version, run_id
        The registered model and its MLflow run.
    data_dir, start, extract, dates
        Where the data came from, the span they cover and the index dates used.
    best_iteration, choice
        The number of trees early stopping kept and the calibration chosen.
    metrics, oracle, audit
        Out-of-time metrics per model, the oracle comparison (or ``None``) and the equity audit.
    data
        The split rows (slices, exclusions at validation dates, missingness on training rows).
    specs
        The predictor declarations (the card's predictor table, with each predictor's enforced direction).
    feedback
        What the feedback rule did to rows whose outcome window met an enrolment (the exclusions table).
    comparison
        The constrained vs unconstrained model on the evaluation rows (``None`` when not run).
    policies
        Every list policy on the evaluation rows (``None`` when not run).
    """
    ev = config.evaluation
    fraction_labels = {"capacity": f"capacity ({ev.capacity_per_1000:g}/1,000)", **{f"top{100 * f:g}pct": f"top {100 * f:g}%" for f in ev.top_fractions}}
    performance = pd.DataFrame(
        [
            {
                "model": MODELS[key],
                "AUROC": values["auroc"].text(),
                "AUPRC": values["auprc"].text(),
                **{f"PPV at {text}": values[f"ppv_{label}"].text() for label, text in fraction_labels.items()},
                "sensitivity at capacity": values["sensitivity_capacity"].text(),
                "lift at capacity": values["lift_capacity"].text(1),
                "Brier": values["brier"].text(4),
            }
            for key, values in metrics.items()
        ]
    )
    calibration = pd.DataFrame(
        [
            {
                "model": MODELS[key],
                "intercept": values["calibration_intercept"].text(),
                "slope": values["calibration_slope"].text(),
                "ECE": values["ece"].text(4),
            }
            for key, values in metrics.items()
        ]
    )
    at_valid = data.frame.loc[data.at_valid_dates]
    exclusions = at_valid["excluded_reason"].astype("string").fillna("in cohort").value_counts().rename_axis("reason").reset_index(name="rows")
    unlabelled = int((at_valid["in_cohort"].fillna(False).astype(bool) & at_valid[config.label_column].isna()).sum())
    exclusions = pd.concat([exclusions, pd.DataFrame({"reason": ["in cohort but follow-up incomplete (no label)"], "rows": [unlabelled]})], ignore_index=True)
    feedback_row = f"enrolled on the caseload before the outcome window ended, all index dates (feedback rule '{feedback.rule}': " + (
        "dropped)" if feedback.rule == "exclude" else "kept)"
    )
    exclusions = pd.concat([exclusions, pd.DataFrame({"reason": [feedback_row], "rows": [feedback.rows_affected]})], ignore_index=True)
    constrained = config.model.monotone
    predictors = pd.DataFrame([
        {"predictor": n, "group": s.group, "direction": s.direction if constrained else f"{s.direction} (not enforced)", "description": s.description}
        for n, s in specs.items()
    ])
    listed = pd.DataFrame([
        {
            "model": MODELS[key],
            "listed: mean predicted": values["predicted_capacity"].text(),
            "listed: observed": values["ppv_capacity"].text(),
            "observed − predicted": values["listed_calibration_capacity"].text(),
        }
        for key, values in metrics.items()
        if "listed_calibration_capacity" in values
    ])
    extra: dict[str, str] = {"listed_calibration": markdown_table(listed)}
    if comparison is not None:
        extra["constraints"] = markdown_table(comparison.table())
    if policies is not None:
        extra["policies"] = markdown_table(policies.summary, floats="{:.3f}")
        wide = policies.by_band.pivot_table(index=["attribute", "band"], columns="policy", values="tpr", sort=False).reset_index()
        extra["policy_bands"] = markdown_table(wide, floats="{:.3f}")
    missing_share = data.X.iloc[data.training_rows].isna().mean()
    missing = missing_share[missing_share > 0].sort_values(ascending=False).rename("share missing").rename_axis("predictor").reset_index()
    columns = ["group", "count", "prevalence", "mean_predicted", "calibration_in_the_large", "auroc", "selection_rate", "tpr", "fpr", "false_omission_rate", "gated"]
    single = audit.table[~audit.table["attribute"].str.contains("×")]
    crossed = audit.table[audit.table["attribute"].str.contains("×")]
    equity = markdown_table(single[["attribute", *columns]], floats="{:.3f}")
    intersections = markdown_table(crossed[columns], floats="{:.3f}") if len(crossed) else "(none configured)"
    slices = data.slices
    slices_table = slices.assign(rows=slices["rows"].astype("Int64"), people=slices["people"].astype("Int64"), outcomes=slices["outcomes"].astype("Int64"))
    lightgbm = metrics["lightgbm"]
    return CardFacts(
        model_name=name,
        version=version,
        run_id=run_id,
        created_at=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
        experiment=config.name,
        outcome=config.outcome,
        outcome_definition=(
            f"high intensity use of urgent care (≥ {feature_config.hiu_ed} A&E attendances, or ≥ {feature_config.hiu_emergency_admission} "
            f"emergency admissions, or ≥ {feature_config.hiu_ambulance_111} ambulance and NHS 111 contacts)"
            if config.outcome == "high_intensity_use"
            else f"an emergency admission (≥ {feature_config.emergency_admission_min})"
        ),
        outcome_window=tuple(feature_config.outcome_window),
        data_dir=str(data_dir),
        data_start=str(start),
        extract_date=str(extract),
        train_dates=dates.as_dict()["train"],
        valid_dates=dates.as_dict()["valid"],
        partial_history_rows=int((~data.full_history[data.training_rows]).sum()),
        hyperparameters=config.model.model_dump(),
        best_iteration=int(best_iteration),
        calibration_method=choice.method,
        calibration_cv_brier=choice.cv_brier,
        capacity_per_1000=ev.capacity_per_1000,
        capacity_fraction=data.capacity_fraction,
        top_fractions=list(ev.top_fractions),
        headline={k: lightgbm[k].text() for k in ("auroc", "ppv_capacity", "calibration_slope")},
        oracle=oracle,
        equity_passed=audit.passed,
        equity_failures=list(audit.failures),
        equity_gates={
            "min_group_size": config.equity.min_group_size,
            "min_group_positives": config.equity.min_group_positives,
            "min_group_auroc": config.equity.min_group_auroc,
            "max_abs_calibration_in_the_large": config.equity.max_abs_calibration_in_the_large,
            "gate_level": config.equity.gate_level,
        },
        n_bootstrap=ev.n_bootstrap,
        tables={
            "slices": markdown_table(slices_table, floats="{:.4f}"),
            "exclusions": markdown_table(exclusions),
            "predictors": markdown_table(predictors),
            "missing": markdown_table(missing) if len(missing) else "(no predictor has missing values)",
            "performance": markdown_table(performance),
            "calibration": markdown_table(calibration),
            "equity": equity,
            "intersections": intersections,
            **extra,
        },
        figures=dict(FIGURES),
    )
