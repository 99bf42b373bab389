"""Equity audit: per-subgroup discrimination, calibration and error rates at capacity (fairlearn MetricFrame), gated on person-level intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from scipy.stats import norm

from training.config import EquityConfig, EvaluationConfig
from training.equity_intervals import group_standard_errors
from training.errors import TrainingError
from training.metrics import auroc

__all__ = ["EquityAudit", "audit_equity", "MISSING_GROUP", "PERSON_COLUMN"]

#: Group label given to rows whose attribute is missing (reported, never dropped).
MISSING_GROUP = "missing"
#: Column of the evaluation rows naming the person: the bootstrap resamples people, not rows.
PERSON_COLUMN = "person_id"
#: ``[evaluation]`` defaults, used for the bootstrap when the caller passes none.
_EVALUATION = EvaluationConfig()

AUDIT_COLUMNS: tuple[str, ...] = (
    "attribute",
    "group",
    "count",
    "positives",
    "prevalence",
    "prevalence_se",
    "mean_predicted",
    "calibration_in_the_large",
    "calibration_in_the_large_se",
    "auroc",
    "auroc_se",
    "selection_rate",
    "tpr",
    "fpr",
    "false_omission_rate",
    "gated",
    "passes",
    "failures",
)


@dataclass(frozen=True)
class EquityAudit:
    """One row per (attribute, group) with the metrics, their person-level bootstrap standard errors (``*_se``) and gate outcome.

    ``failures`` lists every failed gate.
    """

    table: pd.DataFrame
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def _group_metrics(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """All per-group metrics at once (one MetricFrame metric keeps fairlearn's per-call overhead to one pass)."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    scores = np.asarray(scores, dtype=float)
    positives, negatives, omitted = y_true == 1, y_true == 0, y_pred == 0
    return {
        "count": float(y_true.size),
        "positives": float(positives.sum()),
        "prevalence": float(y_true.mean()),
        "mean_predicted": float(scores.mean()),
        "calibration_in_the_large": float(scores.mean() - y_true.mean()),
        "auroc": auroc(y_true, scores),
        "selection_rate": float(y_pred.mean()),
        "tpr": float(y_pred[positives].mean()) if positives.any() else float("nan"),
        "fpr": float(y_pred[negatives].mean()) if negatives.any() else float("nan"),
        "false_omission_rate": float(y_true[omitted].mean()) if omitted.any() else float("nan"),
    }


def _natural_key(group: str) -> tuple[int, float, str]:
    """Order groups as people read them: numbers and age bands by their first number, text alphabetically, missing last."""
    head = group.split(" × ")[0]
    digits = "".join(ch for ch in head.split("-")[0] if ch.isdigit() or ch == ".")
    if head == MISSING_GROUP:
        return (2, 0.0, group)
    return (0, float(digits), group) if digits else (1, 0.0, group)


def _gate(row: pd.Series, config: EquityConfig) -> list[str]:
    """A gated group's failures: each threshold is failed only when the group's whole interval at ``gate_level`` lies beyond it.

    The interval is the point estimate +- z x its person-level bootstrap standard error (z = 0 at
    ``gate_level`` 0: the point estimate alone). An undefined standard error (a group with no
    spread in any replicate) counts as zero width.
    """
    z = float(norm.ppf(0.5 + config.gate_level / 2.0))
    failures = []
    area = row["auroc"]
    half = z * np.nan_to_num(row["auroc_se"])
    if area + half < config.min_group_auroc:
        interval = f" (interval to {area + half:.3f})" if half > 0 else ""
        failures.append(f"AUROC {area:.3f}{interval} < {config.min_group_auroc}")
    gap = abs(row["calibration_in_the_large"])
    half = z * np.nan_to_num(row["calibration_in_the_large_se"])
    if gap - half > config.max_abs_calibration_in_the_large:
        interval = f" (interval from {gap - half:.4f})" if half > 0 else ""
        failures.append(f"|mean predicted - observed| {gap:.4f}{interval} > {config.max_abs_calibration_in_the_large}")
    return failures


def audit_equity(
    frame: pd.DataFrame,
    y: np.ndarray,
    p: np.ndarray,
    selected: np.ndarray,
    *,
    config: EquityConfig,
    n_bootstrap: int = _EVALUATION.n_bootstrap,
    seed: int = _EVALUATION.seed,
) -> EquityAudit:
    """Audit a model's out-of-time predictions by subgroup and apply the equity gates.

    Groups with at least ``min_group_size`` rows and ``min_group_positives`` positives are gated
    (AUROC floor and absolute calibration-in-the-large ceiling), each failed only when the group's
    whole interval at ``gate_level`` lies beyond the threshold; smaller groups are reported but too
    noisy to gate. The intervals are the point estimate +- z x a person-level (cluster) bootstrap
    standard error (:func:`training.equity_intervals.group_standard_errors`): a person evaluated at
    two index dates gives two correlated rows, and the row-level formulas used before (Hanley-McNeil,
    binomial) were too narrow, so the gate refused groups too eagerly. A normal interval on the
    bootstrap standard error rather than percentiles: a few hundred replicates estimate a spread far more
    stably than a 2.5% tail, and ``gate_level`` 0 then gives the point estimate exactly. Error
    rates at capacity (TPR, FPR, false-omission rate) are reported, not gated: calibration can hold
    in every group while these still differ, and reviewers should see both.

    Parameters
    ----------
    frame
        Evaluation rows holding ``person_id`` and the attribute columns named in ``config``.
    y
        Outcomes (0/1), aligned with ``frame``.
    p
        Calibrated probabilities.
    selected
        Whether each row is within capacity (the list a neighbourhood would receive).
    config
        Attributes, intersections and gate thresholds.
    n_bootstrap, seed
        Person-level bootstrap replicates and their seed (pass ``[evaluation] n_bootstrap`` and ``seed``).
    """
    wanted = list(config.attributes) + [c for combo in config.intersections for c in combo]
    missing = sorted(set(wanted) - set(frame.columns))
    if missing:
        raise TrainingError(
            f"equity attributes must be columns of the feature table; got missing {missing}. "
            "Fix [equity] attributes/intersections in the experiment config."
        )
    if PERSON_COLUMN not in frame.columns:
        raise TrainingError(
            f"equity audit rows must hold {PERSON_COLUMN!r} (the bootstrap resamples people); got columns {sorted(map(str, frame.columns))}. "
            "Pass the evaluation rows of the feature table."
        )
    y = np.asarray(y, dtype=int)
    selected = np.asarray(selected, dtype=int)
    scores = np.asarray(p, dtype=float)
    groupings = [(attribute,) for attribute in config.attributes] + [tuple(c) for c in config.intersections]
    parts, codes = [], []
    for columns in groupings:
        sensitive = pd.DataFrame(
            {c: frame[c].astype("string").fillna(MISSING_GROUP).to_numpy(dtype=object) for c in columns}
        )
        label = sensitive[columns[0]]
        for column in columns[1:]:
            label = label + " × " + sensitive[column]
        row_codes, labels = pd.factorize(label)
        codes.append(row_codes)
        per_group = MetricFrame(
            metrics=_group_metrics, y_true=y, y_pred=selected, sensitive_features=sensitive, sample_params={"scores": scores}
        ).by_group
        per_group = per_group[per_group.map(lambda v: isinstance(v, dict))]
        by_group = pd.DataFrame(list(per_group), index=per_group.index).reset_index()
        by_group = by_group.iloc[sorted(range(len(by_group)), key=lambda i: [_natural_key(str(by_group[c].iloc[i])) for c in columns])]
        by_group.insert(0, "group", by_group[list(columns)].astype(str).agg(" × ".join, axis=1))
        by_group.insert(0, "attribute", " × ".join(columns))
        parts.append((by_group.drop(columns=list(columns)), pd.Index(labels)))
    spreads = group_standard_errors(codes, y, scores, frame[PERSON_COLUMN].to_numpy(dtype=object), n_bootstrap=n_bootstrap, seed=seed)
    for (by_group, labels), spread in zip(parts, spreads):
        at = labels.get_indexer(by_group["group"])
        by_group["prevalence_se"] = spread.observed_rate_se[at]
        by_group["calibration_in_the_large_se"] = spread.calibration_in_the_large_se[at]
        by_group["auroc_se"] = spread.auroc_se[at]
    table = pd.concat([by_group for by_group, _ in parts], ignore_index=True)
    table["count"] = table["count"].astype(int)
    table["positives"] = table["positives"].astype(int)
    table["gated"] = (table["count"] >= config.min_group_size) & (table["positives"] >= config.min_group_positives)
    reasons = [_gate(row, config) if row["gated"] else [] for _, row in table.iterrows()]
    table["passes"] = [not r for r in reasons]
    table["failures"] = ["; ".join(r) for r in reasons]
    failures = tuple(
        f"{row.attribute} = {row.group}: {row.failures}" for row in table.itertuples() if row.failures
    )
    return EquityAudit(table[list(AUDIT_COLUMNS)], failures)
