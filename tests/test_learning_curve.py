"""The learning curve: person-level samples of the training slice only, every size scored on the same out-of-time rows, logged to MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.home import home
from risingrisk.cli import app
from risingrisk.commands.learning_curve import parse_sizes
from training.config import ExperimentConfig
from training.errors import TrainingError
from training.learning_curve import ARTIFACT_DIR, LearningCurve, learning_curve, people_sample, training_sample, training_sizes
from training.tracking import client
from unseen_support import hand_data, hand_frame

SMALL = {
    "name": "curve",
    "split": {"train_step_months": 1, "n_train_dates": 2},
    "model": {"n_estimators": 40, "learning_rate": 0.1, "early_stopping_rounds": 10, "min_child_samples": 50},
    "calibration": {"folds": 3},
}


def test_a_person_sample_takes_whole_people_and_each_smaller_sample_sits_inside_the_larger():
    persons = np.array(["a", "b", "b", "c", "c", "c", "d", "e", "e", "f"], dtype=object)
    rows = np.arange(len(persons))
    samples = {size: people_sample(persons, rows, size, seed=3) for size in (1, 3, 6, 9)}
    for size, chosen in samples.items():
        people = set(persons[chosen])
        assert sorted(chosen) == [r for r in rows if persons[r] in people]  # whole people only
        assert len(chosen) >= size
        assert len(chosen) - max(np.unique(persons, return_counts=True)[1]) < size  # stops at the first person past size
    assert set(samples[1]) <= set(samples[3]) <= set(samples[6]) <= set(samples[9])
    assert people_sample(persons, rows[2:], None, seed=3).tolist() == list(range(2, 10))


def test_no_person_in_any_training_sample_is_in_the_evaluation_or_calibration_rows():
    data, config = hand_data(hand_frame())
    evaluated, calibrating = set(data.persons[data.rows["evaluate"]]), set(data.persons[data.rows["calibrate"]])
    everyone = set(data.frame["person_id"])
    assert len(everyone) == 2400 and (len(evaluated), len(calibrating)) == (576, 411)
    at_training_dates = set(data.frame.loc[data.frame["as_of"] < pd.Timestamp("2021-06-01"), "person_id"])
    assert evaluated <= at_training_dates  # they have labelled rows at training dates too: only the split keeps them out of the samples
    pool = len(data.rows["fit"]) + len(data.rows["early_stop"])
    plan = training_sizes([500, 1000, 2000], pool)
    assert plan == [500, 1000, 2000, None]
    for size in plan:
        sampled = set(data.persons[training_sample(data, size, config.split.seed)])
        assert sampled and not sampled & evaluated and not sampled & calibrating
    assert len(set(data.persons[training_sample(data, None, config.split.seed)])) == 1119 + 294  # all training people: fit and early stopping


def test_training_sizes_keep_those_below_the_rows_available_in_order_then_all():
    assert training_sizes([50_000, 25_000, 25_000, 10**9], 60_000) == [25_000, 50_000, None]
    assert training_sizes(None, 30_000) == [25_000, None]
    assert training_sizes([100], 50) == [None]
    with pytest.raises(TrainingError, match=r"sizes must be positive whole numbers of training rows; got \[0\]"):
        training_sizes([0, 10], 50)


def test_sizes_are_read_with_thousands_and_millions_and_bad_ones_exit_2():
    assert parse_sizes("25000, 50k,1m,2_000") == [25_000, 50_000, 1_000_000, 2_000]
    assert parse_sizes(None) is None
    result = CliRunner().invoke(app, ["learning-curve", "--data", ".", "--sizes", "25000,lots"])
    assert result.exit_code == 2
    assert "sizes must be whole numbers of rows separated by commas; got 'lots'" in " ".join(result.output.replace("│", " ").split())


@pytest.fixture(scope="module")
def curve(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[LearningCurve, Path]:
    root = tmp_path_factory.mktemp("curve_home")
    reported: list[tuple[str, int, int]] = []
    result = learning_curve(sim_dir, ExperimentConfig.load(SMALL), sizes=[10_000, 4_000], home=home(root), progress=lambda *r: reported.append(r))
    assert reported[0] == ("Building features", 0, 1) and reported[-1] == ("Fitted", 3, 3)
    return result, root


@pytest.mark.slow
def test_every_size_is_fitted_on_whole_people_of_the_training_slice_and_scored_on_the_same_validation_rows(curve):
    result, _ = curve
    assert [p.requested for p in result.points] == [4_000, 10_000, None]
    rows = [p.rows for p in result.points]
    assert rows[0] >= 4_000 and rows[1] >= 10_000 and rows[-1] == result.training_rows
    assert rows == sorted(rows) and result.points[-1].people == result.training_people
    assert {p.validation_rows for p in result.points} == {result.validation_rows}
    assert len({p.validation_digest for p in result.points}) == 1
    for p in result.points:
        assert 0.5 < p.auroc < 1 and p.calibration_slope > 0 and 0 <= p.ece < 1 and 0 < p.brier < 1 and p.best_iteration >= 1
    assert max(result.index_dates["train"]) < min(result.index_dates["valid"])


@pytest.mark.slow
def test_the_curve_is_logged_to_mlflow_with_its_figure_table_and_metrics_by_training_rows(curve):
    result, root = curve
    mlflow_client = client(home(root))
    run = mlflow_client.get_run(result.run_id)
    assert run.data.tags["risingrisk.kind"] == "learning_curve"
    assert run.data.params["sizes"] == "4000,10000,all"
    assert int(run.data.params["validation_rows"]) == result.validation_rows
    artifacts = {a.path for a in mlflow_client.list_artifacts(result.run_id, ARTIFACT_DIR)}
    assert artifacts == {f"{ARTIFACT_DIR}/learning_curve.png", f"{ARTIFACT_DIR}/points.csv"}
    history = mlflow_client.get_metric_history(result.run_id, "auroc")
    assert sorted((m.step, m.value) for m in history) == [(p.rows, p.auroc) for p in result.points]
    local = mlflow_client.download_artifacts(result.run_id, f"{ARTIFACT_DIR}/points.csv", str(root))
    table = pd.read_csv(local)
    assert table["rows"].tolist() == [p.rows for p in result.points]
    assert np.allclose(table["ece"], [p.ece for p in result.points])
    assert Path(mlflow_client.download_artifacts(result.run_id, result.figure, str(root))).read_bytes()[:4] == b"\x89PNG"
