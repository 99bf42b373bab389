"""Equity audit: per-subgroup discrimination, calibration and error rates at capacity (fairlearn MetricFrame), and gates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from scipy.stats import norm

from training.config import EquityConfig
from training.errors import TrainingError
from training.metrics import auroc

__all__ = ["EquityAudit", "audit_equity", "auroc_standard_error", "MISSING_GROUP"]

#: Group label given to rows whose attribute is missing (reported, never dropped).
MISSING_GROUP = "missing"

AUDIT_COLUMNS: tuple[str, ...] = (
    "attribute",
    "group",
    "count",
    "positives",
    "prevalence",
    "mean_predicted",
    "calibration_in_the_large",
    "auroc",
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
    """One row per (attribute, group) with the metrics and gate outcome; ``failures`` lists every failed gate."""

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


def auroc_standard_error(area: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of an AUROC from ``positives`` and ``negatives`` rows."""
    q1, q2 = area / (2.0 - area), 2.0 * area**2 / (1.0 + area)
    variance = (area * (1 - area) + (positives - 1) * (q1 - area**2) + (negatives - 1) * (q2 - area**2)) / (positives * negatives)
    return float(np.sqrt(max(variance, 0.0)))


def _gate(row: pd.Series, config: EquityConfig) -> list[str]:
    """A gated group's failures: each threshold is failed only when the group's whole interval at ``gate_level`` lies beyond it."""
    z = float(norm.ppf(0.5 + config.gate_level / 2.0))
    failures = []
    area, positives = row["auroc"], int(row["positives"])
    half = z * auroc_standard_error(area, positives, int(row["count"]) - positives)
    if area + half < config.min_group_auroc:
        interval = f" (interval to {area + half:.3f})" if half > 0 else ""
        failures.append(f"AUROC {area:.3f}{interval} < {config.min_group_auroc}")
    gap = abs(row["calibration_in_the_large"])
    half = z * np.sqrt(row["prevalence"] * (1.0 - row["prevalence"]) / row["count"])
    if gap - half > config.max_abs_calibration_in_the_large:
        interval = f" (interval from {gap - half:.4f})" if half > 0 else ""
        failures.append(f"|mean predicted - observed| {gap:.4f}{interval} > {config.max_abs_calibration_in_the_large}")
    return failures


def audit_equity(
    frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, selected: np.ndarray, *, config: EquityConfig
) -> EquityAudit:
    """Audit a model's out-of-time predictions by subgroup and apply the equity gates.

    Groups with at least ``min_group_size`` rows and ``min_group_positives`` positives are gated
    (AUROC floor and absolute calibration-in-the-large ceiling), each failed only when the group's
    whole interval at ``gate_level`` lies beyond the threshold (Hanley-McNeil for AUROC, binomial
    for the observed rate; rows are treated as independent, which slightly narrows the interval
    when people recur at several dates); smaller groups are reported but too noisy to gate. Error rates at capacity (TPR, FPR, false-omission rate) are reported, not
    gated: calibration can hold in every group while these still differ, and reviewers should see both.

    Parameters
    ----------
    frame
        Evaluation rows holding the attribute columns named in ``config``.
    y
        Outcomes (0/1), aligned with ``frame``.
    p
        Calibrated probabilities.
    selected
        Whether each row is within capacity (the list a neighbourhood would receive).
    config
        Attributes, intersections and gate thresholds.
    """
    wanted = list(config.attributes) + [c for combo in config.intersections for c in combo]
    missing = sorted(set(wanted) - set(frame.columns))
    if missing:
        raise TrainingError(
            f"equity attributes must be columns of the feature table; got missing {missing}. "
            "Fix [equity] attributes/intersections in the experiment config."
        )
    y = np.asarray(y, dtype=int)
    selected = np.asarray(selected, dtype=int)
    scores = np.asarray(p, dtype=float)
    groupings = [(attribute,) for attribute in config.attributes] + [tuple(c) for c in config.intersections]
    parts = []
    for columns in groupings:
        sensitive = pd.DataFrame(
            {c: frame[c].astype("string").fillna(MISSING_GROUP).to_numpy(dtype=object) for c in columns}
        )
        per_group = MetricFrame(
            metrics=_group_metrics, y_true=y, y_pred=selected, sensitive_features=sensitive, sample_params={"scores": scores}
        ).by_group
        per_group = per_group[per_group.map(lambda v: isinstance(v, dict))]
        by_group = pd.DataFrame(list(per_group), index=per_group.index).reset_index()
        by_group = by_group.iloc[sorted(range(len(by_group)), key=lambda i: [_natural_key(str(by_group[c].iloc[i])) for c in columns])]
        by_group.insert(0, "group", by_group[list(columns)].astype(str).agg(" × ".join, axis=1))
        by_group.insert(0, "attribute", " × ".join(columns))
        parts.append(by_group.drop(columns=list(columns)))
    table = pd.concat(parts, ignore_index=True)
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
