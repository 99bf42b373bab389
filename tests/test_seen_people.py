"""Whom a registered model was trained on, from its recorded split settings: sides by the keyed hash, overlapping outcome windows, the old split."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from training.config import ExperimentConfig
from training.seen_people import OLD_SPLIT, TrainingPeople, training_people
from training.split import person_fraction
from unseen_support import HAND_DATES, split_params

IDS = pd.Series([f"h{i:02d}" for i in range(12)])
# split.person_fraction of IDS: seed 7 puts h02 (0.394), h03 (0.351) and h05 (0.105) below 0.4; seed 8 puts h01, h04, h06, h08, h11 there.
SEED_7_VALIDATION = ["h02", "h03", "h05"]


def _people(**changes: object) -> TrainingPeople:
    base = {"model": "v1", "seed": 7, "validation_fraction": 0.4, "train_dates": (date(2021, 1, 1), date(2021, 2, 1)), "outcome_window": (6, 18)}
    return TrainingPeople(**{**base, **changes})


def test_the_validation_people_are_those_whose_keyed_hash_falls_below_the_recorded_fraction() -> None:
    assert (person_fraction(IDS, 7) < 0.4).sum() == 3  # the hand-read list above is the hash's
    assert IDS[_people().never_trained_on(IDS)].tolist() == SEED_7_VALIDATION
    assert IDS[_people(seed=8).never_trained_on(IDS)].tolist() == ["h01", "h04", "h06", "h08", "h11"]
    assert IDS[_people(validation_fraction=0.2).never_trained_on(IDS)].tolist() == ["h05"]


def test_a_model_trained_with_the_old_split_never_trained_on_nobody() -> None:
    old = _people(validation_fraction=None)
    assert old.recorded is False
    assert not old.never_trained_on(IDS).any()
    assert old.describe() == f"v1 {OLD_SPLIT}"


def test_an_index_date_overlaps_a_training_label_until_its_window_starts_where_the_last_training_window_ends() -> None:
    # Training labels at 2021-01-01 and 2021-02-01 cover [2021-07-01, 2022-07-01) and [2021-08-01, 2022-08-01).
    people = _people()
    dates = pd.Series([date(2020, 1, 1), date(2020, 2, 1), date(2021, 6, 1), date(2022, 1, 1), date(2022, 2, 1)])
    # 2020-01-01 covers [2020-07-01, 2021-07-01): it ends where the first training window starts, so no overlap.
    assert people.overlaps_training_labels(dates).tolist() == [False, True, True, True, False]
    assert people.first_unseen_date() == date(2022, 2, 1)
    assert _people(train_dates=()).overlaps_training_labels(dates).all()  # dates not recorded: every date may overlap
    assert _people(train_dates=()).first_unseen_date() is None


def test_a_row_is_seen_only_for_a_training_person_at_an_overlapping_date() -> None:
    people = _people()
    ids = pd.Series(["h00", "h02", "h00", "h02"])
    as_of = pd.Series([date(2021, 6, 1), date(2021, 6, 1), date(2022, 2, 1), date(2022, 2, 1)])
    assert people.seen(ids, as_of).tolist() == [True, False, False, False]
    assert _people(validation_fraction=None).seen(ids, as_of).tolist() == [True, True, False, False]


def test_the_training_people_are_read_back_from_a_training_runs_params() -> None:
    config = ExperimentConfig.load({"split": {"seed": 11, "validation_fraction": 0.35}, "features": {"outcome_window": [3, 15]}})
    people = training_people(split_params(config), model="v4", outcome_window=(6, 18))
    assert people == TrainingPeople("v4", 11, 0.35, HAND_DATES.train, (3, 15))
    assert people.describe() == "v4 (split seed 11, validation_fraction 0.35)"
    old = training_people(split_params(config, old_split=True), model="v2", outcome_window=(6, 18))
    assert (old.recorded, old.seed, old.validation_fraction) == (False, 11, None)
    bare = training_people({}, model="v9", outcome_window=(6, 18))
    assert bare == TrainingPeople("v9", None, None, (), (6, 18))
    assert np.array_equal(bare.seen(IDS, pd.Series([date(2030, 1, 1)] * len(IDS))), np.ones(len(IDS), dtype=bool))
