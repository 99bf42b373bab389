"""``risingrisk train``: fit, evaluate and register a challenger model."""

from __future__ import annotations

from training.train import train_command

__all__ = ["train_command"]
