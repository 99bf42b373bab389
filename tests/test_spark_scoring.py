"""Batch scoring on Spark gives the pandas scorer's calibrated probabilities for the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import build_features as duckdb_features
from features.definitions import predictor_names
from features.config import FeatureConfig
from features.engines.spark import feature_dataframe
from features.simulation import simulate
from models.risk_model import RiskModel
from serving.errors import ScoringError
from serving.spark_scoring import model_from_payload, model_payload, score_dataframe
from spark_support import start_or_skip

TRAIN_AS_OF, CALIBRATE_AS_OF, SCORE_AS_OF = date(2022, 10, 1), date(2023, 1, 1), date(2024, 12, 1)


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    yield start_or_skip()


def tiny_model(X: pd.DataFrame, y: np.ndarray, X_cal: pd.DataFrame, y_cal: np.ndarray, method: str) -> RiskModel:
    model = RiskModel(n_estimators=40, early_stopping_rounds=10, min_child_samples=20, learning_rate=0.2, n_jobs=1)
    return model.fit(X, y, X_valid=X_cal, y_valid=y_cal).calibrate(X_cal, y_cal, method=method)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spark_score") / "data"
    simulate(people=3_000, seed=2077, out=out, start=date(2021, 1, 1), end=date(2025, 1, 1))
    return out


def test_the_model_payload_rebuilds_a_model_with_the_same_probabilities():
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.integers(0, 5, size=600).astype(float)})
    y = (X["a"] + rng.normal(size=600) > 0.5).astype(int).to_numpy()
    model = tiny_model(X[:400], y[:400], X[400:], y[400:], "platt")
    rebuilt = model_from_payload(model_payload(model))
    assert np.array_equal(rebuilt.predict_proba(X), model.predict_proba(X))


@pytest.mark.spark
@pytest.mark.slow
def test_spark_scores_of_spark_features_equal_pandas_scores_of_duckdb_features(spark, population):
    config = FeatureConfig()
    names = predictor_names(config)
    train = duckdb_features(population, as_of=[TRAIN_AS_OF, CALIBRATE_AS_OF], labels=True, config=config)
    train = train[train["in_cohort"] & train[config.label_column].notna()]
    fit, cal = train[train["as_of"] == pd.Timestamp(TRAIN_AS_OF)], train[train["as_of"] == pd.Timestamp(CALIBRATE_AS_OF)]
    model = tiny_model(fit[names], fit[config.label_column].to_numpy(int), cal[names], cal[config.label_column].to_numpy(int), "isotonic")

    cohort = feature_dataframe(spark, population, as_of=SCORE_AS_OF, config=config).where("excluded_reason IS NULL")
    on_spark = score_dataframe(cohort, model).toPandas().sort_values("person_id").reset_index(drop=True)

    table = duckdb_features(population, as_of=SCORE_AS_OF, config=config)
    table = table[table["in_cohort"]].sort_values("person_id").reset_index(drop=True)
    log_odds = model.predict_log_odds(table)
    assert on_spark["person_id"].tolist() == table["person_id"].astype(str).tolist()
    assert list(on_spark.columns) == ["person_id", "as_of", "log_odds", "score"]
    assert np.abs(on_spark["log_odds"].to_numpy() - log_odds).max() <= 1e-12
    assert np.abs(on_spark["score"].to_numpy() - model.probability(log_odds)).max() <= 1e-12
    assert on_spark["score"].nunique() > 1


@pytest.mark.spark
@pytest.mark.slow
def test_spark_scoring_turns_text_columns_into_the_model_categories_and_keeps_missing_values(spark):
    rng = np.random.default_rng(11)
    n = 800
    frame = pd.DataFrame({
        "person_id": [f"Q{i:04d}" for i in range(n)],
        "visits": np.where(rng.random(n) < 0.2, np.nan, rng.poisson(2, n).astype(float)),
        "area": pd.Categorical(rng.choice(["north", "south", "east"], n)),
    })
    y = ((frame["visits"].fillna(0) > 2) | (frame["area"] == "south")).astype(int).to_numpy()
    model = tiny_model(frame[["visits", "area"]][:500], y[:500], frame[["visits", "area"]][500:], y[500:], "platt")
    rows = spark.createDataFrame(frame.assign(area=frame["area"].astype(str)), schema="person_id STRING, visits DOUBLE, area STRING")
    scored = score_dataframe(rows, model, keep=["person_id"]).toPandas().sort_values("person_id").reset_index(drop=True)
    expected = model.predict_proba(frame[["visits", "area"]])[:, 1]
    assert np.abs(scored["score"].to_numpy() - expected).max() <= 1e-12
    assert scored["score"].nunique() > 2


@pytest.mark.spark
@pytest.mark.slow
def test_scoring_a_table_without_a_model_feature_names_it(spark):
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X["a"] > 0).astype(int).to_numpy()
    model = tiny_model(X[:200], y[:200], X[200:], y[200:], "platt")
    rows = spark.createDataFrame(pd.DataFrame({"person_id": ["P1"], "a": [0.5]}))
    with pytest.raises(ScoringError, match=r"missing \['b'\]"):
        score_dataframe(rows, model, keep=["person_id"])
