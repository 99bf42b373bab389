"""Out-of-time split: index dates from the data span, person-grouped slices, and the experiment config."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from training.config import ExperimentConfig, SplitConfig, load_config
from training.errors import ConfigError, SplitError
from training.split import assign_roles, choose_index_dates, person_fraction

SPAN = dict(start=date(2022, 11, 1), data_end=date(2026, 10, 31), outcome_window=(6, 18), lookback_months=24)


def test_default_dates_validate_on_the_last_quarters_with_complete_follow_up_and_train_monthly_before_them() -> None:
    dates = choose_index_dates(SplitConfig(train_step_months=1), **SPAN)
    # 2025-05-01 + 18 months = 2026-11-01: the window ends the day the data end.
    assert dates.valid == (date(2025, 2, 1), date(2025, 5, 1))
    # 2024-10-01 is dropped: it has only 23 months of history after 2022-11-01.
    assert dates.train == (date(2024, 11, 1), date(2024, 12, 1), date(2025, 1, 1))


def test_explicit_dates_in_the_config_win() -> None:
    config = SplitConfig(train_dates=(date(2024, 12, 1),), valid_dates=(date(2025, 3, 1),))
    dates = choose_index_dates(config, **SPAN)
    assert dates.as_dict() == {"train": ["2024-12-01"], "valid": ["2025-03-01"]}


def test_a_validation_date_without_complete_follow_up_raises_split_error() -> None:
    with pytest.raises(SplitError, match="validation dates must have complete follow-up"):
        choose_index_dates(SplitConfig(valid_dates=(date(2025, 6, 1),)), **SPAN)


def test_too_little_history_for_any_training_date_raises_split_error_with_the_fix() -> None:
    with pytest.raises(SplitError, match="set split.min_history_months lower"):
        choose_index_dates(SplitConfig(), start=date(2023, 6, 1), data_end=date(2026, 10, 31), outcome_window=(6, 18), lookback_months=24)


def test_training_dates_after_validation_dates_are_rejected_by_the_config() -> None:
    with pytest.raises(ConfigError, match="earlier than split.valid_dates"):
        SplitConfig.load({"train_dates": [date(2025, 6, 1)], "valid_dates": [date(2025, 3, 1)]})


def test_roles_put_each_person_in_one_slice_only_and_skip_unlabelled_or_excluded_rows() -> None:
    people = [f"P{i:04d}" for i in range(400)]  # each person at one training and one validation date
    train_day, valid_day = pd.Timestamp("2024-12-01"), pd.Timestamp("2025-03-01")
    frame = pd.DataFrame(
        {
            "person_id": people * 2,
            "as_of": [train_day] * 400 + [valid_day] * 400,
            "in_cohort": [True] * 799 + [False],
            "label": pd.array([0, 1] * 199 + [pd.NA, 0] + [1, 0] * 200, dtype="Int8"),
        }
    )
    dates = choose_index_dates(SplitConfig(train_dates=(date(2024, 12, 1),), valid_dates=(date(2025, 3, 1),)), **SPAN)
    config = SplitConfig(validation_fraction=0.5, calibration_fraction=0.5, early_stopping_fraction=0.5)
    roles = assign_roles(frame, dates, label="label", config=config)
    by_person: dict[str, set[str]] = {}
    for person, role in zip(frame["person_id"], roles):
        if role is not pd.NA:
            by_person.setdefault(person, set()).add(role)
    # One slice per person: nobody is fitted at a training date and evaluated at a validation date.
    assert all(len(r) == 1 for r in by_person.values())
    assert {r for rs in by_person.values() for r in rs} == {"fit", "early_stop", "calibrate", "evaluate"}
    # Every person is used on exactly one side (except the unlabelled and the out-of-cohort row's people when that was their side).
    validation_people = person_fraction(frame["person_id"].iloc[:400], 7) < 0.5
    expected_used = np.concatenate([~validation_people, validation_people])
    expected_used[398] = False  # unlabelled
    expected_used[799] = False  # out of cohort
    assert (roles.notna().to_numpy() == expected_used).all()
    # Within each side the slices follow the fractions (binomial bounds, 4 standard errors).
    counts = roles.value_counts()
    for a, b in (("fit", "early_stop"), ("calibrate", "evaluate")):
        n = counts[a] + counts[b]
        assert abs(counts[a] / n - 0.5) < 4 * (0.25 / n) ** 0.5
    # The same seed gives the same slices.
    assert roles.equals(assign_roles(frame, dates, label="label", config=config))


def test_experiment_config_rejects_unknown_keys_and_reads_the_default_file() -> None:
    with pytest.raises(ConfigError, match=r"key 'split.n_valid_date' is not a setting; did you mean 'n_valid_dates'\?"):
        ExperimentConfig.load({"split": {"n_valid_date": 2}})
    config = load_config("experiments/default.toml")
    assert config.split.train_step_months == 1
    assert config.evaluation.capacity_per_1000 == 6.0
    assert config.features.outcome_window == (6, 18)
