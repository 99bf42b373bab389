"""Exact TreeSHAP explanations of a RiskModel, shown in calibrated-probability space as plain-English reasons.

Explanation space: **probability**. LightGBM's TreeSHAP (``pred_contrib``) gives exact per-feature
contributions ``φ_i`` to the booster's log-odds ``f(x) = φ_0 + Σ φ_i`` (``φ_0`` is the expected
log-odds). The calibrated score is ``p = c(f(x))`` and the base score ``p_0 = c(φ_0)`` (the
calibrated probability of the average log-odds). Each contribution is rescaled by the same factor
``(p − p_0) / (f(x) − φ_0)``, so contributions keep their log-odds ranking and sign relative to
each other and add up exactly to ``p − p_0``, i.e. the displayed numbers add up to the displayed
score. Related features (a setting's count windows, trend and recency; a social need's flag and
months since onset) are summed into one reason, which keeps the sum exact.

Caveat: with an isotonic calibration map a person whose log-odds fall on the same flat step as
``φ_0`` has ``p = p_0`` and therefore no reasons; ``log_odds`` on each reason keeps the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.definitions import FeatureSpec
from models.errors import MissingPredictorError
from models.reasons import ReasonGroup, group_features, reason_context, reason_text
from models.risk_model import RiskModel

__all__ = ["EXPLANATION_SPACE", "Reason", "Explanation", "tree_contributions", "explain_rows"]

#: The space contributions are shown in (recorded in publication metadata).
EXPLANATION_SPACE = "probability"

Direction = Literal["raises", "lowers"]
_SINGLE_THREAD_ROWS = 64


@dataclass(frozen=True)
class Reason:
    """One reason a person's score differs from the base score.

    ``contribution`` is in calibrated-probability units (0.031 = 3.1 percentage points);
    ``log_odds`` is the exact TreeSHAP contribution it was scaled from; ``members`` are the model
    features summed into this reason and ``value`` their values (a number for a single feature,
    a ``{feature: value}`` mapping for a group; ``None`` for a missing value). ``context`` is the
    sentence to read with the text when the level of use, not its recent change, drives the
    reason (:func:`models.reasons.reason_context`); ``None`` when none applies.
    """

    feature: str
    value: float | dict[str, float | None] | None
    text: str
    direction: Direction
    contribution: float
    log_odds: float = 0.0
    members: tuple[str, ...] = ()
    context: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The published form: ``feature, text, direction, contribution, context``."""
        return {"feature": self.feature, "text": self.text, "direction": self.direction, "contribution": self.contribution,
                "context": self.context}


