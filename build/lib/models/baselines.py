"""The incumbents the model must beat: the Tier-1 ED-count rule, a Herts-style rules segmentation and logistic regression."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.errors import MissingPredictorError

__all__ = [
    "EdCountRule",
    "Condition",
    "SegmentRule",
    "HERTS_SEGMENTS",
    "SEGMENT_SCORES",
    "HertsSegmentation",
    "logistic_pipeline",
]


class EdCountRule(BaseEstimator):
    """Tier-1-style rule: rank people by A&E attendances in the last 12 months (ties stay tied).

    The score is the sum of the count features whose windows make up the last 12 months,
    e.g. ``ed_0_3m + ed_3_6m + ed_6_12m``. There is nothing to fit.
    """

    def __init__(self, *, columns: tuple[str, ...] = ("ed_0_3m", "ed_3_6m", "ed_6_12m")) -> None:
        self.columns = columns

    def score(self, X: pd.DataFrame) -> np.ndarray:  # type: ignore[override]
        """ED attendances in the last 12 months per row (missing counts as none)."""
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise MissingPredictorError(f"ED-count rule needs columns {list(self.columns)}; got missing {missing}. Build features with the default windows.")
        return X[list(self.columns)].astype("float64").fillna(0.0).sum(axis=1).to_numpy()


@dataclass(frozen=True)
class Condition:
    """One test on a feature column: ``column >= at_least`` and/or ``column < below``."""

    column: str
    at_least: float | None = None
    below: float | None = None

    def test(self, X: pd.DataFrame) -> np.ndarray:
        values = X[self.column].astype("float64").to_numpy()
        result = np.ones(len(X), dtype=bool)
        if self.at_least is not None:
            result &= values >= self.at_least
        if self.below is not None:
            result &= values < self.below
        return result


def _flag(column: str) -> Condition:
    return Condition(column, at_least=1.0)


@dataclass(frozen=True)
class SegmentRule:
    """A segment's rule: true if any clause holds; a clause holds if all its conditions and at least one of its ``any_of`` do."""

    description: str
    all_of: tuple[Condition, ...]
    any_of: tuple[Condition, ...] = ()

    def test(self, X: pd.DataFrame) -> np.ndarray:
        result = np.ones(len(X), dtype=bool)
        for condition in self.all_of:
            result &= condition.test(X)
        if self.any_of:
            result &= np.logical_or.reduce([c.test(X) for c in self.any_of])
        return result


_SUBSTANCE = (_flag("sn_substance_misuse"), _flag("sn_alcohol_misuse"))
#: Herts & West Essex's segmentation (DOMAIN.md) mapped onto our code-list categories. Terms with
#: no code list are replaced by the nearest category: salbutamol + dyspnoea -> asthma; not fit for
#: work -> unemployment; pain drugs + peptic ulcer / chronic cardiac disease -> CHD or heart
#: failure; falls -> frailty; memory problems -> dementia; end-stage disease -> CKD, cancer or heart
#: failure. Medium uses combinations of social need, multimorbidity and age in the same spirit.
HERTS_SEGMENTS: dict[str, tuple[SegmentRule, ...]] = {
    "High": (
        SegmentRule("age under 3 with asthma (salbutamol and dyspnoea)", (Condition("age", below=3.0), _flag("ltc_asthma"))),
        SegmentRule("unemployed, substance misuse, cardiac disease", (_flag("sn_unemployment"), _flag("ltc_chd")), _SUBSTANCE),
        SegmentRule("unemployed, substance misuse, heart failure", (_flag("sn_unemployment"), _flag("ltc_heart_failure")), _SUBSTANCE),
        SegmentRule("frailty (falls), stroke and dementia (memory problems)", (_flag("ltc_frailty"), _flag("ltc_stroke"), _flag("ltc_dementia"))),
        SegmentRule("frailty (falls), stroke and substance misuse", (_flag("ltc_frailty"), _flag("ltc_stroke")), _SUBSTANCE),
        SegmentRule(
            "frailty (falls) with end-stage disease",
            (_flag("ltc_frailty"),),
            (_flag("ltc_ckd"), _flag("ltc_cancer"), _flag("ltc_heart_failure")),
        ),
    ),
    "Medium": (
        SegmentRule("three or more long-term conditions", (Condition("ltc_count", at_least=3.0),)),
        SegmentRule("homeless", (_flag("sn_homeless"),)),
        SegmentRule("mental health need with substance or alcohol misuse", (_flag("sn_mental_health"),), _SUBSTANCE),
        SegmentRule("severe mental illness with substance or alcohol misuse", (_flag("ltc_smi"),), _SUBSTANCE),
        SegmentRule("aged 75+ with two or more long-term conditions", (Condition("age", at_least=75.0), Condition("ltc_count", at_least=2.0))),
        SegmentRule(
            "lives alone with a long-term condition and financial difficulty",
            (_flag("sn_lives_alone"), Condition("ltc_count", at_least=1.0), _flag("sn_financial_difficulty")),
        ),
        SegmentRule("COPD or heart failure and housing insecurity", (_flag("sn_housing_insecurity"),), (_flag("ltc_copd"), _flag("ltc_heart_failure"))),
    ),
}
#: Segment -> rank score (higher is riskier); "Low" is everyone else.
SEGMENT_SCORES: dict[str, float] = {"High": 2.0, "Medium": 1.0, "Low": 0.0}


class HertsSegmentation(BaseEstimator):
    """Rules-based High / Medium / Low segmentation (see :data:`HERTS_SEGMENTS`); nothing to fit.

    Within a segment people are tied: the incumbent has no finer ranking.
    """

    def __init__(self, *, segments: dict[str, tuple[SegmentRule, ...]] | None = None) -> None:
        self.segments = segments

    def segment(self, X: pd.DataFrame) -> np.ndarray:
        """``"High"``, ``"Medium"`` or ``"Low"`` per row (the first segment whose rule holds)."""
        segments = self.segments if self.segments is not None else HERTS_SEGMENTS
        result = np.full(len(X), "Low", dtype=object)
        decided = np.zeros(len(X), dtype=bool)
        for name in ("High", "Medium"):
            hit = np.logical_or.reduce([rule.test(X) for rule in segments[name]]) & ~decided
            result[hit] = name
            decided |= hit
        return result

    def score(self, X: pd.DataFrame) -> np.ndarray:  # type: ignore[override]
        """Segment as a rank score: High 2, Medium 1, Low 0."""
        return np.vectorize(SEGMENT_SCORES.__getitem__, otypes=[float])(self.segment(X))


def logistic_pipeline(X: pd.DataFrame, *, c: float, max_iter: int, random_state: int) -> Pipeline:
    """Unfitted logistic regression on the same predictors: median imputation with missing indicators and scaling; categoricals one-hot.

    Parameters
    ----------
    X
        A frame with the predictor columns (used only to find numeric vs categorical columns).
    c
        Inverse L2 regularisation strength.
    max_iter
        Solver iterations.
    random_state
        Seed (the lbfgs solver is deterministic; kept for the record).
    """
    categorical = [c_ for c_ in X.columns if isinstance(X[c_].dtype, pd.CategoricalDtype)]
    numeric = [c_ for c_ in X.columns if c_ not in categorical]
    numeric_steps = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler())
    transformers = [("numeric", numeric_steps, numeric)]
    if categorical:
        transformers.append(("categorical", OneHotEncoder(handle_unknown="ignore"), categorical))
    return Pipeline(
        [
            ("prepare", ColumnTransformer(transformers)),
            ("logistic", LogisticRegression(C=c, max_iter=max_iter, random_state=random_state)),
        ]
    )

