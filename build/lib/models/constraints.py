"""Monotone constraints from the predictor declarations: each predictor's clinical direction as LightGBM's +1 / -1 / 0."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from features.definitions import FeatureSpec

__all__ = ["DIRECTION_SIGN", "monotone_directions", "constraint_vector"]

#: Declared direction -> LightGBM monotone constraint (+1 non-decreasing, -1 non-increasing, 0 free).
DIRECTION_SIGN: dict[str, int] = {"raises": 1, "lowers": -1, "either": 0}


def monotone_directions(specs: Mapping[str, FeatureSpec]) -> dict[str, int]:
    """Each declared predictor's constraint sign, from its ``direction`` (``raises`` → +1, ``lowers`` → −1, ``either`` → 0)."""
    return {name: DIRECTION_SIGN[spec.direction] for name, spec in specs.items()}


def constraint_vector(columns: Sequence[str], directions: Mapping[str, int]) -> list[int]:
    """LightGBM's ``monotone_constraints`` for ``columns`` in order; a column without a declared direction is free (0)."""
    return [int(directions.get(name, 0)) for name in columns]
