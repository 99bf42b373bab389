"""End to end: train on the shared simulated population registers a loadable challenger; promote moves champion once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from typer.testing import CliRunner

from features.build import build_features
from features.definitions import predictor_names
from features.simulation import simulate
from risingrisk.cli import app
from features.home import home
from training.config import ExperimentConfig
from training.model_card import REQUIRED_SECTIONS
from training.promote import promote
from training.registry import load_model
from training.evaluate import MODELS
from training.external import external_validation
from training.metrics import evaluate_scores
from training.feedback import FeedbackConfig, apply_feedback_rule, enrolment_dates
from training.split import validation_people
from training.tracking import client
from training.train import STAGES, TrainResult, train

#: Small and fast, with gates wide enough that promotion of the first model is certain.
SMALL = {
    "name": "test",
    "split": {"train_step_months": 1, "n_train_dates": 2},
    "model": {"n_estimators": 60, "learning_rate": 0.1, "early_stopping_rounds": 10, "min_child_samples": 50},
    "baselines": {"logistic_max_iter": 100},
    "calibration": {"folds": 3},
    "evaluation": {"n_bootstrap": 20, "shap_sample": 500},
    "equity": {"min_group_auroc": 0.5, "max_abs_calibration_in_the_large": 0.5},
    "promotion": {"slope_range": [0.5, 2.0]},
}


@pytest.fixture(scope="module")
def trained(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    root = tmp_path_factory.mktemp("home")
    reported: list[str] = []
    result = train(sim_dir, ExperimentConfig.load(SMALL), home=home(root), progress=lambda stage, done, total: reported.append(stage))
    assert list(dict.fromkeys(reported)) == list(STAGES)
    return result, root


@pytest.mark.slow
def test_train_registers_a_loadable_challenger_with_its_native_booster(trained: tuple[TrainResult, Path], sim_dir: Path) -> None:
    result, root = trained
    loaded = load_model("challenger", home=home(root))
    assert (loaded.version, loaded.run_id, loaded.outcome) == ("1", result.run_id, "high_intensity_use")
    assert isinstance(loaded.model.booster_, lgb.Booster)
    assert loaded.feature_names == predictor_names(loaded.feature_config)
    assert loaded.training_window == result.index_dates
    assert loaded.metrics["auroc"] == result.metrics["lightgbm"]["auroc"].value
    rows = build_features(sim_dir, as_of=result.index_dates["valid"][-1], config=loaded.feature_config).head(50)
    p = loaded.model.predict_proba(rows[loaded.feature_names])[:, 1]
    assert p.shape == (50,) and np.all((p >= 0) & (p <= 1))
    card = loaded.model_card_path.read_text()
    assert all(f"\n## {section}\n" in card for section in REQUIRED_SECTIONS)
    assert loaded.model_card_path.with_suffix(".html").exists()


@pytest.mark.slow
def test_train_evaluates_every_model_on_the_same_rows_with_intervals_and_the_oracle(trained: tuple[TrainResult, Path]) -> None:
    result, _ = trained
    assert list(result.metrics) == list(MODELS)
    for values in result.metrics.values():
        assert values["auroc"].low <= values["auroc"].value <= values["auroc"].high
        assert {"ppv_capacity", "ppv_top1pct", "ppv_top5pct", "calibration_slope", "ece"} <= set(values)
    assert result.oracle is not None and 0.5 < result.oracle["oracle_auroc"] <= 1.0
    assert result.oracle["ratio"] == pytest.approx(result.oracle["model_auroc"] / result.oracle["oracle_auroc"])
    assert result.slices["slice"].tolist() == ["fit", "early_stop", "calibrate", "evaluate"]
    assert result.index_dates["train"][-1] < result.index_dates["valid"][0]


@pytest.mark.slow
def test_promote_makes_the_first_challenger_champion_then_refuses_to_repeat_and_says_why(trained: tuple[TrainResult, Path]) -> None:
    _, root = trained
    decision = promote(home=home(root))
    assert decision.promoted is True and decision.champion_version is None
    assert load_model("champion", home=home(root)).version == "1"
    outcome = CliRunner().invoke(app, ["promote"], env={"RISINGRISK_HOME": str(root), "COLUMNS": "200"})
    assert outcome.exit_code == 1
    assert "challenger v1 is already the champion" in outcome.output


@pytest.mark.slow
def test_training_drops_rows_whose_outcome_window_meets_an_enrolment_and_the_card_counts_them(
    trained: tuple[TrainResult, Path], sim_dir: Path
) -> None:
    result, root = trained
    loaded = load_model("challenger", home=home(root))
    dates = [*result.index_dates["train"], *result.index_dates["valid"]]
    frame = build_features(sim_dir, as_of=dates, labels=True, config=loaded.feature_config)
    enrolled = enrolment_dates(sim_dir, database="sqlite:///" + str(root / "absent.sqlite"), as_of=max(dates), config=FeedbackConfig())
    expected = apply_feedback_rule(frame, enrolled, outcome_window=loaded.feature_config.outcome_window, config=FeedbackConfig())
    assert expected.rows_affected > 0
    run = client(home(root)).get_run(result.run_id)
    assert run.data.metrics["feedback.rows_dropped"] == expected.rows_affected
    card = loaded.model_card_path.read_text()
    assert f"feedback rule 'exclude': dropped) | {expected.rows_affected} |" in card.replace("  ", " ")


@pytest.mark.slow
def test_train_reports_constraints_listed_calibration_and_every_list_policy_in_the_card_and_mlflow(trained: tuple[TrainResult, Path]) -> None:
    result, root = trained
    loaded = load_model("challenger", home=home(root))
    assert result.constraints is not None and result.constraints["model"].tolist() == ["constrained", "unconstrained"]
    assert loaded.metrics["constraints.constrained.auroc"] == result.metrics["lightgbm"]["auroc"].value
    assert set(result.policies["policy"]) == {"risk", "rising", "stratified"}
    assert (result.policies["listed"] == result.policies["listed"].iloc[0]).all()
    risk = result.policies.set_index("policy").loc["risk"]
    assert loaded.metrics["policy.risk.ppv"] == pytest.approx(risk["ppv"])
    assert "listed_calibration_capacity_low" in loaded.metrics
    card = loaded.model_card_path.read_text()
    for text in ("**List policies.**", "**Among the listed people**", "| constrained |", "| unconstrained |", "method `basic`"):
        assert text in card
    assert loaded.lists.policy == "risk"


@pytest.mark.slow
def test_evaluate_on_a_held_out_population_matches_trains_metric_code_on_the_same_rows(
    trained: tuple[TrainResult, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    result, root = trained
    other = tmp_path_factory.mktemp("other") / "data"
    simulate(people=4000, seed=99, out=other, start=date(2021, 1, 1), end=date(2025, 1, 1))
    as_of = [date.fromisoformat(result.index_dates["valid"][-1])]
    validation = external_validation(other, as_of, home=home(root), alias="challenger", n_bootstrap=20, seed=7)
    loaded = load_model("challenger", home=home(root))
    rows = build_features(other, as_of=as_of, labels=True, config=loaded.feature_config)
    rows = rows[rows["in_cohort"].fillna(False).astype(bool) & rows["label_high_intensity_use"].notna()]
    # The other population's pseudonyms (P0001…) coincide with the training population's, at an overlapping date: the ids of the
    # challenger's training people are left out (a keyed-hash random share, so the estimate stays unbiased) and counted.
    never_seen = validation_people(rows["person_id"], ExperimentConfig.load(SMALL).split)
    assert (validation.rows_seen, validation.people_seen) == (int((~never_seen).sum()), int((~never_seen).sum()))
    rows = rows[never_seen]
    y = rows["label_high_intensity_use"].astype(int).to_numpy()
    p = loaded.model.predict_proba(rows[loaded.feature_names])[:, 1]
    expected = evaluate_scores(
        y, p, groups=rows["person_id"].to_numpy(dtype=object), fractions={"capacity": validation.capacity_fraction}, probabilistic=True,
        n_bootstrap=20, ci_level=0.95, ece_bins=10, seed=7,
    )
    assert validation.metrics == expected
    assert (validation.rows, validation.outcomes) == (len(y), int(y.sum()))
    assert ((p > 0) & (p < 1)).all()
    outcome = CliRunner().invoke(
        app, ["evaluate", "--data", str(other), "--as-of", as_of[0].isoformat(), "--model", "challenger", "--n-bootstrap", "20"],
        env={"RISINGRISK_HOME": str(root), "COLUMNS": "200"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert f"{expected['auroc'].value:.3f}" in outcome.output and "Net benefit around capacity" in outcome.output
    assert f"{validation.rows_seen:,} labelled rows ({validation.people_seen:,} people) were left out" in " ".join(outcome.output.split())
