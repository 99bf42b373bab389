"""Exceptions raised by the impact evaluation."""

from training.errors import TrainingError

__all__ = ["ImpactError"]


class ImpactError(TrainingError):
    """The impact evaluation cannot run with the given data or settings; the message names the fix."""
