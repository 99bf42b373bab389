"""A per-token summary of the audit log for a period: lookups on and off the lists, refusals, and warnings of enumeration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select

from features.database.tables import AuditRecord
from serving.audit import AuditLog

__all__ = ["AuditSummary", "TokenActivity", "summarise_audit"]

_AUDIT = AuditRecord.__table__
#: Endpoint templates of person lookups (explanations and person pages), as the audit log names them.
_PERSON_ENDPOINTS = ("{person_id}",)


@dataclass(frozen=True)
class TokenActivity:
    """What one token did in the period."""

    token_id: str
    requests: int
    person_lookups: int
    outside_list: int
    not_found: int
    refused: int
    rate_limited: int


@dataclass(frozen=True)
class AuditSummary:
    """Activity per token (busiest first) between ``since`` and ``until``, and the warnings to act on."""

    since: datetime | None
    until: datetime
    tokens: list[TokenActivity]
    warnings: list[str]


def summarise_audit(
    audit: AuditLog, *, since: datetime | None = None, until: datetime | None = None, not_found_warning: int = 20
) -> AuditSummary:
    """Summarise the audit log per token; warn about repeated 404 person lookups and rate limiting.

    Parameters
    ----------
    audit
        The audit log.
    since, until
        The period (UTC; ``since`` None: from the first entry; ``until`` None: now).
    not_found_warning
        Person lookups answered 404 from one token in the period that raise a warning (ids that do
        not exist, live elsewhere or are not on its lists: what enumeration looks like).
    """
    end = until or datetime.now(timezone.utc)
    query = select(_AUDIT.c.token_id, _AUDIT.c.endpoint, _AUDIT.c.status, _AUDIT.c.detail).where(_AUDIT.c.time <= end)
    if since is not None:
        query = query.where(_AUDIT.c.time >= since)
    counts: dict[str, dict[str, int]] = {}
    with audit.engine.connect() as connection:
        for token_id, endpoint, status, detail in connection.execute(query):
            c = counts.setdefault(token_id, dict.fromkeys(("requests", "person", "outside", "not_found", "refused", "limited"), 0))
            person = any(part in endpoint for part in _PERSON_ENDPOINTS)
            c["requests"] += 1
            c["person"] += person
            c["outside"] += person and isinstance(detail, dict) and detail.get("lookup") == "outside_list"
            c["not_found"] += person and status == 404
            c["refused"] += 400 <= status < 500
            c["limited"] += status == 429
    tokens = sorted(
        (TokenActivity(t, c["requests"], c["person"], c["outside"], c["not_found"], c["refused"], c["limited"]) for t, c in counts.items()),
        key=lambda a: (-a.requests, a.token_id),
    )
    warnings = []
    for a in tokens:
        if a.not_found >= not_found_warning:
            warnings.append(
                f"token {a.token_id}: {a.not_found} person lookups answered 404 (not existing, elsewhere or not on its lists) — "
                "possible enumeration; ask the team why, and revoke the token if it cannot say"
            )
        if a.rate_limited:
            warnings.append(f"token {a.token_id}: rate limited {a.rate_limited} times — check what is calling the service this fast")
    return AuditSummary(since=since, until=end, tokens=tokens, warnings=warnings)
