"""The randomised holdout: which would-be-listed people are kept off the lists, and the records the impact evaluation reads.

The PHM team may hold a random share of the people the list policy would list off the lists
(``[lists] holdout_fraction``, default 0) so the impact evaluation can compare listed and held-out
people who were otherwise chosen the same way. The draw is per person: a person's uniform number is
the SHA-256 of ``"{person_id}|{as_of}|{seed}"`` read as a fraction, and they are held out when it is
below the fraction. A re-run of the same scoring date therefore gives the same arms, and whether a
person is held out does not depend on who else is on the list.

Places are **not refilled**: the held-out people are part of the would-be-listed set the comparison
is made within; giving their places to the next ranked people would change who is listed, so a list
is shorter by its held-out people.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import pandas as pd

__all__ = [
    "HOLDOUT_REASON",
    "HOLDOUT_COLUMNS",
    "CANDIDATE_COLUMNS",
    "CANDIDATE_DEPTH",
    "holdout_draw",
    "held_out",
    "holdout_record",
    "candidate_record",
]

#: ``excluded_reason`` of a would-be-listed person kept off the list at random.
HOLDOUT_REASON = "randomised holdout"
#: Columns of a publication's ``holdout.parquet``: every would-be-listed person and their arm.
HOLDOUT_COLUMNS = ("person_id", "neighbourhood", "listed_at", "arm", "rank")
#: Columns of a publication's ``candidates.parquet``: the ranked candidates around each capacity cut.
CANDIDATE_COLUMNS = ("person_id", "neighbourhood", "listed_at", "rank", "capacity", "would_be_listed", "held_out")
#: Candidates recorded per neighbourhood, as a multiple of its capacity (the cut sits in the middle).
CANDIDATE_DEPTH = 2


def holdout_draw(person_ids: pd.Series, as_of: date, seed: int) -> np.ndarray:
    """Each person's reproducible uniform number in [0, 1): SHA-256 of ``person_id|as_of|seed``, first 8 bytes over 2**64."""
    stamp = as_of.isoformat()
    return np.array(
        [int.from_bytes(hashlib.sha256(f"{p}|{stamp}|{seed}".encode()).digest()[:8], "big") / 2.0**64 for p in person_ids.astype(str)],
        dtype=float,
    )


def held_out(person_ids: pd.Series, as_of: date, *, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask (aligned with ``person_ids``) of the people held out: their draw is below ``fraction``."""
    if fraction <= 0 or person_ids.empty:
        return np.zeros(len(person_ids), dtype=bool)
    return holdout_draw(person_ids, as_of, seed) < fraction


def holdout_record(would_be: pd.DataFrame, mask: np.ndarray, as_of: date) -> pd.DataFrame:
    """``holdout.parquet``: every would-be-listed person (``person_id, neighbourhood, rank``) with ``listed_at`` = ``as_of`` and ``arm``.

    ``rank`` is the person's place on the would-be list (before the held-out people were removed);
    ``arm`` is ``holdout`` or ``listed``.
    """
    return pd.DataFrame({
        "person_id": would_be["person_id"].astype(str).to_numpy(),
        "neighbourhood": would_be["neighbourhood"].astype(str).to_numpy(),
        "listed_at": pd.Series(pd.Timestamp(as_of), index=range(len(would_be)), dtype="datetime64[us]"),
        "arm": np.where(mask, "holdout", "listed").astype(object),
        "rank": would_be["rank"].to_numpy(dtype="int64"),
    }, columns=list(HOLDOUT_COLUMNS))


def candidate_record(
    open_places: pd.DataFrame, capacity: dict[str, int], would_be: pd.Index, held: pd.Index, as_of: date
) -> pd.DataFrame:
    """``candidates.parquet``: per neighbourhood, the open candidates ranked up to :data:`CANDIDATE_DEPTH` × capacity.

    Parameters
    ----------
    open_places
        The eligible people not held back by the caseload rule, best first within each neighbourhood,
        with ``rank`` (1.. in that order: the running variable of the capacity-cut comparison).
    capacity
        Places per neighbourhood.
    would_be
        Index labels of the people the list policy chose.
    held
        Index labels of the would-be-listed people held out at random.
    as_of
        The scoring date (``listed_at``).
    """
    limit = open_places["neighbourhood"].astype(str).map({str(k): int(v) for k, v in capacity.items()}).fillna(0).astype("int64")
    kept = open_places.loc[open_places["rank"].to_numpy() <= CANDIDATE_DEPTH * limit.to_numpy()]
    return pd.DataFrame({
        "person_id": kept["person_id"].astype(str).to_numpy(),
        "neighbourhood": kept["neighbourhood"].astype(str).to_numpy(),
        "listed_at": pd.Series(pd.Timestamp(as_of), index=range(len(kept)), dtype="datetime64[us]"),
        "rank": kept["rank"].to_numpy(dtype="int64"),
        "capacity": limit.loc[kept.index].to_numpy(dtype="int64"),
        "would_be_listed": kept.index.isin(would_be),
        "held_out": kept.index.isin(held),
    }, columns=list(CANDIDATE_COLUMNS))
