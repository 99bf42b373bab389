"""Exceptions raised by the estimators: bad predictor frames and unknown calibration methods."""

__all__ = ["ModelError", "PredictorFrameError", "MissingPredictorError", "CalibrationMethodError"]


class ModelError(ValueError):
    """An estimator cannot fit or predict with the input given; the message names the fix."""


class PredictorFrameError(ModelError, TypeError):
    """The predictors were not given as a pandas DataFrame with named columns."""


class MissingPredictorError(ModelError, KeyError):
    """A predictor column an estimator needs is absent from the frame."""

    def __str__(self) -> str:
        # KeyError quotes its message; show it as written.
        return str(self.args[0]) if self.args else ""


class CalibrationMethodError(ModelError):
    """A calibration method the model does not know was asked for (or stored)."""
