"""The randomised comparison: listed vs held-out people, each once from their first assignment, follow-up stopped at the holdout period's end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.impact.config import ImpactConfig
from training.impact.errors import ImpactError
from training.impact.estimate import Estimate, arm_estimates
from training.impact.followup import Timeline, day_number, monthly_matrices, person_numbers

__all__ = ["RANDOMISED_ARMS", "RandomisedComparison", "randomised_comparison"]

#: Arms a holdout record's rows may carry: what each person was randomised to.
RANDOMISED_ARMS = ("holdout", "listed")
_WHAT = "holdout record"


@dataclass(frozen=True)
class RandomisedComparison:
    """Rate ratios listed vs held out per measure, and the people in each arm (``counts``: ``n_listed``, ``n_holdout``)."""

    estimates: dict[str, Estimate]
    counts: dict[str, int]


def _checked(holdout: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arms, the day of each first assignment and the day follow-up stops (``inf`` when not censored)."""
    arm = holdout["arm"].astype(str).to_numpy()
    bad = ~np.isin(arm, RANDOMISED_ARMS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ImpactError(f"{_WHAT} row {row} arm must be 'holdout' or 'listed'; got {arm[row]!r}. Fix the arm.")
    repeated = holdout["person_id"].astype(str).duplicated().to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise ImpactError(
            f"{_WHAT} must hold one row per person (their first assignment); row {row} repeats an earlier person. "
            "Keep each person's earliest row (serving.impact_records gathers the publications' records that way)."
        )
    start = day_number(holdout["listed_at"])
    if np.isnan(start).any():
        row = int(np.flatnonzero(np.isnan(start))[0])
        raise ImpactError(f"{_WHAT} row {row} listed_at must be the date of the first assignment; it is missing. Fill it or drop the row.")
    stop = day_number(holdout["censor_at"]) if "censor_at" in holdout.columns else np.full(start.size, np.nan)
    early = stop < start
    if early.any():
        row = int(np.flatnonzero(early)[0])
        raise ImpactError(f"{_WHAT} row {row} censor_at must be on or after listed_at; it is before. Fix the dates.")
    return arm, np.floor(start), np.where(np.isnan(stop), np.inf, stop)


def randomised_comparison(timeline: Timeline, holdout: pd.DataFrame, config: ImpactConfig) -> RandomisedComparison:
    """Compare follow-up rates of listed and held-out people over ``config.follow_up_months`` from each person's first assignment.

    Intention to treat: each person counts once, in the arm they were randomised to, from the day
    of the draw (``listed_at``), whatever happened later. Follow-up stops at ``censor_at`` when given
    (the end of the holdout period, after which held-out people may be listed; or a pause of the
    holdout), as well as at death, deregistration and the data end; events are counted by event date.

    Parameters
    ----------
    timeline
        Everyone's time at risk and events (``training.impact.followup.load_timeline``).
    holdout
        One row per person: ``person_id``, ``listed_at``, ``arm`` (``holdout`` or ``listed``) and optional ``censor_at``.
    config
        Follow-up length, bootstrap replicates and seed.

    Raises
    ------
    ImpactError
        If a column is missing, a person is unknown or appears twice, an arm is not ``holdout`` or
        ``listed``, or a date is missing or out of order.
    """
    person = person_numbers(timeline, holdout, _WHAT, ["person_id", "listed_at", "arm"])
    arm, start, stop = _checked(holdout)
    months = config.follow_up_months
    matrices = monthly_matrices(timeline, person, start, stop, 0, months - 1)
    listed = arm == "listed"
    estimates = arm_estimates(matrices, slice(0, months), listed, np.ones((person.size, months)), person, config.bootstrap, config.seed)
    return RandomisedComparison(estimates, {"n_listed": int(listed.sum()), "n_holdout": int((~listed).sum())})
