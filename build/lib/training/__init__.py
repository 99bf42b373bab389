"""Out-of-time training, calibration, evaluation, equity audit, model card and MLflow registry."""
