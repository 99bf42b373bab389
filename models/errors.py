"""Exceptions raised by the model floor (fitting, calibrating and explaining risk models)."""

__all__ = ["ModelError", "MissingFeatureError"]


class ModelError(ValueError):
    """A model cannot be used as asked; the message names the fix."""


class MissingFeatureError(ModelError, KeyError):
    """Rows passed to a model lack one of its features.

    ``KeyError`` quotes its message with ``repr``; ``__str__`` gives the plain sentence instead.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
