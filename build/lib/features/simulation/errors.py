"""Exceptions raised when the simulator is asked for something it cannot produce."""

__all__ = ["SimulationError"]


class SimulationError(ValueError):
    """Simulator arguments are invalid; the message names the fix."""
