"""Training rows whose count windows reach before the data start have those counts set missing (unobserved), not zero."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from features.definitions import predictor_specs
from models.risk_model import RiskModel
from training.config import ExperimentConfig, SplitConfig
from training.dataset import prepare, unobserved_history
from training.record import drift_reference
from training.split import IndexDates, choose_index_dates

START = date(2021, 1, 1)
TRAIN = (date(2022, 1, 1), date(2022, 7, 1), date(2023, 1, 1))
VALID = (date(2023, 4, 1), date(2023, 7, 1))


def _frame(people: int = 600) -> pd.DataFrame:
    """Every person at every date, all predictors 1.0 (so a missing value can only come from the mask)."""
    specs = predictor_specs(FeatureConfig())
    rng = np.random.default_rng(0)
    rows = []
    for day in (*TRAIN, *VALID):
        rows.append(pd.DataFrame({
            "person_id": [f"P{i:04d}" for i in range(people)],
            "as_of": pd.Timestamp(day),
            "in_cohort": True,
            "neighbourhood": "N1",
            "label_high_intensity_use": pd.array(rng.random(people) < 0.2, dtype="Int8"),
        }))
    frame = pd.concat(rows, ignore_index=True)
    for name in specs:
        frame[name] = 1.0
    return frame


def test_the_specs_that_count_over_history_say_how_far_back_they_reach() -> None:
    specs = predictor_specs(FeatureConfig())
    assert specs["ed_12_24m"].history_months == 24 and specs["ed_0_3m"].history_months == 3
    assert specs["ed_trend"].history_months == 12
    assert specs["settings_used_12m"].history_months == 12 and specs["cost_12m"].history_months == 12
    assert specs["age"].history_months is None and specs["ltc_count"].history_months is None
    assert specs["days_since_ed"].history_months is None  # a last contact found is observed; none found reads as none either way


def test_a_window_is_unobserved_exactly_when_it_starts_before_the_first_month_of_data() -> None:
    as_of = pd.Series(pd.to_datetime(["2022-12-01", "2023-01-01", "2023-02-01", "2022-01-01"]))
    masks = unobserved_history(as_of, {"w24": 24, "w12": 12, "w3": 3}, date(2021, 1, 15))  # mid-month start counts from January
    assert masks["w24"].tolist() == [True, False, False, True]
    assert "w12" not in masks
    assert "w3" not in masks


def test_prepare_sets_the_unobserved_counts_missing_and_leaves_everything_else() -> None:
    frame = _frame()
    config = ExperimentConfig.load({})
    specs = predictor_specs(config.features)
    data = prepare(frame, IndexDates(TRAIN, VALID, START), predictors=list(specs), config=config)
    as_of = pd.to_datetime(frame["as_of"]).dt.date
    for name, spec in specs.items():
        expected = np.zeros(len(frame), dtype=bool)
        if spec.history_months is not None:
            expected = as_of.map(lambda t, m=spec.history_months: t.year * 12 + t.month - m < START.year * 12 + START.month).to_numpy()
        assert data.X[name].isna().to_numpy().tolist() == expected.tolist(), name
    assert data.X["ed_12_24m"].isna().sum() == 2 * 600  # 2022-01 and 2022-07: 12 and 18 months of history
    assert data.X["ed_6_12m"].isna().sum() == 0
    assert data.full_history.tolist() == (as_of >= date(2023, 1, 1)).tolist()
    assert frame["ed_12_24m"].notna().all()  # the caller's frame is not changed


def test_without_a_data_start_nothing_is_masked() -> None:
    frame = _frame(200)
    config = ExperimentConfig.load({})
    data = prepare(frame, IndexDates(TRAIN, VALID), predictors=list(predictor_specs(config.features)), config=config)
    assert not data.X.isna().any().any() and data.full_history.all()


def test_derived_dates_carry_the_data_start() -> None:
    dates = choose_index_dates(SplitConfig(), start=START, data_end=date(2024, 12, 31), outcome_window=(6, 18), lookback_months=24)
    assert dates.data_start == START


def test_the_drift_reference_is_drawn_from_full_history_rows_only() -> None:
    frame = _frame()
    config = ExperimentConfig.load({})
    specs = predictor_specs(config.features)
    data = prepare(frame, IndexDates(TRAIN, VALID, START), predictors=list(specs), config=config)
    fit = data.rows["fit"]
    model = RiskModel(n_estimators=5, num_leaves=4, min_child_samples=20, early_stopping_rounds=2, n_jobs=1, monotone=False)
    model.fit(data.X.iloc[fit], data.y[fit], X_valid=data.X.iloc[data.rows["early_stop"]], y_valid=data.y[data.rows["early_stop"]])
    reference = drift_reference(model, data, rows=10_000, seed=3)
    assert len(reference) == int(data.full_history[data.training_rows].sum())
    assert not reference["ed_12_24m"].isna().any()


@pytest.mark.parametrize("months", [12, 18])
def test_a_min_history_below_the_lookback_gives_earlier_training_dates(months: int) -> None:
    dates = choose_index_dates(
        SplitConfig(min_history_months=months, train_step_months=3, n_train_dates=8), start=START, data_end=date(2024, 12, 31),
        outcome_window=(6, 18), lookback_months=24,
    )
    assert min(dates.train) == date(2021 + months // 12, 1 + months % 12, 1)
