"""Alerts: what went wrong, about what, and how bad, as written to monitor.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["KINDS", "SEVERITIES", "Alert", "AlertKind", "Severity"]

AlertKind = Literal[
    "short_history", "feed_drop", "unmapped_codes", "recording_lag", "feature_drift", "score_drift", "calibration_drift", "stale"
]
Severity = Literal["critical", "warning"]
#: Every alert kind, in the order the report lists them.
KINDS: tuple[str, ...] = (
    "short_history", "feed_drop", "unmapped_codes", "recording_lag", "feature_drift", "score_drift", "calibration_drift", "stale"
)
SEVERITIES: tuple[str, ...] = ("critical", "warning")


@dataclass(frozen=True)
class Alert:
    """One alert; ``subject`` names the setting, code, category, feature or publication it is about."""

    kind: AlertKind
    subject: str
    severity: Severity
    message: str

    @property
    def key(self) -> str:
        """``KIND:SUBJECT``, the form an operator uses to accept an alert."""
        return f"{self.kind}:{self.subject}"

    def to_dict(self) -> dict[str, str]:
        """The JSON object written under ``alerts``."""
        return asdict(self)
