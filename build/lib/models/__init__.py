"""Estimators: the LightGBM risk model, the incumbent baselines and model explanation."""
