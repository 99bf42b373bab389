"""Exceptions raised by batch scoring, list publication and the service."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from features.errors import ConfigError

__all__ = ["ServingError", "CapacityError", "CapacityConfigError", "ScoreConfigError", "PublicationError", "PublicationNotFoundError", "PublicationRefusedError", "OlderThanCurrentError", "ScoringError", "SessionError", "TokenError"]


class ServingError(Exception):
    """Base class for serving-stage errors; the message names the fix."""


class CapacityError(ServingError, ValueError):
    """A capacity rule or its inputs are invalid (e.g. a negative list size)."""


class CapacityConfigError(CapacityError, ConfigError):
    """A capacity setting (``[capacity]`` table, ``--capacity-*`` option) is unknown or out of range; the message names the key."""


class ScoringError(ServingError, ValueError):
    """The feature table cannot be scored by the model (e.g. a model feature is missing)."""


class ScoreConfigError(ScoringError, ConfigError):
    """A scoring setting (risk bands, reasons kept, timeline length) is unknown or out of range; the message names the key."""


class PublicationError(ServingError, OSError):
    """A publication could not be written or its files do not follow the publication layout."""


class PublicationNotFoundError(ServingError, LookupError):
    """No publication exists where one was asked for."""


class OlderThanCurrentError(ServingError, ValueError):
    """A scoring date earlier than the current lists' would replace them with older data; the message names ``--out`` for a backtest."""


class TokenError(ServingError, ValueError):
    """An access token cannot be created, revoked or read (bad scope, unknown id, unreadable token file)."""


class SessionError(ServingError, ValueError):
    """The pages' session machinery cannot work (e.g. an unreadable signing key in the home)."""


class PublicationRefusedError(ServingError, RuntimeError):
    """A critical monitoring alert, not accepted, stopped a publication; the current lists stay served.

    ``alerts`` are the blocking alerts (``serving.monitoring.Alert``); ``report`` the ``monitor.json`` written.
    """

    def __init__(self, message: str, *, alerts: Sequence[Any], report: Path | None) -> None:
        super().__init__(message)
        self.alerts = list(alerts)
        self.report = report
