"""Each training stage on a small hand-built population (not the simulator): split rows, fit, evaluate, the run's records."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from training.config import ExperimentConfig
from training.dataset import prepare
from training.evaluate import HEADLINE, MODELS, evaluate, headline_metrics, top_mask
from training.fit import calibrate, fit_baselines, fit_risk_model
from training.record import flatten, run_metrics
from training.split import ROLES, IndexDates, validation_people

TRAIN_DAY, VALID_DAY = date(2024, 12, 1), date(2025, 6, 1)
#: Flags the Herts-style rules read (hand-built: independent 5% flags, unrelated to the outcome).
FLAGS = [
    "ltc_asthma", "ltc_chd", "ltc_heart_failure", "ltc_frailty", "ltc_stroke", "ltc_dementia", "ltc_ckd", "ltc_cancer", "ltc_smi",
    "ltc_copd", "sn_unemployment", "sn_substance_misuse", "sn_alcohol_misuse", "sn_homeless", "sn_mental_health", "sn_lives_alone",
    "sn_financial_difficulty", "sn_housing_insecurity",
]
PREDICTORS = ["ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "age", "ltc_count", *FLAGS]
CONFIG = ExperimentConfig.load({
    "model": {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "early_stopping_rounds": 10, "n_jobs": 1},
    "baselines": {"logistic_max_iter": 200, "logistic_max_rows": 1000},
    "calibration": {"folds": 3},
    "evaluation": {"n_bootstrap": 20, "capacity_per_1000": 50.0, "top_fractions": [0.1], "use_truth": False},
})


def _people(n: int, seed: int, day: date) -> pd.DataFrame:
    """ED counts drawn from a per-person gamma rate; the outcome is a Poisson count of ED visits >= 3 ahead."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.6, 0.5, n)
    frame = pd.DataFrame({
        "person_id": [f"H{i:05d}" for i in range(n)],
        "as_of": pd.Timestamp(day),
        "in_cohort": np.ones(n, dtype=bool),
        **{f"ed_{w}": rng.poisson(rate * months) for w, months in (("0_3m", 3), ("3_6m", 3), ("6_12m", 6), ("12_24m", 12))},
        "age": rng.integers(18, 95, n).astype(float),
        "ltc_count": rng.poisson(1.0, n).astype(float),
        **{flag: (rng.random(n) < 0.05).astype(float) for flag in FLAGS},
    })
    frame["label_high_intensity_use"] = pd.array((rng.poisson(rate * 12) >= 3).astype(int), dtype="Int8")
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    table = pd.concat([_people(3000, 1, TRAIN_DAY), _people(3000, 2, VALID_DAY)], ignore_index=True)
    table.loc[5, "in_cohort"] = False  # excluded: never used
    table.loc[3005, "label_high_intensity_use"] = pd.NA  # no label: never used
    return table


@pytest.fixture(scope="module")
def data(frame: pd.DataFrame):
    return prepare(frame, IndexDates((TRAIN_DAY,), (VALID_DAY,)), predictors=PREDICTORS, config=CONFIG)


def test_prepare_uses_each_person_on_one_side_only_and_scales_capacity_by_unlabelled_rows(frame, data) -> None:
    validation = validation_people(frame["person_id"], CONFIG.split)
    on_their_side = np.where(frame.index < 3000, ~validation, validation)
    expected = [i for i in range(6000) if on_their_side[i] and i not in (5, 3005)]
    used = np.sort(np.concatenate([data.rows[r] for r in ROLES]))
    assert used.tolist() == expected
    assert data.slices["slice"].tolist() == list(ROLES)
    assert data.slices["rows"].sum() == len(expected)
    labelled_valid = len(data.rows["calibrate"]) + len(data.rows["evaluate"])
    at_valid = int(validation[3000:].sum())
    assert labelled_valid == at_valid - (1 if validation[3005] else 0)
    assert data.capacity_fraction == pytest.approx(0.05 * at_valid / labelled_valid)
    assert data.fractions == {"capacity": data.capacity_fraction, "top10pct": 0.1}
    assert list(data.X.columns) == PREDICTORS


def test_fit_uses_only_training_dates_and_calibrate_sets_the_chosen_map(data) -> None:
    baselines = fit_baselines(data, config=CONFIG, feature_config=FeatureConfig())
    assert baselines.rule_scores["ed_count"][:3].tolist() == data.X[["ed_0_3m", "ed_3_6m", "ed_6_12m"]].head(3).sum(axis=1).tolist()
    model = fit_risk_model(data, config=CONFIG)
    params = model.get_params()
    directions = params.pop("directions")
    assert params == CONFIG.model.model_dump()
    # every predictor gets its declared direction: ED counts and conditions raise, age is free
    assert (directions["ed_0_3m"], directions["ltc_count"], directions["ltc_asthma"], directions["age"]) == (1, 1, 1, 0)
    assert 1 <= model.best_iteration_ <= 40
    choice, rule_maps = calibrate(model, baselines, data, config=CONFIG)
    assert model.calibrator_ is choice.calibrator and choice.method in ("smoothed_isotonic", "beta", "platt")
    assert set(rule_maps) == {"ed_count", "herts_segmentation"}


def test_evaluate_scores_every_model_on_the_evaluate_slice_and_records_the_headline(data, tmp_path) -> None:
    baselines = fit_baselines(data, config=CONFIG, feature_config=FeatureConfig())
    model = fit_risk_model(data, config=CONFIG)
    choice, rule_maps = calibrate(model, baselines, data, config=CONFIG)
    result = evaluate(model, baselines, rule_maps, data, config=CONFIG, feature_config=FeatureConfig(), data_dir=tmp_path, champion=None)
    assert list(result.metrics) == list(MODELS)
    assert result.y.size == len(data.rows["evaluate"]) and result.oracle is None and result.champion is None
    for values in result.metrics.values():
        assert values["auroc"].low <= values["auroc"].value <= values["auroc"].high
    # The ED rule's ranking is its raw count, not the isotonic map of it.
    assert np.array_equal(result.ranking["ed_count"], baselines.rule_scores["ed_count"][data.rows["evaluate"]])
    headline = headline_metrics(result.metrics["lightgbm"])
    assert set(headline) == {f"{m}{s}" for m in HEADLINE for s in ("", "_low", "_high")}

    class _Audit:
        passed, failures = True, ()

    logged = run_metrics(result, choice=choice, audit=_Audit(), best_iteration=model.best_iteration_)
    assert logged["auroc"] == result.metrics["lightgbm"]["auroc"].value == logged["lightgbm.auroc"]
    assert (logged["equity_gates_passed"], logged["best_iteration"]) == (1.0, float(model.best_iteration_))


def test_top_mask_takes_the_highest_scores_and_breaks_ties_with_the_seed() -> None:
    scores = np.array([0.9, 0.1, 0.5, 0.5, 0.5, 0.2])
    mask = top_mask(scores, 0.5, seed=3)
    assert mask.sum() == 3 and mask[0] and not mask[1] and not mask[5]
    assert np.array_equal(mask, top_mask(scores, 0.5, seed=3))
    assert top_mask(scores, 0.01, seed=3).tolist() == [True, False, False, False, False, False]


def test_flatten_writes_nested_tables_as_dotted_keys_and_lists_as_json() -> None:
    assert flatten({"a": 1, "b": {"c": [1, 2], "d": {"e": True}}}) == {"a": "1", "b.c": "[1, 2]", "b.d.e": "True"}
