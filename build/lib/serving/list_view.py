"""What the list page shows: risk as "12 in 100", bands as multiples of the average risk, sorting and filtering from query parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from features.caseload import PersonStatus

__all__ = ["SORTS", "ListQuery", "band_of", "band_labels", "in_100", "list_query", "select_people", "with_statuses"]

#: Sort keys the list page accepts (query parameter ``sort``) -> what they sort by.
SORTS: dict[str, str] = {"rank": "Rank (highest risk first)", "age": "Age", "practice": "Practice", "status": "Status"}
#: Status filter value for people with no recorded action.
NO_ACTION = "none"


def in_100(score: float) -> str:
    """A probability as a natural frequency: 0.123 -> "12 in 100"; below 0.5 % -> "fewer than 1 in 100"."""
    n = round(score * 100)
    return "fewer than 1 in 100" if n < 1 else f"{n} in 100"


def band_labels(multiples: Sequence[float]) -> list[str]:
    """Band names for thresholds ``multiples`` of the average risk: ``[2, 5]`` -> under 2×, 2–5×, 5× or more."""
    cuts = [f"{m:g}" for m in multiples]
    labels = [f"under {cuts[0]}× average"]
    labels += [f"{lo}–{hi}× average" for lo, hi in zip(cuts, cuts[1:])]
    return labels + [f"{cuts[-1]}× average or more"]


def band_of(score: float, average: float, multiples: Sequence[float]) -> str:
    """The band of ``score``: how many times the population's ``average`` risk it is, cut at ``multiples``."""
    labels = band_labels(multiples)
    ratio = score / average if average > 0 else float("inf")
    return labels[sum(ratio >= m for m in multiples)]


@dataclass(frozen=True)
class ListQuery:
    """The list page's query: sort key, order, and filters (None = all)."""

    sort: str = "rank"
    descending: bool = False
    status: str | None = None
    band: str | None = None
    practice: str | None = None
    new_only: bool = False


def list_query(params: Mapping[str, str], bands: Sequence[str]) -> ListQuery:
    """The query of the list page's parameters; unknown values fall back to the defaults (a page never fails on them)."""
    sort = params.get("sort", "rank")
    band = params.get("band") or None
    return ListQuery(
        sort=sort if sort in SORTS else "rank",
        descending=params.get("order") == "desc",
        status=(params.get("status") or None),
        band=band if band in bands else None,
        practice=params.get("practice") or None,
        new_only=params.get("new") == "1",
    )


def _key(person: Mapping[str, Any], sort: str) -> tuple[Any, ...]:
    return (person[sort], person["rank"])


def select_people(people: Sequence[Mapping[str, Any]], query: ListQuery) -> list[Mapping[str, Any]]:
    """The entries of ``people`` (with ``status`` and ``band``) that pass ``query``'s filters, in its order (missing values last)."""
    chosen = [
        p for p in people
        if (query.status is None or (p.get("status") or NO_ACTION) == query.status)
        and (query.band is None or p.get("band") == query.band)
        and (query.practice is None or p.get("practice") == query.practice)
        and (not query.new_only or p.get("is_new"))
    ]
    present = [p for p in chosen if query.sort == "rank" or p.get(query.sort) is not None]
    missing = [p for p in chosen if not (query.sort == "rank" or p.get(query.sort) is not None)]
    present.sort(key=lambda p: _key(p, query.sort), reverse=query.descending)
    return present + sorted(missing, key=lambda p: p["rank"])


def with_statuses(people: Sequence[Mapping[str, Any]], current: Mapping[str, PersonStatus]) -> list[dict[str, Any]]:
    """List entries with the caseload's current status (the latest action now) instead of the status at publication."""
    out = []
    for p in people:
        now = current.get(p["person_id"])
        if now is None:
            out.append(dict(p))
        else:
            out.append({**p, "status": now.status, "previously_declined": bool(p.get("previously_declined")) or now.previously_declined})
    return out
