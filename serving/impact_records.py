"""Gather every publication's holdout and capacity-cut records into the frames the impact evaluation reads.

- **Holdout** (``training.impact.evaluate_impact(holdout=)``): each randomised person once, at their
  first assignment (:func:`serving.holdout.first_assignments`): ``person_id``, ``listed_at`` (the
  day of the draw), ``arm`` (``holdout`` or ``listed``, as drawn) and ``censor_at``, the day their
  randomised follow-up stops: the end of their holdout period (``holdout_until``), or the first
  later scoring without a holdout (a pause lists everyone, so it ends every assignment's follow-up
  that day, in both arms alike), whichever is earlier. The later records of the same person (arm
  carried forward, or ``released``) are not counted again: the estimate is intention-to-treat from
  the draw. Records from before arms were sticky (each scoring drew afresh) count from each
  person's earliest draw, without a period end; a person held out then and listed at a later
  scoring counts as held out, which pulls the estimate towards no effect rather than away from it.
- **Ranks** (``ranks=``): from publications whose list policy is ``risk`` — the only one where being
  listed is decided by one ranking and a cut (``rank <= capacity``) — every ranked candidate up to
  twice the capacity (``candidates.parquet``) except the people held out at random (ranked inside
  the cut but not listed; dropping a random subset does not bias the comparison): ``person_id,
  listed_at, rank, capacity``. A person ranked in several publications is kept once, at their first
  (earliest ``listed_at``): later ranks would mix people already listed or contacted into the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.home import Home
from serving.holdout import first_assignments, holdout_history, publication_fraction
from serving.publish import Publication, list_publications

__all__ = ["ImpactRecords", "impact_records", "RANKED_POLICY"]

#: The list policy whose lists are cut from one ranking, so the capacity cut can be compared across.
RANKED_POLICY = "risk"


@dataclass(frozen=True)
class ImpactRecords:
    """The records for ``evaluate_impact`` (``None`` when no publication has any) and how they were gathered.

    ``publications``: publications read; ``with_holdout``: those scored with a holdout;
    ``with_ranks``: those contributing ranked candidates; ``without_records``: publications from
    before the records were written; ``repeated_holdout``: later holdout rows of people already
    assigned (carried forward, released, or listed while the holdout was off), not counted again;
    ``repeated_ranks``: later rows of people already ranked, dropped.
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


def _randomised(publications: list[Publication]) -> tuple[pd.DataFrame | None, int]:
    """Each randomised person's first assignment with the day their follow-up stops, and the later rows not counted."""
    history = holdout_history(publications)
    first = first_assignments(history)
    first = first.loc[first["arm"].isin(["holdout", "listed"])]
    if not (first["arm"] == "holdout").any():
        return None, 0
    pauses = np.sort(np.array(
        [pd.Timestamp(p.metadata["as_of"]) for p in publications if publication_fraction(p) == 0 and p.metadata.get("as_of")],
        dtype="datetime64[us]",
    ))
    start = first["first_assigned"].to_numpy(dtype="datetime64[us]")
    pause = np.append(pauses, np.datetime64("NaT", "us"))[np.searchsorted(pauses, start, side="right")]  # first pause after the draw
    end = first["holdout_until"].to_numpy(dtype="datetime64[us]")
    censor = np.where(np.isnat(end) | (pause < end), pause, end)
    holdout = pd.DataFrame({
        "person_id": first.index.to_numpy(dtype=object), "listed_at": start, "arm": first["arm"].to_numpy(dtype=object),
        "censor_at": censor.astype("datetime64[us]"),
    })
    return holdout, int(history["person_id"].isin(first.index).sum()) - len(first)


def impact_records(where: Home | Path | str | None = None) -> ImpactRecords:
    """Every publication's holdout and list-rank records under ``where`` (a Home or publications root), oldest first."""
    publications = list_publications(where)
    with_holdout, ranks, missing = 0, [], 0
    for publication in publications:
        record, candidates = publication.holdout(), publication.candidates()
        if record is None or candidates is None:
            missing += 1
            continue
        with_holdout += int(publication_fraction(publication) > 0 and len(record) > 0)
        policy = (publication.metadata.get("list_policy") or {}).get("policy")
        if policy == RANKED_POLICY and len(candidates):
            ranks.append(candidates.loc[~candidates["held_out"].astype(bool)])
    holdout, repeated_holdout = _randomised(publications)
    ranked, repeated_ranks = _first_per_person(ranks, ["person_id", "listed_at", "rank", "capacity"])
    return ImpactRecords(
        holdout=holdout, ranks=ranked, publications=len(publications), with_holdout=with_holdout, with_ranks=len(ranks),
        without_records=missing, repeated_holdout=repeated_holdout, repeated_ranks=repeated_ranks,
    )
