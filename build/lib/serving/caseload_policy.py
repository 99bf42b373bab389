"""How a publication honours the teams' actions: hold back enrolled and recently declined people, refill capacity.

The rule, per person, from their actions recorded at or before the scoring date T:

- latest action ``enrolled`` → held back, reason :data:`ON_CASELOAD` (like the SNOMED
  818241000000105 "on integrated care pathway" exclusion);
- a ``declined`` / ``not_appropriate`` decision less than ``suppress_months`` before T, with the
  latest action that decision or ``closed`` → held back, reason :data:`RECENTLY_DECLINED`, until the
  same day ``suppress_months`` later (midnight UTC); from then on the person may be listed again,
  flagged ``previously_declined``;
- ``reviewed`` / ``contacted`` / ``unreachable`` / ``closed`` (or no action) → listed as ranked,
  with that status.

Each list keeps its capacity by taking the next ranked eligible people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from features.caseload import DECISIONS, PersonStatus, as_of_moment, statuses
from features.dates import add_months
from serving.errors import ScoringError

__all__ = [
    "caseload_counts",
    "ON_CASELOAD",
    "RECENTLY_DECLINED",
    "LISTED_STATUSES",
    "CaseloadListing",
    "person_decisions",
    "apply_caseload",
    "apply_caseload_to_lists",
]

#: Why an enrolled person is not listed (the publication's ``excluded_reason``).
ON_CASELOAD = "on caseload"

#: Why a person who declined (or was judged not appropriate) within ``suppress_months`` is not listed.
RECENTLY_DECLINED = "recently declined"

#: Statuses a listed person can carry (None: no action yet); each is counted in the metadata.
LISTED_STATUSES = ("reviewed", "contacted", "unreachable", "closed")


@dataclass(frozen=True)
class CaseloadListing:
    """Lists after the actions: who is listed, who was held back and why, and the counts for the metadata.

    ``listed`` has the candidates' columns plus ``rank`` (1.. within each list, renumbered after
    holding people back), ``candidate_rank`` (the rank among all eligible candidates), ``status``
    (latest action or None) and ``previously_declined``. ``held_back`` has ``person_id``,
    ``neighbourhood`` (when the candidates have one), ``held_back_reason`` and ``held_back_until``
    (end of a suppression, else None), for every candidate held back, listed or not. ``counts``:
    ``listed``, ``on_caseload`` and ``recently_declined`` (candidates held back), ``refilled``
    (listed people ranked beyond capacity who took a held-back person's place),
    ``previously_declined`` and one per :data:`LISTED_STATUSES` (listed people with that status).
    """

    listed: pd.DataFrame
    held_back: pd.DataFrame
    counts: dict[str, int]


def _until(declined_at: datetime, suppress_months: int) -> datetime:
    return as_of_moment(add_months(declined_at.date(), suppress_months))


def person_decisions(
    person_ids: pd.Series, people: Mapping[str, PersonStatus], *, as_of: date | datetime, suppress_months: int
) -> pd.DataFrame:
    """Per person (same index as ``person_ids``): ``status``, ``previously_declined``, ``held_back_reason``, ``held_back_until``.

    Parameters
    ----------
    person_ids
        The candidates.
    people
        Statuses from :func:`features.caseload.statuses` of the actions as of ``as_of``.
    as_of
        The scoring date T. Leakage: a status whose latest action was recorded after T is refused.
    suppress_months
        Months a decline holds a person back.
    """
    moment = as_of_moment(as_of)
    status, flagged, reason, until = [], [], [], []
    for person in person_ids.astype("str"):
        found = people.get(person)
        if found is not None and found.since > moment:
            raise ScoringError(
                f"caseload actions must be recorded at or before the scoring date {moment.isoformat()}; got one at "
                f"{found.since.isoformat()}. Read them with features.caseload.actions_as_of(engine, as_of)."
            )
        held, held_until = None, None
        if found is not None and found.status == "enrolled":
            held = ON_CASELOAD
        elif found is not None and found.declined_at is not None and found.status in DECISIONS | {"closed"}:
            end = _until(found.declined_at, suppress_months)
            if moment < end:
                held, held_until = RECENTLY_DECLINED, end
        status.append(None if found is None else found.status)
        flagged.append(found is not None and found.declined_at is not None)
        reason.append(held)
        until.append(held_until)
    return pd.DataFrame(
        {"status": pd.Series(status, dtype="object"), "previously_declined": np.asarray(flagged, dtype=bool),
         "held_back_reason": pd.Series(reason, dtype="object"), "held_back_until": pd.Series(until, dtype="object")},
    ).set_axis(person_ids.index)


def _in_time(actions: pd.DataFrame, as_of: date | datetime) -> pd.DataFrame:
    if actions.empty:
        return actions
    return actions.loc[pd.to_datetime(actions["recorded_at"], utc=True) <= pd.Timestamp(as_of_moment(as_of))]


def apply_caseload_to_lists(
    candidates: pd.DataFrame,
    capacity: Mapping[str, int],
    actions: pd.DataFrame,
    *,
    as_of: date | datetime,
    suppress_months: int,
) -> CaseloadListing:
    """Every neighbourhood's list after the actions.

    Parameters
    ----------
    candidates
        Eligible people with ``person_id`` and ``neighbourhood``, best first within each neighbourhood.
    capacity
        List size per neighbourhood (absent: 0).
    actions
        :func:`features.caseload.actions_as_of` frame; only actions recorded at or before ``as_of``
        are used (point in time).
    as_of
        The scoring date T.
    suppress_months
        Months a decline holds a person back (``CaseloadConfig.suppress_months``).
    """
    if suppress_months < 0:
        raise ScoringError(f"suppress_months must be 0 or more; got {suppress_months}. Fix the caseload config.")
    decided = person_decisions(candidates["person_id"], statuses(_in_time(actions, as_of)), as_of=as_of,
                               suppress_months=suppress_months)
    table = pd.concat([candidates, decided], axis=1)
    groups = table["neighbourhood"].astype("str")
    limit = groups.map({str(k): int(v) for k, v in capacity.items()}).fillna(0).astype("int64")
    table["candidate_rank"] = table.groupby(groups, sort=False).cumcount().astype("int64") + 1
    kept = table.loc[table["held_back_reason"].isna()]
    kept_rank = kept.groupby(groups.loc[kept.index], sort=False).cumcount().astype("int64") + 1
    listed = kept.loc[kept_rank <= limit.loc[kept.index]].assign(rank=kept_rank[kept_rank <= limit.loc[kept.index]])
    listed = listed.drop(columns=["held_back_reason", "held_back_until"])
    held = table.loc[table["held_back_reason"].notna(), ["person_id", "neighbourhood", "held_back_reason", "held_back_until"]]
    counts = caseload_counts(listed, held, limit.loc[listed.index])
    return CaseloadListing(listed=listed.reset_index(drop=True), held_back=held.reset_index(drop=True), counts=counts)


def caseload_counts(listed: pd.DataFrame, held: pd.DataFrame, limit: pd.Series) -> dict[str, int]:
    """What the actions did to the lists: people listed, held back by reason, refilled, and by status.

    ``listed`` holds ``candidate_rank``, ``status`` and ``previously_declined``; ``limit`` is each listed
    person's neighbourhood capacity (a person whose candidate rank is beyond it filled a held-back place).
    """
    return {
        "listed": len(listed),
        "on_caseload": int((held["held_back_reason"] == ON_CASELOAD).sum()),
        "recently_declined": int((held["held_back_reason"] == RECENTLY_DECLINED).sum()),
        "refilled": int((listed["candidate_rank"].to_numpy() > limit.to_numpy()).sum()),
        "previously_declined": int(listed["previously_declined"].sum()),
        **{status: int((listed["status"] == status).sum()) for status in LISTED_STATUSES},
    }


def apply_caseload(
    candidates: pd.DataFrame,
    capacity: int,
    actions: pd.DataFrame,
    *,
    as_of: date | datetime,
    suppress_months: int,
) -> CaseloadListing:
    """One neighbourhood's list after the actions (``candidates``: ``person_id``, best first); see :func:`apply_caseload_to_lists`."""
    single = candidates.assign(neighbourhood=candidates["neighbourhood"] if "neighbourhood" in candidates else "")
    result = apply_caseload_to_lists(single, {name: capacity for name in single["neighbourhood"].astype("str").unique()},
                                     actions, as_of=as_of, suppress_months=suppress_months)
    if "neighbourhood" in candidates:
        return result
    return CaseloadListing(result.listed.drop(columns=["neighbourhood"]), result.held_back.drop(columns=["neighbourhood"]), result.counts)
