"""Gather every publication's holdout and capacity-cut records into the frames the impact evaluation reads.

- **Holdout** (``training.impact.evaluate_impact(holdout=)``): from publications scored with
  ``[lists] holdout_fraction`` > 0, every would-be-listed person's ``person_id, listed_at, arm``.
- **Ranks** (``ranks=``): from publications whose list policy is ``risk`` — the only one where being
  listed is decided by one ranking and a cut (``rank <= capacity``) — every ranked candidate up to
  twice the capacity (``candidates.parquet``) except the people held out at random (ranked inside
  the cut but not listed; dropping a random subset does not bias the comparison): ``person_id,
  listed_at, rank, capacity``.

A person scored in several publications is kept once in each record, at their first (earliest
``listed_at``): later draws and ranks would mix people already listed, contacted or held out into
the comparison. The estimate is therefore intention-to-treat from each person's first draw or rank;
a person held out once and listed at a later scoring counts as held out, which pulls the estimate
towards no effect rather than away from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.home import Home
from serving.publish import Publication, list_publications

__all__ = ["ImpactRecords", "impact_records", "RANKED_POLICY"]

#: The list policy whose lists are cut from one ranking, so the capacity cut can be compared across.
RANKED_POLICY = "risk"


@dataclass(frozen=True)
class ImpactRecords:
    """The records for ``evaluate_impact`` (``None`` when no publication has any) and how they were gathered.

    ``publications``: publications read; ``with_holdout``: those scored with a holdout;
    ``with_ranks``: those contributing ranked candidates; ``without_records``: publications from
    before the records were written; ``repeated_holdout`` / ``repeated_ranks``: later rows of people
    already recorded, dropped.
    """

    holdout: pd.DataFrame | None
    ranks: pd.DataFrame | None
    publications: int
    with_holdout: int
    with_ranks: int
    without_records: int
    repeated_holdout: int
    repeated_ranks: int


def _first_per_person(frames: list[pd.DataFrame], columns: list[str]) -> tuple[pd.DataFrame | None, int]:
    if not frames:
        return None, 0
    stacked = pd.concat(frames, ignore_index=True)[columns]
    stacked["listed_at"] = pd.to_datetime(stacked["listed_at"]).astype("datetime64[us]")
    first = stacked.sort_values("listed_at", kind="stable").drop_duplicates("person_id", keep="first")
    return (first.reset_index(drop=True) if len(first) else None), len(stacked) - len(first)


def _holdout_fraction(publication: Publication) -> float:
    return float((publication.metadata.get("holdout") or {}).get("fraction", 0.0))


def impact_records(where: Home | Path | str | None = None) -> ImpactRecords:
    """Every publication's holdout and list-rank records under ``where`` (a Home or publications root), oldest first."""
    publications = list_publications(where)
    holdouts, ranks, missing = [], [], 0
    for publication in publications:
        record, candidates = publication.holdout(), publication.candidates()
        if record is None or candidates is None:
            missing += 1
            continue
        if _holdout_fraction(publication) > 0 and len(record):
            holdouts.append(record)
        policy = (publication.metadata.get("list_policy") or {}).get("policy")
        if policy == RANKED_POLICY and len(candidates):
            ranks.append(candidates.loc[~candidates["held_out"].astype(bool)])
    holdout, repeated_holdout = _first_per_person(holdouts, ["person_id", "listed_at", "arm"])
    if holdout is not None and not (holdout["arm"] == "holdout").any():
        holdout = None
    ranked, repeated_ranks = _first_per_person(ranks, ["person_id", "listed_at", "rank", "capacity"])
    return ImpactRecords(
        holdout=holdout, ranks=ranked, publications=len(publications), with_holdout=len(holdouts), with_ranks=len(ranks),
        without_records=missing, repeated_holdout=repeated_holdout, repeated_ranks=repeated_ranks,
    )
