"""The randomised holdout: each person's sticky arm, drawn at their first time on a would-be list, and the records the impact evaluation reads.

The PHM team may hold a random share of the people the list policy would list off the lists
(``[lists] holdout_fraction``, default 0) so the impact evaluation can compare listed and held-out
people who were otherwise chosen the same way. The design is one randomisation per person:

- **Drawn once, at the person's first time on a would-be list.** A person's uniform number is the
  SHA-256 of ``"{person_id}|{seed}"`` read as a fraction; they are held out when it is below the
  fraction. The number does not depend on the scoring date or on who else is listed, so a re-run
  of a date gives the same arms.
- **Sticky for the holdout period** (``[lists] holdout_months``, default the end of the model's
  outcome window): at every later scoring within ``holdout_months`` of their ``first_assigned``
  date, a held-out person stays off the lists and a listed person is never drawn into the holdout,
  whatever the seed or fraction is by then. The arms come from the earlier publications'
  ``holdout.parquet`` (:func:`holdout_history`), counting only records from before the scoring date.
- **Released after it**: from ``holdout_until`` on, the person is listed normally whenever the list
  policy chooses them (arm ``released``) and is never drawn again.
- People on a would-be list before the holdout began (recorded by a publication without a draw)
  are listed and never drawn: they may already have been contacted, so they cannot be randomised.
- With ``holdout_fraction`` = 0 there is no holdout: nobody is drawn or kept off, whatever the history.

Places are **not refilled**: the held-out people are part of the would-be-listed set the comparison
is made within; giving their places to the next ranked people would change who is listed, so a list
is shorter by its held-out people.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.dates import add_months
from serving.publish import Publication
from training.list_policy import ListsConfig

__all__ = [
    "HOLDOUT_REASON",
    "ARMS",
    "HOLDOUT_COLUMNS",
    "HISTORY_COLUMNS",
    "CANDIDATE_COLUMNS",
    "CANDIDATE_DEPTH",
    "holdout_draw",
    "holdout_months",
    "publication_fraction",
    "publication_record",
    "holdout_history",
    "first_assignments",
    "assign_arms",
    "holdout_record",
    "candidate_record",
]

#: ``excluded_reason`` of a would-be-listed person kept off the list at random.
HOLDOUT_REASON = "randomised holdout"
#: Arms of ``holdout.parquet``: ``holdout`` kept off; ``listed`` on the list (drawn into the listed arm, or
#: never drawn: no holdout at that scoring, or on a would-be list before it began); ``released`` listed
#: normally after the holdout period.
ARMS = ("listed", "holdout", "released")
#: Columns of a publication's ``holdout.parquet``: every would-be-listed person, their arm and rank, the
#: scoring date (``listed_at``), and the date of their draw (``first_assigned``) and of their holdout
#: period's end (``holdout_until``), both missing for people never drawn.
HOLDOUT_COLUMNS = ("person_id", "neighbourhood", "listed_at", "arm", "rank", "first_assigned", "holdout_until")
#: Columns of the publication history :func:`holdout_history` returns.
HISTORY_COLUMNS = ("person_id", "listed_at", "arm", "first_assigned", "holdout_until")
#: Columns of a publication's ``candidates.parquet``: the ranked candidates around each capacity cut.
CANDIDATE_COLUMNS = ("person_id", "neighbourhood", "listed_at", "rank", "capacity", "would_be_listed", "held_out")
#: Candidates recorded per neighbourhood, as a multiple of its capacity (the cut sits in the middle).
CANDIDATE_DEPTH = 2


def holdout_draw(person_ids: pd.Series, seed: int) -> np.ndarray:
    """Each person's reproducible uniform number in [0, 1): SHA-256 of ``person_id|seed``, first 8 bytes over 2**64."""
    return np.array(
        [int.from_bytes(hashlib.sha256(f"{p}|{seed}".encode()).digest()[:8], "big") / 2.0**64 for p in person_ids.astype(str)],
        dtype=float,
    )


def holdout_months(lists: ListsConfig, feature_config: FeatureConfig | None) -> int:
    """The holdout period in months: ``lists.holdout_months``, else the end of the model's outcome window."""
    if lists.holdout_months is not None:
        return lists.holdout_months
    return (feature_config or FeatureConfig()).outcome_window[1]


def publication_fraction(publication: Publication) -> float:
    """The holdout fraction a publication was scored with (0 when it had none)."""
    return float((publication.metadata.get("holdout") or {}).get("fraction", 0.0))


