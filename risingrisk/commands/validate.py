"""``risingrisk validate``: check an extract against the data contract, quarantining bad rows with reasons."""

from __future__ import annotations

from features.validate import validate_command

__all__ = ["validate_command"]
