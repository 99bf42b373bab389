"""Staleness: how old the current publication's data are against the refresh interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from features.dates import to_date
from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig
from serving.publish import Publication

__all__ = ["Staleness", "check_staleness", "publication_date", "staleness_of"]


@dataclass(frozen=True)
class Staleness:
    """The current publication, the date its data are as of, its age in days and whether it is stale."""

    publication_id: str
    as_of: date
    age_days: int
    refresh_days: int
    stale: bool


def publication_date(publication: Publication) -> date:
    """The date a publication's data are as of (``as_of`` metadata, else its creation date)."""
    meta = publication.metadata
    return to_date(meta.get("as_of") or meta["created_at"])


def staleness_of(publication_id: str, as_of: date, today: date, refresh_days: int) -> Staleness:
    """Age on ``today`` of lists whose data are as of ``as_of``; stale when older than ``refresh_days``."""
    age = (today - as_of).days
    return Staleness(publication_id, as_of, age, refresh_days, age > refresh_days)


def check_staleness(publication: Publication | None, today: date, config: MonitorConfig) -> tuple[Staleness | None, list[Alert]]:
    """Age of ``publication`` on ``today``; a ``stale`` warning when older than ``config.refresh_days``."""
    if publication is None:
        return None, []
    result = staleness_of(publication.id, publication_date(publication), today, config.refresh_days)
    as_of, age = result.as_of, result.age_days
    alerts = []
    if result.stale:
        alerts.append(Alert(
            "stale", publication.id, "warning",
            f"the current lists ({publication.id}) are from data as of {as_of}, {age} days ago; the refresh interval "
            f"is {config.refresh_days} days. Scores lose discrimination as they age: score a fresh extract.",
        ))
    return result, alerts