def _stamps(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[us]")


def publication_record(publication: Publication) -> pd.DataFrame | None:
    """A publication's holdout record as :data:`HISTORY_COLUMNS`; ``None`` when it wrote none.

    Records written before arms were sticky have no ``first_assigned``: each such scoring drew
    afresh, so a row of a publication scored with a holdout counts as a draw on its ``listed_at``
    (period end unknown), and a row of one without as a listing without a draw.
    """
    record = publication.holdout()
    if record is None:
        return None
    if "first_assigned" not in record.columns:
        drawn = publication_fraction(publication) > 0
        record = record.assign(first_assigned=record["listed_at"] if drawn else pd.NaT, holdout_until=pd.NaT)
    return pd.DataFrame({
        "person_id": record["person_id"].astype(str),
        "listed_at": _stamps(record["listed_at"]),
        "arm": record["arm"].astype(str).astype(object),
        "first_assigned": _stamps(record["first_assigned"]),
        "holdout_until": _stamps(record["holdout_until"]),
    }, columns=list(HISTORY_COLUMNS))


def holdout_history(publications: Sequence[Publication]) -> pd.DataFrame:
    """Every publication's holdout record rows (:data:`HISTORY_COLUMNS`), in the order given (oldest first)."""
    records = [r for r in (publication_record(p) for p in publications) if r is not None and len(r)]
    if not records:
        return pd.DataFrame({
            "person_id": pd.Series([], dtype=object), "listed_at": pd.Series([], dtype="datetime64[us]"),
            "arm": pd.Series([], dtype=object), "first_assigned": pd.Series([], dtype="datetime64[us]"),
            "holdout_until": pd.Series([], dtype="datetime64[us]"),
        })
    return pd.concat(records, ignore_index=True)


def first_assignments(history: pd.DataFrame) -> pd.DataFrame:
    """Each drawn person's first assignment in ``history``: ``first_assigned``, ``arm`` and ``holdout_until``, indexed by person_id.

    The earliest ``first_assigned`` wins, then the earliest scoring; between re-runs of one scoring
    date the later publication (``history`` is oldest first), which superseded the earlier. Its
    ``arm`` is the drawn one, ``released`` only when the rows of the draw are gone. Rows are ordered
    by ``first_assigned``, then scoring date, then their order in ``history``.
    """
    when = ["first_assigned", "listed_at"]
    drawn = history.loc[history["first_assigned"].notna()].iloc[::-1]
    drawn = drawn.sort_values(when, kind="stable").drop_duplicates("person_id").sort_index().sort_values(when, kind="stable")
    return drawn.set_index("person_id")[["first_assigned", "arm", "holdout_until"]]


def assign_arms(
    person_ids: pd.Series, as_of: date, history: pd.DataFrame | None, *, fraction: float, seed: int, months: int
) -> pd.DataFrame:
    """Each would-be-listed person's ``arm``, ``first_assigned`` and ``holdout_until`` at ``as_of`` (rows aligned with ``person_ids``).

    Parameters
    ----------
    person_ids
        The people the list policy chose.
    as_of
        The scoring date; only ``history`` rows listed before it count (point in time).
    history
        Earlier publications' holdout records (:func:`holdout_history`); ``None`` = none.
    fraction, seed
        Holdout share and seed of the draw for people new to the would-be lists; ``fraction`` 0 = no holdout.
    months
        Holdout period of new draws; carried assignments keep their recorded ``holdout_until``
        (``first_assigned`` + ``months`` when a record from before sticky arms has none).
    """
    ids = person_ids.astype(str).reset_index(drop=True)
    arm = np.full(len(ids), "listed", dtype=object)
    first = pd.Series(pd.NaT, index=ids.index, dtype="datetime64[us]")
    until = first.copy()
    if fraction > 0 and len(ids):
        stamp = pd.Timestamp(as_of)
        history = history if history is not None else holdout_history(())
        earlier = history.loc[history["listed_at"] < stamp]
        known = first_assignments(earlier).reindex(ids.to_numpy()).reset_index(drop=True)
        carried = known["first_assigned"].notna().to_numpy()
        new = ~ids.isin(earlier["person_id"]).to_numpy()
        end = known["holdout_until"].copy()
        lacking = carried & end.isna().to_numpy()
        end[lacking] = [pd.Timestamp(add_months(d.date(), months)) for d in known.loc[lacking, "first_assigned"]]
        arm[carried] = np.where((stamp < end[carried]).to_numpy(), known.loc[carried, "arm"].to_numpy(), "released")
        first[carried], until[carried] = known.loc[carried, "first_assigned"], end[carried]
        arm[new] = np.where(holdout_draw(ids[new], seed) < fraction, "holdout", "listed")
        first[new], until[new] = stamp, pd.Timestamp(add_months(as_of, months))
    return pd.DataFrame({"arm": arm, "first_assigned": first, "holdout_until": until})


def holdout_record(would_be: pd.DataFrame, assigned: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """``holdout.parquet``: every would-be-listed person (``person_id, neighbourhood, rank``) with ``listed_at`` = ``as_of`` and their assignment.

    ``rank`` is the person's place on the would-be list (before the held-out people were removed);
    ``arm``, ``first_assigned`` and ``holdout_until`` come from :func:`assign_arms` (rows aligned).
    """
    return pd.DataFrame({
        "person_id": would_be["person_id"].astype(str).to_numpy(),
        "neighbourhood": would_be["neighbourhood"].astype(str).to_numpy(),
        "listed_at": pd.Series(pd.Timestamp(as_of), index=range(len(would_be)), dtype="datetime64[us]"),
        "arm": assigned["arm"].to_numpy(dtype=object),
        "rank": would_be["rank"].to_numpy(dtype="int64"),
        "first_assigned": assigned["first_assigned"].to_numpy(dtype="datetime64[us]"),
        "holdout_until": assigned["holdout_until"].to_numpy(dtype="datetime64[us]"),
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
