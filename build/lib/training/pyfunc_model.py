"""MLflow models-from-code entry point: the pyfunc wrapper logged with every registered risk model (no pickled objects)."""

import mlflow

from training.registry import RiskPyfunc

__all__: list[str] = []

mlflow.models.set_model(RiskPyfunc())
