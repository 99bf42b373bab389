"""The retraining rule: rows whose outcome window meets an enrolment are excluded (or kept, for comparison)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from training.errors import TrainingError
from training.feedback import FeedbackConfig, apply_feedback_rule

TABLE = pd.DataFrame({
    "person_id": ["A", "A", "A", "B", "C"],
    "as_of": pd.to_datetime(["2022-01-01", "2023-01-01", "2024-06-01", "2022-01-01", "2022-01-01"]),
    "label_high_intensity_use": [0, 1, 0, 1, 0],
})
# A enrolled 2023-06-15: window of 2022-01-01 is [2022-07-01, 2023-07-01) -> overlaps; 2023-01-01 -> overlaps;
# 2024-06-01 -> follows. B enrolled 2023-07-01 = the end of its window (exclusive) -> unaffected. C never.
ENROLMENTS = pd.DataFrame({"person_id": ["A", "B", "A"], "enrolled_on": ["2023-06-15", "2023-07-01", "2024-01-01"]})


def test_exclude_drops_exactly_the_rows_whose_window_overlaps_or_follows_enrolment():
    result = apply_feedback_rule(TABLE, ENROLMENTS, outcome_window=(6, 18), config=FeedbackConfig())
    assert result.table[["person_id", "as_of"]].astype(str).values.tolist() == [["B", "2022-01-01"], ["C", "2022-01-01"]]
    assert result.table["label_high_intensity_use"].tolist() == [1, 0]
    assert (result.rows_in, result.rows_affected, result.rows_dropped, result.people_affected, result.rule) == (5, 3, 3, 1, "exclude")


def test_keep_leaves_every_row_but_still_counts_the_affected_ones():
    result = apply_feedback_rule(TABLE, ENROLMENTS, outcome_window=(6, 18), config=FeedbackConfig(rule="keep"))
    assert result.table.equals(TABLE)
    assert (result.rows_affected, result.rows_dropped) == (3, 0)


def test_an_enrolment_one_day_before_the_window_end_affects_the_row():
    enrolments = pd.DataFrame({"person_id": ["B"], "enrolled_on": ["2023-06-30"]})
    result = apply_feedback_rule(TABLE, enrolments, outcome_window=(6, 18), config=FeedbackConfig())
    assert result.rows_affected == 1 and "B" not in set(result.table["person_id"])


def test_a_censor_rule_is_refused_with_the_choices_named():
    with pytest.raises(ConfigError, match="rule"):
        FeedbackConfig.load({"rule": "censor"}, where="[feedback]")


def test_a_missing_enrolment_column_is_an_error_naming_it():
    with pytest.raises(TrainingError, match=r"enrolments must have columns \['person_id', 'enrolled_on'\]"):
        apply_feedback_rule(TABLE, ENROLMENTS.rename(columns={"enrolled_on": "date"}), outcome_window=(6, 18),
                            config=FeedbackConfig())
