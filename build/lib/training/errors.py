"""Exceptions raised by training, evaluation, the model registry and promotion."""

from features.errors import ConfigError as FeatureLayerConfigError

__all__ = ["TrainingError", "ConfigError", "SplitError", "ModelNotFoundError", "PromotionError"]


class TrainingError(ValueError):
    """Training cannot proceed with the given data or settings; the message names the fix."""


class ConfigError(TrainingError, FeatureLayerConfigError):
    """An experiment config value is missing, unknown or out of range (also a ``features.errors.ConfigError``)."""


class SplitError(TrainingError):
    """The out-of-time split cannot be made (too little history, no labels, empty slices)."""


class ModelNotFoundError(LookupError):
    """No registered model (or alias) exists in the MLflow registry."""


class PromotionError(RuntimeError):
    """Promotion could not be evaluated (e.g. the challenger run lacks its metrics)."""
