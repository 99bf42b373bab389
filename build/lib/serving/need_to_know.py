"""Need-to-know: which people a token may open (its current or recent lists, its caseload) and how a lookup is audited."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from features.caseload import current_status
from serving.auth import Principal
from serving.publish import list_publications
from serving.security_config import SecurityConfig
from serving.store import PersonRecord

__all__ = ["Lookup", "decide_lookup", "recently_listed"]


@dataclass(frozen=True)
class Lookup:
    """The decision on one person lookup: allowed or not, and why (an audit code, never free text).

    Allowed reasons: ``phm`` (PHM scope), ``listed`` (on the current list), ``recently_listed``,
    ``caseload``, ``outside_list`` (a neighbourhood resident opened under ``lookup="neighbourhood"``).
    Refusals: ``not_found``, ``out_of_scope`` (another neighbourhood), ``not_listed`` (need-to-know).
    """

    allowed: bool
    reason: str

    def audit_detail(self, requested: str) -> dict[str, str]:
        """What the audit entry records: the lookup's reason, and the id asked for when refused."""
        if self.allowed:
            return {"lookup": self.reason}
        return {"refused": self.reason, "requested_person_id": requested}


@functools.lru_cache(maxsize=8)
def recently_listed(publications: Path, current_id: str, recent: int) -> dict[str, frozenset[str]]:
    """Person id -> neighbourhoods whose lists held them in the ``recent`` publications before ``current_id``."""
    if recent <= 0:
        return {}
    published = list_publications(publications)
    ids = [p.id for p in published]
    before = published[: ids.index(current_id)] if current_id in ids else published
    found: dict[str, set[str]] = {}
    for publication in before[-recent:]:
        lists = publication.lists()
        for person_id, neighbourhood in zip(lists["person_id"].astype(str), lists["neighbourhood"].astype(str)):
            found.setdefault(person_id, set()).add(neighbourhood)
    return {person_id: frozenset(names) for person_id, names in found.items()}


def decide_lookup(
    principal: Principal,
    record: PersonRecord | None,
    *,
    publications: Path,
    publication_id: str,
    database: Engine,
    config: SecurityConfig,
) -> Lookup:
    """Whether ``principal`` may open ``record``'s explanation and timeline, and the reason to audit.

    Parameters
    ----------
    principal
        Who asks.
    record
        The person in the current publication (None: no such person).
    publications
        The publications folder (recent lists are read from it once per publication).
    publication_id
        The current publication.
    database
        The database holding caseload actions.
    config
        ``lookup`` (``listed`` or ``neighbourhood``) and ``recent_publications``.
    """
    if record is None or record.neighbourhood is None:
        return Lookup(False, "not_found")
    if principal.neighbourhoods is None:
        return Lookup(True, "phm")
    if not principal.may_see(record.neighbourhood):
        return Lookup(False, "out_of_scope")
    if record.list_rank is not None:
        return Lookup(True, "listed")
    listed_before = recently_listed(publications, publication_id, config.recent_publications).get(record.person_id, frozenset())
    if listed_before & principal.neighbourhoods:
        return Lookup(True, "recently_listed")
    status = current_status(database, record.person_id)
    if status is not None and status.neighbourhood in principal.neighbourhoods:
        return Lookup(True, "caseload")
    if config.lookup == "neighbourhood":
        return Lookup(True, "outside_list")
    return Lookup(False, "not_listed")
