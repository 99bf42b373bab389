"""The publication gate's rule: critical alerts block a publication unless accepted as ``KIND:SUBJECT``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from serving.monitoring.alerts import KINDS, Alert
from serving.monitoring.errors import MonitorInputError

__all__ = ["GateDecision", "parse_acceptance", "decide"]


@dataclass(frozen=True)
class GateDecision:
    """Whether to publish: the critical alerts still blocking, those accepted, and acceptances that matched nothing."""

    blocking: list[Alert]
    accepted: list[Alert]
    unmatched: list[str]
    accepted_by: str | None = None
    decided_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def allowed(self) -> bool:
        """True when no critical alert is left unaccepted."""
        return not self.blocking

    def metadata(self) -> dict[str, Any]:
        """What to record in the publication metadata: who accepted which alerts, and when."""
        return {
            "accepted_alerts": [a.to_dict() for a in self.accepted],
            "accepted_by": self.accepted_by,
            "accepted_at": self.decided_at.isoformat() if self.accepted else None,
        }


def parse_acceptance(text: str) -> tuple[str, str]:
    """``"KIND:SUBJECT"`` to ``(kind, subject)``.

    Raises
    ------
    MonitorInputError
        If the kind is not an alert kind or the subject is empty.
    """
    kind, _, subject = text.partition(":")
    if kind not in KINDS or not subject:
        raise MonitorInputError(
            f"an accepted alert must be KIND:SUBJECT with KIND one of {list(KINDS)}; got {text!r}. "
            "Copy it from the alert, e.g. feed_drop:nhs111."
        )
    return kind, subject


def decide(alerts: Sequence[Alert], accept: Sequence[str] = (), *, accepted_by: str | None = None) -> GateDecision:
    """Split the critical ``alerts`` into blocking and accepted ones by the ``KIND:SUBJECT`` strings in ``accept``."""
    wanted = [parse_acceptance(text) for text in accept]
    critical = [a for a in alerts if a.severity == "critical"]
    accepted = [a for a in critical if (a.kind, a.subject) in wanted]
    matched = {(a.kind, a.subject) for a in accepted}
    return GateDecision(
        blocking=[a for a in critical if (a.kind, a.subject) not in matched],
        accepted=accepted,
        unmatched=[f"{k}:{s}" for k, s in wanted if (k, s) not in matched],
        accepted_by=accepted_by,
    )
