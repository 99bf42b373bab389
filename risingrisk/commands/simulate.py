"""``risingrisk simulate``: a synthetic population in the data contract."""

from __future__ import annotations

from features.simulation import simulate_command

__all__ = ["simulate_command"]
