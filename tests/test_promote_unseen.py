"""The champion is compared with the challenger only on rows of people neither model was trained on, by both models' recorded split settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.home import Home
from training.config import ExperimentConfig
from training.dataset import TrainingData
from training.equity import EquityAudit
from training.evaluate import HeadToHead, head_to_head, headline_metrics
from training.metrics import MetricCI, evaluate_scores
from training.promote import REFUSED_FIX, promote
from training.record import run_tags
from training.registry import MODEL_NAME, load_model
from training.split import validation_people
from training.tracking import client
from training.train import train
from unseen_support import fit_small, hand_data, hand_frame, register, split_params

#: The hand-built challenger (seed 7, validation_fraction 0.4) evaluates 1,152 rows of 576 people with 225 outcomes.
EVALUATED = 1152


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainingData, ExperimentConfig, np.ndarray, dict[str, MetricCI]]:
    data, config = hand_data(hand_frame(), min_compared_outcomes=50)
    model = fit_small(data)
    rows = data.rows["evaluate"]
    p = model.predict_proba(data.X.iloc[rows])[:, 1]
    common = dict(fractions=data.fractions, n_bootstrap=config.evaluation.n_bootstrap, ci_level=0.95, ece_bins=10, seed=7)
    return data, config, p, evaluate_scores(data.y[rows], p, groups=data.persons[rows], probabilistic=True, **common)


@pytest.fixture(scope="module")
def champions(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """One home with a champion per split setting: the challenger's, another seed, a wider and a narrower share, and the old split."""
    where = Home(tmp_path_factory.mktemp("champions")).ensure()
    frame = hand_frame()
    for alias, seed, fraction, old in (("same", 7, 0.4, False), ("seed8", 8, 0.4, False), ("wider", 7, 0.6, False), ("narrow", 7, 0.2, False),
                                       ("old", 7, 0.4, True)):
        data, config = hand_data(frame, seed=seed, validation_fraction=fraction)
        register(where, fit_small(data), params=split_params(config, old_split=old), aliases=(alias,), example=data.X.head(5))
    return where


def _h2h(champions: Home, alias: str, challenger) -> HeadToHead:
    data, config, p, metrics = challenger
    result = head_to_head(load_model(alias, home=champions, name=MODEL_NAME), data, p, config=config, challenger_metrics=metrics)
    assert result is not None
    return result


@pytest.mark.slow
def test_a_champion_with_another_seed_is_compared_only_on_people_it_was_not_trained_on(champions, challenger) -> None:
    data, config, p, _ = challenger
    h2h = _h2h(champions, "seed8", challenger)
    assert (h2h.rows, h2h.dropped, h2h.outcomes) == (438, 714, 86)
    assert h2h.basis == (
        "on the same 438 evaluation rows (714 of 1,152 dropped: people champion v2 (split seed 8, validation_fraction 0.4) was trained on)"
    )
    rows = data.rows["evaluate"]
    ids = data.frame["person_id"].iloc[rows]
    kept = validation_people(ids, config.split.model_copy(update={"seed": 8}))
    assert kept.sum() == h2h.rows and validation_people(ids, config.split).all()
    champion = load_model("seed8", home=champions, name=MODEL_NAME)
    common = dict(groups=data.persons[rows][kept], fractions=data.fractions, n_bootstrap=200, ci_level=0.95, ece_bins=10, seed=7, probabilistic=True)
    assert h2h.champion == evaluate_scores(data.y[rows][kept], champion.model.predict_proba(data.X.iloc[rows][kept])[:, 1], **common)
    assert h2h.challenger == evaluate_scores(data.y[rows][kept], p[kept], **common)
    assert h2h.flat()["champion_h2h.rows"] == 438.0 and h2h.flat()["challenger_h2h.auroc"] == h2h.challenger["auroc"].value


@pytest.mark.slow
def test_a_champion_whose_validation_people_include_the_challengers_drops_nobody(champions, challenger) -> None:
    *_, metrics = challenger
    for alias in ("same", "wider"):
        h2h = _h2h(champions, alias, challenger)
        assert (h2h.rows, h2h.dropped, h2h.outcomes) == (EVALUATED, 0, 225)
        assert h2h.basis == "on the same 1,152 evaluation rows (none dropped: every one is a validation person under both models' split settings)"
        assert h2h.challenger is metrics


@pytest.mark.slow
def test_too_few_outcomes_among_people_neither_model_saw_refuse_the_comparison(champions, challenger) -> None:
    h2h = _h2h(champions, "narrow", challenger)
    assert h2h.refused and (h2h.rows, h2h.dropped, h2h.outcomes) == (190, 962, 29)
    assert h2h.basis == (
        "only 190 of the challenger's evaluation rows are of people neither model was trained on (962 of 1,152 dropped: people champion v4 "
        "(split seed 7, validation_fraction 0.2) was trained on), with 29 outcomes and 161 non-outcomes: fewer than "
        "promotion.min_compared_outcomes = 50 (training the challenger with the champion's split.seed and validation_fraction drops none)"
    )
    assert set(h2h.flat()) == {"champion_h2h.rows", "champion_h2h.rows_dropped", "champion_h2h.outcomes"}


@pytest.mark.slow
def test_a_champion_trained_with_the_old_split_is_not_compared_on_any_row(champions, challenger) -> None:
    h2h = _h2h(champions, "old", challenger)
    assert h2h.refused and (h2h.rows, h2h.dropped) == (0, EVALUATED)
    assert h2h.basis.startswith("champion v5 trained with the old split (people on both sides: no split.validation_fraction recorded)")


