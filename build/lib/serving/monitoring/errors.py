"""Exceptions raised by the monitoring checks and their report."""

from __future__ import annotations

__all__ = ["MonitoringError", "MonitorInputError"]


class MonitoringError(Exception):
    """Base class for monitoring errors; the message names the fix."""


class MonitorInputError(MonitoringError, ValueError):
    """An input to a monitoring check is unusable (e.g. a reference frame without the scored features)."""
