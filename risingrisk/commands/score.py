"""``risingrisk score``: score the population and publish neighbourhood lists."""

from __future__ import annotations

from serving.score import score_command

__all__ = ["score_command"]