def _promotion_home(root: Path, challenger, *, champion_seed: int, old_split: bool) -> Home:
    """A champion (v1) with the given split, and a challenger (v2) registered with its metrics and head-to-head as training records them."""
    where = Home(root).ensure()
    data, config, p, metrics = challenger
    champion_data, champion_config = hand_data(hand_frame(), seed=champion_seed)
    champion_metrics = headline_metrics(evaluate_scores(
        champion_data.y[champion_data.rows["evaluate"]], fit_small(champion_data).predict_proba(champion_data.X.iloc[champion_data.rows["evaluate"]])[:, 1],
        groups=champion_data.persons[champion_data.rows["evaluate"]], fractions=champion_data.fractions, probabilistic=True, n_bootstrap=50,
        ci_level=0.95, ece_bins=10, seed=7,
    ))
    register(where, fit_small(champion_data), params=split_params(champion_config, old_split=old_split), aliases=("champion",),
             metrics=champion_metrics, example=data.X.head(5))
    h2h = head_to_head(load_model("champion", home=where, name=MODEL_NAME), data, p, config=config, challenger_metrics=metrics)
    lenient = {**split_params(config), "promotion.slope_range": "[0.5, 2.0]", "promotion.auroc_tolerance": "0.1", "promotion.ece_tolerance": "0.1"}
    tags = run_tags(config, data_dir=root, audit=EquityAudit(pd.DataFrame(), ()), champion=h2h)
    register(where, fit_small(data), params=lenient, aliases=("challenger",), metrics={**headline_metrics(metrics), **h2h.flat(), "equity_gates_passed": 1.0},
             tags=tags, example=data.X.head(5))
    return where


@pytest.mark.slow
def test_promotion_over_an_old_split_champion_is_refused_with_the_fix_unless_the_challengers_own_gates_are_chosen(challenger, tmp_path) -> None:
    where = _promotion_home(tmp_path, challenger, champion_seed=7, old_split=True)
    refused = promote(home=where)
    assert refused.promoted is False
    assert refused.reasons == [
        "no comparison with champion v1: champion v1 trained with the old split (people on both sides: no split.validation_fraction recorded): "
        f"its metrics include people it was trained on, and which evaluation rows it never saw cannot be known; {REFUSED_FIX}"
    ]
    chosen = promote(home=where, own_gates=True)
    assert chosen.promoted is True and load_model("champion", home=where, name=MODEL_NAME).version == "2"
    assert chosen.checks[-1].name == "comparison with champion" and chosen.checks[-1].passed
    runs = client(where).search_runs([client(where).get_experiment_by_name("risingrisk").experiment_id], "tags.`risingrisk.stage` = 'promote'")
    assert sorted(r.data.tags["risingrisk.own_gates"] for r in runs) == ["False", "True"]


@pytest.mark.slow
def test_the_promotion_report_says_how_many_rows_were_compared_and_why_the_others_were_dropped(challenger, tmp_path) -> None:
    where = _promotion_home(tmp_path, challenger, champion_seed=8, old_split=False)
    decision = promote(home=where)
    compared = next(c for c in decision.checks if c.name == "rows compared")
    assert compared.detail == (
        "on the same 438 evaluation rows (714 of 1,152 dropped: people champion v1 (split seed 8, validation_fraction 0.4) was trained on)"
    )
    auroc = next(c for c in decision.checks if c.name == "AUROC vs champion")
    loaded = load_model("challenger", home=where, name=MODEL_NAME)
    assert f"AUROC {loaded.metrics['challenger_h2h.auroc']:.4f}" in auroc.detail and auroc.detail.endswith("(on the same evaluation rows)")
    assert loaded.metrics["challenger_h2h.auroc"] != loaded.metrics["auroc"]  # measured on the 438 rows, not the challenger's 1,152


@pytest.mark.slow
def test_retraining_with_another_seed_compares_the_champion_only_on_people_neither_was_trained_on_end_to_end(sim_dir: Path, tmp_path: Path) -> None:
    small = {
        "name": "unseen", "split": {"train_step_months": 1, "n_train_dates": 2},
        "model": {"n_estimators": 60, "learning_rate": 0.1, "early_stopping_rounds": 10, "min_child_samples": 50},
        "baselines": {"logistic_max_iter": 100}, "calibration": {"folds": 3}, "evaluation": {"n_bootstrap": 20, "shap_sample": 500},
        "equity": {"min_group_auroc": 0.5, "max_abs_calibration_in_the_large": 0.5},
        "promotion": {"slope_range": [0.5, 2.0], "auroc_tolerance": 0.1, "ece_tolerance": 0.1, "min_compared_outcomes": 20},
    }
    where = Home(tmp_path)
    first = train(sim_dir, ExperimentConfig.load(small), home=where)
    assert promote(home=where).promoted is True
    second = train(sim_dir, ExperimentConfig.load({**small, "split": {**small["split"], "seed": 8}}), home=where)
    run = client(where).get_run(second.run_id)
    evaluated = int(second.slices.set_index("slice").loc["evaluate", "rows"])
    rows, dropped = int(run.data.metrics["champion_h2h.rows"]), int(run.data.metrics["champion_h2h.rows_dropped"])
    assert rows + dropped == evaluated and 0 < rows < evaluated
    assert run.data.tags["risingrisk.champion_h2h_basis"] == (
        f"on the same {rows:,} evaluation rows ({dropped:,} of {evaluated:,} dropped: people champion v{first.version} "
        "(split seed 7, validation_fraction 0.4) was trained on)"
    )
    decision = promote(home=where)
    assert next(c for c in decision.checks if c.name == "rows compared").detail == run.data.tags["risingrisk.champion_h2h_basis"]
    assert next(c for c in decision.checks if c.name == "AUROC vs champion").detail.startswith(
        f"AUROC {run.data.metrics['challenger_h2h.auroc']:.4f} "
    )
