"""Staleness: how old the current publication's data are against the refresh interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from features.dates import to_date
from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig
from serving.publish import Publication

__all__ = ["Staleness", "check_staleness", "publication_date"]


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


def check_staleness(publication: Publication | None, today: date, config: MonitorConfig) -> tuple[Staleness | None, list[Alert]]:
    """Age of ``publication`` on ``today``; a ``stale`` warning when older than ``config.refresh_days``."""
    if publication is None:
        return None, []
    as_of = publication_date(publication)
    age = (today - as_of).days
    result = Staleness(publication.id, as_of, age, config.refresh_days, age > config.refresh_days)
    alerts = []
    if result.stale:
        alerts.append(Alert(
            "stale", publication.id, "warning",
            f"the current lists ({publication.id}) are from data as of {as_of}, {age} days ago; the refresh interval "
            f"is {config.refresh_days} days. Scores lose discrimination as they age: score a fresh extract.",
        ))
    return result, alerts
