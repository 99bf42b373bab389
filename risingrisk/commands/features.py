"""``risingrisk features``: point-in-time predictors, cohort and labels as a Parquet table."""

from __future__ import annotations

from features.command import features_command

__all__ = ["features_command"]
