"""The engine choice: DuckDB by default, Spark on request, the same lists from either, and exit 2 naming the fix when Spark cannot start."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.build import build_features
from features.config import FeatureConfig
from features.definitions import predictor_names
from features.engines import DuckDBEngine, SparkEngine, engine_named
from features.engines.spark_session import SparkSettings
from features.errors import FeatureConfigError
from features.simulation import simulate
from models.risk_model import RiskModel
from risingrisk.cli import app
from serving.scoring_run import score_and_publish
from spark_support import TEST_SETTINGS, start_or_skip

FIT_AS_OF, CALIBRATE_AS_OF, SCORE_AS_OF = date(2022, 10, 1), date(2023, 1, 1), date(2024, 12, 1)
NO_PYSPARK = r"pyspark must be installed to use the Spark engine; .* Install it with pip install -e '\.\[spark\]'"


def test_engine_named_gives_duckdb_by_default_and_spark_with_the_given_master():
    assert engine_named("duckdb") == DuckDBEngine()
    settings = SparkSettings(master="local[*]", driver_memory="2g")
    spark = engine_named("spark", spark=settings, master="local[3]")
    assert isinstance(spark, SparkEngine)
    assert (spark.settings.master, spark.settings.driver_memory, spark.name) == ("local[3]", "2g", "spark")
    assert engine_named("spark", spark=settings).settings == settings


def test_an_unknown_engine_or_a_master_without_spark_is_refused_with_the_fix():
    with pytest.raises(FeatureConfigError, match=r"engine must be one of \['duckdb', 'spark'\]; got 'polars'"):
        engine_named("polars")
    with pytest.raises(FeatureConfigError, match="a Spark master must only be given with the Spark engine; got 'local\\[2\\]' with duckdb"):
        engine_named("duckdb", master="local[2]")


@pytest.fixture
def without_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)


@pytest.mark.parametrize(
    "arguments",
    [
        ["features", "--out", "{tmp}/f.parquet"],
        ["train"],
        ["score"],
    ],
    ids=["features", "train", "score"],
)
def test_commands_on_spark_without_pyspark_exit_2_naming_what_to_install(without_pyspark, tmp_path, arguments):
    args = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = CliRunner().invoke(app, [*args, "--data", str(tmp_path / "data"), "--engine", "spark", "--home", str(tmp_path / "home")]
                                if args[0] != "features" else [*args, "--data", str(tmp_path / "data"), "--engine", "spark"])
    assert result.exit_code == 2, result.output
    assert "pyspark must be installed to use the Spark engine" in result.output
    assert "pip install -e '.[spark]'" in " ".join(result.output.split())
    assert not (tmp_path / "f.parquet").exists()


def test_a_spark_master_with_the_duckdb_engine_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["features", "--data", str(tmp_path), "--out", str(tmp_path / "f.parquet"), "--spark-master", "local[2]"])
    assert result.exit_code == 2
    assert "a Spark master must only be given with the Spark engine" in " ".join(result.output.split())


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    yield start_or_skip()


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("engine_score") / "data"
    simulate(people=2_500, seed=3141, out=out, start=date(2021, 1, 1), end=date(2025, 1, 1))
    return out


def _model(population: Path, config: FeatureConfig) -> RiskModel:
    names = predictor_names(config)
    rows = build_features(population, as_of=[FIT_AS_OF, CALIBRATE_AS_OF], labels=True, config=config)
    rows = rows[rows["in_cohort"] & rows[config.label_column].notna()]
    fit, cal = rows[rows["as_of"] == pd.Timestamp(FIT_AS_OF)], rows[rows["as_of"] == pd.Timestamp(CALIBRATE_AS_OF)]
    y = lambda frame: frame[config.label_column].to_numpy(int)  # noqa: E731
    model = RiskModel(n_estimators=40, early_stopping_rounds=10, min_child_samples=20, learning_rate=0.2, n_jobs=1)
    return model.fit(fit[names], y(fit), X_valid=cal[names], y_valid=y(cal)).calibrate(cal[names], y(cal), method="platt")


@pytest.mark.spark
@pytest.mark.slow
def test_a_scoring_run_on_spark_publishes_the_lists_duckdb_publishes(spark, population, tmp_path):
    config = FeatureConfig()
    model = _model(population, config)
    clock = lambda: datetime(2025, 1, 2, 9, 0, tzinfo=timezone.utc)  # noqa: E731
    runs = {
        name: score_and_publish(
            population, model, feature_config=config, as_of=SCORE_AS_OF, where=tmp_path / name, clock=clock,
            database=f"sqlite:///{tmp_path / 'caseload.db'}", engine=engine,
        )
        for name, engine in [("duckdb", DuckDBEngine()), ("spark", SparkEngine(TEST_SETTINGS))]
    }
    duck, on_spark = (runs[k].publication for k in ("duckdb", "spark"))
    left, right = on_spark.lists(), duck.lists()
    assert len(right) > 0 and right["neighbourhood"].nunique() > 1
    assert left[["neighbourhood", "rank", "person_id", "risk_band", "is_new"]].equals(right[["neighbourhood", "rank", "person_id", "risk_band", "is_new"]])
    assert np.abs(left["score"].to_numpy() - right["score"].to_numpy()).max() <= 1e-12
    assert left["reasons"].tolist() == right["reasons"].tolist()
    population_left, population_right = on_spark.population(), duck.population()
    assert population_left["person_id"].tolist() == population_right["person_id"].tolist()
    assert np.allclose(population_left["score"], population_right["score"], rtol=0, atol=1e-12, equal_nan=True)
    assert population_left["excluded_reason"].equals(population_right["excluded_reason"])
    assert on_spark.metadata["capacity"] == duck.metadata["capacity"]
    assert on_spark.metadata["rows_scored"] == duck.metadata["rows_scored"] > 0
