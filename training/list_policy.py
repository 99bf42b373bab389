"""List policies: who fills a capacity-sized list (highest risk, fastest rising, or places shared across bands), and their trade-offs.

A policy turns calibrated scores into a list of ``k`` people. Training reports every policy on
the out-of-time rows (:func:`policy_report`) so the PHM team chooses with the numbers in front of
it; scoring applies the configured one (``serving.score``) and records it in the publication.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from features.typed_config import TypedConfig

__all__ = ["POLICIES", "ListsConfig", "PolicyReport", "select", "policy_report", "policy_description"]

Policy = Literal["risk", "rising", "stratified"]
#: Policy name -> what it does, as the model card and README say it.
POLICIES: dict[str, str] = {
    "risk": "the highest predicted risk",
    "rising": "the largest rise in predicted risk since the same model's score months earlier, among people above a minimum risk",
    "stratified": "places shared across bands in proportion to expected future outcomes, each band's filled by risk",
}


class ListsConfig(TypedConfig):
    """Which people fill the lists (the experiment's ``[lists]`` table; registered with the model, applied by scoring)."""

    policy: Policy = Field("risk", description="List policy: 'risk' (highest risk), 'rising' (largest rise) or 'stratified' (places shared across bands).")
    rising_months: int = Field(6, description="'rising': months between the earlier score and now.")
    min_risk: float | None = Field(
        None,
        description="'rising': only people at or above this risk may be listed for a rise; omitted = the mean predicted risk of the "
        "people competing for the list (each neighbourhood's eligible people when scoring; the evaluation rows in training).",
    )
    stratify_by: str = Field("age_band", description="'stratified': the feature-table column whose bands share the list places.")
    report_by: tuple[str, ...] = Field(("age_band", "imd_quintile"), description="Columns whose bands the policy report shows the true positive rate for.")
    holdout_fraction: float = Field(
        0.0,
        description="Share of the people new to the would-be lists kept off the lists at random, recorded for the impact "
        "evaluation's randomised comparison; places are not refilled. The PHM team's policy decision (held-out people are not "
        "contacted), not a technical setting. 0 = no holdout (nobody drawn or kept off).",
    )
    holdout_seed: int = Field(
        0,
        description="Seed of the holdout draw (with person_id, not the date). A person is drawn once, at their first time on a "
        "would-be list; changing the seed changes only the draws of people not yet assigned.",
    )
    holdout_months: int | None = Field(
        None,
        description="Months a person's holdout arm lasts from their first assignment: until then a held-out person stays off the "
        "lists and a listed person is never drawn into the holdout; afterwards they are released and listed normally, and the "
        "impact evaluation stops their randomised follow-up. Omitted = the end of the model's outcome window ([features] "
        "outcome_window, 18 months by default), so the comparison covers the whole horizon the risk was predicted for. "
        "Held-out people wait this long.",
    )

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        if self.rising_months < 1:
            raise ValueError(f"lists.rising_months must be >= 1; got {self.rising_months}. Use e.g. 6.")
        if self.min_risk is not None and not 0 <= self.min_risk < 1:
            raise ValueError(f"lists.min_risk must be in [0, 1) or omitted; got {self.min_risk}. Remove it to use the mean risk.")
        if not 0 <= self.holdout_fraction < 1:
            raise ValueError(
                f"lists.holdout_fraction must be in [0, 1); got {self.holdout_fraction}. Use e.g. 0.1 to hold out one in ten, or 0 for none."
            )
        if self.holdout_months is not None and self.holdout_months < 1:
            raise ValueError(
                f"lists.holdout_months must be >= 1 or omitted; got {self.holdout_months}. Use e.g. 18, or remove it to use the "
                "end of the outcome window."
            )
        return self


def _top(priority: np.ndarray, eligible: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    order = np.lexsort((tiebreak, -priority))
    order = order[eligible[order]][:k]
    mask = np.zeros(priority.size, dtype=bool)
    mask[order] = True
    return mask


def _shares(expected: pd.Series, k: int) -> pd.Series:
    """Largest-remainder apportionment of ``k`` places in proportion to ``expected`` (ties to the earlier band)."""
    quota = expected / expected.sum() * k if expected.sum() > 0 else pd.Series(k / len(expected), index=expected.index)
    places = np.floor(quota).astype(int)
    left = k - int(places.sum())
    remainder = (quota - places).sort_values(ascending=False, kind="stable")
    places[remainder.index[:left]] += 1
    return places


def select(
    scores: np.ndarray,
    k: int,
    *,
    config: ListsConfig,
    earlier: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Boolean mask of the ``k`` people ``config.policy`` lists.

    Parameters
    ----------
    scores
        Calibrated predicted risks now.
    k
        List places.
    config
        The policy and its settings.
    earlier
        ``rising``: the same model's scores ``rising_months`` earlier (NaN where the person had no
        score then: their rise is unknown and they are listed only by risk, after everyone with a rise).
    strata
        ``stratified``: each person's band (missing values form their own band).
    seed
        Seed of the random tie-break.

    Notes
    -----
    ``rising`` lists people at or above ``min_risk`` by their rise; if fewer than ``k`` qualify,
    the rest of the places go by risk. ``stratified`` gives each band ``k`` × its share of the
    summed predicted risk (largest remainder), filled by risk; a band with fewer people than
    places gives its spare places to the highest-risk people left.
    """
    scores = np.asarray(scores, dtype=float)
    k = min(int(k), scores.size)
    tiebreak = np.random.default_rng(seed).random(scores.size)
    everyone = np.ones(scores.size, dtype=bool)
    if config.policy == "risk" or k == 0:
        return _top(scores, everyone, k, tiebreak)
    if config.policy == "rising":
        if earlier is None:
            raise ValueError("earlier scores must be given for the 'rising' list policy; got None. Score the population months earlier too.")
        floor = config.min_risk if config.min_risk is not None else float(scores.mean())
        rise = scores - np.asarray(earlier, dtype=float)
        qualifies = (scores >= floor) & ~np.isnan(rise)
        mask = _top(np.where(qualifies, rise, -np.inf), qualifies, k, tiebreak)
        return mask | _top(scores, ~mask, k - int(mask.sum()), tiebreak)
    if strata is None:
        raise ValueError("strata must be given for the 'stratified' list policy; got None. Pass the stratify_by column.")
    bands = pd.Series(strata).astype("string").fillna("(missing)").to_numpy()
    places = _shares(pd.Series(scores).groupby(bands, sort=True).sum(), k)
    mask = np.zeros(scores.size, dtype=bool)
    for band, n in places.items():
        mask |= _top(scores, bands == band, int(n), tiebreak)
    return mask | _top(scores, ~mask, k - int(mask.sum()), tiebreak)


@dataclass(frozen=True)
class PolicyReport:
    """Each policy's list on the same rows: ``summary`` (one row per policy) and ``by_band`` (TPR per band of each ``report_by`` column)."""

    summary: pd.DataFrame
    by_band: pd.DataFrame

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: ``policy.<name>.<measure>`` and ``policy.<name>.tpr.<column>.<band>``."""
        out = {
            f"policy.{row.policy}.{m}": float(getattr(row, m))
            for row in self.summary.itertuples()
            for m in ("listed", "positives_caught", "ppv", "tpr", "median_age")
            if not pd.isna(getattr(row, m))
        }
        for row in self.by_band.itertuples():
            if not pd.isna(row.tpr):
                band = re.sub(r"[^0-9A-Za-z_.-]", "_", str(row.band).replace("+", "plus"))
                out[f"policy.{row.policy}.tpr.{row.attribute}.{band}"] = float(row.tpr)
        return out


def policy_report(
    frame: pd.DataFrame,
    y: np.ndarray,
    scores: np.ndarray,
    k: int,
    *,
    config: ListsConfig,
    earlier: np.ndarray | None,
    seed: int = 0,
) -> PolicyReport:
    """Positives caught, PPV and TPR (overall and by each ``report_by`` band) for every policy's list of ``k`` on the same rows.

    Parameters
    ----------
    frame
        The rows' feature-table columns (``report_by``, ``stratify_by`` and ``age`` when present).
    y, scores
        Outcomes and calibrated predicted risks.
    k
        List places.
    config
        Policy settings (the configured policy is one row; the others are reported with the same settings).
    earlier
        The same model's scores ``rising_months`` earlier, or ``None`` (then ``rising`` is not reported).
    seed
        Tie-break seed.
    """
    y = np.asarray(y, dtype=float)
    positives = y.sum()
    strata = frame[config.stratify_by].to_numpy() if config.stratify_by in frame.columns else None
    rows, bands = [], []
    for policy in POLICIES:
        if (policy == "rising" and earlier is None) or (policy == "stratified" and strata is None):
            continue
        chosen = config.model_copy(update={"policy": policy})
        mask = select(scores, k, config=chosen, earlier=earlier, strata=strata, seed=seed)
        caught = float(y[mask].sum())
        rows.append({
            "policy": policy,
            "listed": int(mask.sum()),
            "positives_caught": int(caught),
            "ppv": caught / mask.sum() if mask.any() else float("nan"),
            "tpr": caught / positives if positives else float("nan"),
            "median_age": float(frame.loc[mask, "age"].median()) if "age" in frame.columns and mask.any() else float("nan"),
        })
        for column in config.report_by:
            if column not in frame.columns:
                continue
            values = frame[column].astype("string").fillna("(missing)").to_numpy()
            for band in sorted(pd.unique(values)):
                in_band = values == band
                band_pos = y[in_band].sum()
                bands.append({
                    "policy": policy,
                    "attribute": column,
                    "band": str(band),
                    "positives": int(band_pos),
                    "caught": int(y[in_band & mask].sum()),
                    "listed": int((in_band & mask).sum()),
                    "tpr": y[in_band & mask].sum() / band_pos if band_pos else float("nan"),
                })
    return PolicyReport(summary=pd.DataFrame(rows), by_band=pd.DataFrame(bands))


def policy_description(config: ListsConfig) -> Mapping[str, object]:
    """JSON-ready description of the policy for publication metadata."""
    return {"policy": config.policy, "meaning": POLICIES[config.policy], **config.to_dict()}
