"""``risingrisk promote``: make a challenger the champion when it is at least as good."""

from __future__ import annotations

from training.promote import promote_command

__all__ = ["promote_command"]