@dataclass(frozen=True)
class Explanation:
    """Why one person has their score: ``score = base_score + Σ reason.contribution + hidden_contribution``.

    ``hidden_contribution`` is the summed contribution of reasons cut by ``top`` (0 for a full explanation).
    """

    score: float
    base_score: float
    reasons: list[Reason]
    log_odds: float = 0.0
    base_log_odds: float = 0.0
    space: str = EXPLANATION_SPACE
    hidden_contribution: float = field(default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with every reason."""
        return {
            "score": self.score,
            "base_score": self.base_score,
            "space": self.space,
            "reasons": [r.to_dict() for r in self.reasons],
            "other_reasons_contribution": self.hidden_contribution,
        }


def _frame(model: RiskModel, X: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in model.feature_names_ if name not in X.columns]
    if missing:
        raise MissingPredictorError(
            f"X must hold every model feature; missing {missing[:5]}{'…' if len(missing) > 5 else ''}. "
            "Build the table with features.build.build_features and the model's feature config."
        )
    return X[model.feature_names_]


def _is_numeric(frame: pd.DataFrame) -> bool:
    return all(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype) for dtype in frame.dtypes)


def _numeric(frame: pd.DataFrame) -> np.ndarray:
    """Feature values as floats for reason text (NaN = missing; a category column's values become NaN)."""
    if _is_numeric(frame):
        return frame.to_numpy(dtype="float64", na_value=np.nan)
    return np.column_stack(
        [pd.to_numeric(frame[c], errors="coerce").astype("float64").to_numpy(na_value=np.nan) for c in frame.columns]
    )


def _contributions(model: RiskModel, data: np.ndarray | pd.DataFrame) -> np.ndarray:
    # One thread for small batches: OpenMP start-up and barriers cost more than a few rows of TreeSHAP.
    threads = {"num_threads": 1} if len(data) <= _SINGLE_THREAD_ROWS else {}
    return np.asarray(
        model.booster_.predict(data, pred_contrib=True, num_iteration=model.best_iteration_, **threads), dtype="float64"
    )


def tree_contributions(model: RiskModel, X: pd.DataFrame) -> np.ndarray:
    """Exact TreeSHAP log-odds contributions, shape ``(n, n_features + 1)``; the last column is the expected value.

    All-numeric features go to LightGBM as one float matrix (much faster for a single row);
    a table with category columns goes as a DataFrame so LightGBM applies its category mapping.
    """
    frame = _frame(model, X)
    return _contributions(model, frame.to_numpy(dtype="float64", na_value=np.nan) if _is_numeric(frame) else frame)


def _calibrate(model: RiskModel, log_odds: np.ndarray) -> np.ndarray:
    if model.calibrator_ is not None:
        return model.calibrator_.transform(log_odds)
    return 1.0 / (1.0 + np.exp(-log_odds))


def _as_of_per_row(X: pd.DataFrame, as_of: date | None) -> list[date | None]:
    if "as_of" in X.columns:
        return [None if pd.isna(v) else pd.Timestamp(v).date() for v in X["as_of"]]
    return [as_of] * len(X)


def _value(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


def explain_rows(
    model: RiskModel,
    X: pd.DataFrame,
    *,
    as_of: date | None = None,
    top: int | None = None,
    groups: Sequence[ReasonGroup] | None = None,
    specs: Mapping[str, FeatureSpec] | None = None,
) -> list[Explanation]:
    """Explain each row of ``X``: calibrated score, base score and reasons in probability space.

    Parameters
    ----------
    model
        A fitted (ideally calibrated) ``RiskModel``.
    X
        Feature rows holding the model's features (extra columns are ignored). An ``as_of``
        column, when present, dates onset months in reason text ("recorded March 2026").
    as_of
        Scoring date used when ``X`` has no ``as_of`` column.
    top
        Keep only the ``top`` reasons with the largest absolute contribution (``None`` = all;
        the rest's sum is kept in ``hidden_contribution`` so the total still adds up).
    groups
        How model features are combined into reasons; defaults to ``group_features(names, specs)``.
    specs
        The predictor declarations of the model's feature config (``predictor_specs(config)``);
        ``None`` = the default declarations. Needed for reason text of non-default windows.

    Returns
    -------
    list[Explanation]
        One per row, reasons sorted by absolute contribution, largest first; reasons with an
        exactly zero contribution (features the model never splits on) are left out.
    """
    names = list(model.feature_names_)
    groups = list(groups) if groups is not None else group_features(names, specs)
    frame = _frame(model, X)
    matrix = _numeric(frame)
    contrib = _contributions(model, matrix if _is_numeric(frame) else frame)
    phi, base = contrib[:, :-1], contrib[:, -1]
    log_odds = phi.sum(axis=1) + base
    score = _calibrate(model, log_odds)
    base_score = _calibrate(model, base)
    delta = log_odds - base
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(delta != 0.0, (score - base_score) / delta, 0.0)
    position = {name: i for i, name in enumerate(names)}
    membership = np.zeros((len(names), len(groups)))
    for j, group in enumerate(groups):
        membership[[position[m] for m in group.members], j] = 1.0
    grouped_log_odds = phi @ membership
    grouped = grouped_log_odds * scale[:, None]
    dates = _as_of_per_row(X, as_of)
    explanations = []
    for i in range(len(X)):
        row = grouped[i]
        order = [j for j in np.argsort(-np.abs(row), kind="stable") if row[j] != 0.0]
        shown = order if top is None else order[:top]
        reasons = []
        for j in shown:
            group = groups[j]
            values = {m: _value(matrix[i, position[m]]) for m in group.members}
            parts = {m: float(phi[i, position[m]]) for m in group.members}
            direction: Direction = "raises" if row[j] > 0 else "lowers"
            reasons.append(
                Reason(
                    feature=group.key,
                    value=values[group.members[0]] if len(group.members) == 1 else values,
                    text=reason_text(group, values, as_of=dates[i], contributions=parts, specs=specs),
                    direction=direction,
                    contribution=float(row[j]),
                    log_odds=float(grouped_log_odds[i, j]),
                    members=group.members,
                    context=reason_context(group.key, direction, values, specs),
                )
            )
        explanations.append(
            Explanation(
                score=float(score[i]),
                base_score=float(base_score[i]),
                reasons=reasons,
                log_odds=float(log_odds[i]),
                base_log_odds=float(base[i]),
                hidden_contribution=float(row[order[len(shown):]].sum()) if len(order) > len(shown) else 0.0,
            )
        )
    return explanations
