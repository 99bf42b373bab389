"""Rules of the point-in-time feature builder, each on a tiny inline population."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlglot

from features.build import build_features
from features.config import FeatureConfig
from features.dates import add_months, extract_date
from features.definitions import PREDICTORS, describe, predictor_names, predictor_specs
from features.errors import ContractError, FeatureConfigError, MissingColumnError
from features.sql import statements

from features_support import CONFIG, DIABETES, END, HOUSING, ICP, PALLIATIVE, T, code, event, person, write


def one(tmp_path: Path, *, labels: bool = False, config: FeatureConfig = CONFIG, as_of: date = T, **tables) -> pd.Series:
    frame = build_features(write(tmp_path, **tables), as_of=[as_of], labels=labels, config=config)
    assert len(frame) == 1
    return frame.iloc[0]


# --- two clocks -------------------------------------------------------------------------------------------------

def test_event_on_the_as_of_date_is_not_counted(tmp_path):
    row = one(tmp_path, events=[event(T), event(datetime(2025, 4, 1, 9, 30))])
    assert row["ed_0_3m"] == 0


def test_event_the_day_before_the_as_of_date_is_counted(tmp_path):
    row = one(tmp_path, events=[event(datetime(2025, 3, 31, 23, 59))])
    assert row["ed_0_3m"] == 1
    assert row["days_since_ed"] == 1


def test_event_recorded_after_the_as_of_date_is_not_counted(tmp_path):
    row = one(tmp_path, events=[event(date(2025, 3, 1), recorded_at=datetime(2025, 4, 1, 0, 0, 1)),
                                event(date(2025, 2, 1), recorded_at=datetime(2025, 4, 1))])
    assert row["ed_0_3m"] == 1  # recorded exactly at T counts, a second later does not
    assert row["days_since_ed"] == (T - date(2025, 2, 1)).days


def test_lookback_window_edges_follow_calendar_months(tmp_path):
    events = [event(date(2025, 1, 1)), event(date(2024, 12, 31)), event(date(2023, 4, 1), "gp"),
              event(date(2023, 3, 31), "gp")]
    row = one(tmp_path, events=events)
    assert (row["ed_0_3m"], row["ed_3_6m"]) == (1, 1)
    assert (row["gp_12_24m"], row["gp_0_3m"]) == (1, 0)  # 31 Mar 2023 is before the 24-month lookback


def test_trend_days_since_settings_used_and_cost_read_the_last_year(tmp_path):
    events = [event(date(2025, 3, 1)), event(date(2025, 2, 1)), event(date(2024, 8, 1)),
              event(date(2024, 11, 1), "gp", cost=30.0), event(date(2024, 1, 1), "outpatient", cost=999.0)]
    row = one(tmp_path, events=events)
    assert row["ed_trend"] == 2 - 1
    assert row["days_since_ed"] == 31
    assert row["settings_used_12m"] == 2
    assert row["cost_12m"] == 330.0
    assert pd.isna(row["days_since_ambulance"])


def test_code_ended_before_the_as_of_date_is_not_active(tmp_path):
    codes = [code(HOUSING, date(2024, 1, 1), end=date(2025, 3, 31)), code(DIABETES, date(2020, 1, 1), end=T)]
    row = one(tmp_path, codes=codes)
    assert row["sn_housing_insecurity"] == 0
    assert pd.isna(row["sn_housing_insecurity_months"])
    assert (row["ltc_diabetes"], row["ltc_count"]) == (1, 1)  # an end date on T is still active at T


def test_code_starting_on_or_recorded_after_the_as_of_date_is_not_active(tmp_path):
    codes = [code(HOUSING, T), code(DIABETES, date(2024, 1, 1), recorded_at=datetime(2025, 4, 2))]
    row = one(tmp_path, codes=codes)
    assert (row["sn_housing_insecurity"], row["ltc_diabetes"]) == (0, 0)


def test_social_need_months_since_onset_recovers_the_onset_month(tmp_path):
    row = one(tmp_path, codes=[code(HOUSING, date(2025, 1, 15)), code(HOUSING, date(2024, 6, 1), end=date(2024, 9, 1))])
    assert row["sn_housing_insecurity"] == 1
    assert row["sn_housing_insecurity_months"] == pytest.approx((T - date(2025, 1, 15)).days / 30.4375)
    text = describe("sn_housing_insecurity", 1.0, row=row.to_dict(), as_of=T)
    assert text == "Housing insecurity (since January 2025)"


def test_person_columns_age_band_quintile_and_registration(tmp_path):
    row = one(tmp_path, persons=[person(birth_date=date(1980, 4, 1), imd_decile=None, sex="M",
                                        registered_from=date(2025, 1, 1))])
    assert (row["age"], row["age_band"]) == (45, "45-64")  # birthday on T counts
    assert pd.isna(row["imd_decile"]) and pd.isna(row["imd_quintile"])
    assert row["sex_female"] == 0
    assert row["months_registered"] == pytest.approx(90 / 30.4375)


# --- cohort -----------------------------------------------------------------------------------------------------

def test_as_of_rows_are_everyone_registered_and_alive(tmp_path):
    persons = [person("P1"), person("P2", death_date=T), person("P3", registered_to=T),
               person("P4", registered_from=date(2025, 4, 2)), person("P5", death_date=date(2025, 4, 2))]
    frame = build_features(write(tmp_path, persons=persons), as_of=[T], config=CONFIG)
    assert frame["person_id"].tolist() == ["P1", "P5"]
    assert frame["in_cohort"].tolist() == [True, True]


def test_index_rows_outside_registration_keep_the_reason(tmp_path):
    persons = [person("P1"), person("P2", death_date=date(2025, 1, 1), registered_to=date(2025, 1, 1)),
               person("P3", registered_to=date(2025, 2, 1))]
    index = pd.DataFrame({"person_id": ["P3", "P2", "P1", "P9"], "as_of": pd.Timestamp(T)})
    frame = build_features(write(tmp_path, persons=persons), index=index, config=CONFIG)
    reasons = dict(zip(frame["person_id"], frame["excluded_reason"]))
    assert reasons["P2"] == "deceased"
    assert reasons["P3"] == "not_registered" and reasons["P9"] == "not_registered"
    assert pd.isna(reasons["P1"])
    assert frame.set_index("person_id")["in_cohort"].to_dict() == {"P1": True, "P2": False, "P3": False, "P9": False}


@pytest.mark.parametrize(
    ("codes", "reason"),
    [
        ([code(PALLIATIVE, date(2025, 1, 1))], "end_of_life"),
        ([code(ICP, date(2025, 1, 1))], "integrated_care_pathway"),
        ([code(PALLIATIVE, date(2024, 1, 1), end=date(2025, 1, 1))], None),
        ([code(ICP, date(2025, 1, 1), recorded_at=datetime(2025, 4, 5))], None),
    ],
)
def test_status_code_active_at_the_as_of_date_excludes_with_its_reason(tmp_path, codes, reason):
    row = one(tmp_path, codes=codes)
    assert row["excluded_reason"] == reason if reason else pd.isna(row["excluded_reason"])
    assert row["in_cohort"] == (reason is None)


def test_nursing_home_code_from_an_edited_code_list_excludes(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    source = Path(__file__).resolve().parents[1] / "features" / "codelists"
    for name in ("social_needs.csv", "conditions.csv"):
        (lists / name).write_text((source / name).read_text())
    (lists / "status.csv").write_text("code,code_system,category,description\n160734000,snomed,nursing_home,Lives in a nursing home\n")
    data = tmp_path / "data"
    data.mkdir()
    row = one(data, codes=[code("160734000", date(2024, 1, 1))], config=FeatureConfig(data_end=END, codelists=str(lists)))
    assert row["excluded_reason"] == "nursing_home"


@pytest.mark.parametrize(("n_ed", "excluded"), [(4, False), (5, True)])
def test_five_ed_attendances_in_the_last_year_excludes_as_already_hiu(tmp_path, n_ed, excluded):
    events = [event(date(2024, 4, 1 + i)) for i in range(n_ed)] + [event(date(2024, 3, 31))]
    row = one(tmp_path, events=events)
    assert bool(row["in_cohort"]) is (not excluded)
    assert (row["excluded_reason"] == "already_hiu") is excluded


def test_exclusions_can_be_switched_off(tmp_path):
    row = one(tmp_path, codes=[code(PALLIATIVE, date(2025, 1, 1))], config=FeatureConfig(data_end=END, exclusions=()))
    assert row["in_cohort"] and pd.isna(row["excluded_reason"])


# --- labels -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("day", "counted"),
    [(date(2025, 9, 30), False), (date(2025, 10, 1), True), (date(2026, 9, 30), True), (date(2026, 10, 1), False)],
)
def test_outcome_window_includes_its_start_and_excludes_its_end(tmp_path, day, counted):
    row = one(tmp_path, events=[event(day, "emergency_admission")], labels=True)
    assert row["label_emergency_admission"] == int(counted)
    assert row["label_high_intensity_use"] == 0


def test_outcome_thresholds_each_make_a_high_intensity_user(tmp_path):
    persons = [person(p) for p in ("P1", "P2", "P3", "P4")]
    events = (
        [event(date(2025, 11, d), "ed", "P1") for d in range(1, 6)]
        + [event(date(2025, 11, d), "emergency_admission", "P2") for d in range(1, 3)]
        + [event(date(2025, 11, d), "ambulance", "P3") for d in range(1, 6)]
        + [event(date(2025, 12, d), "nhs111", "P3") for d in range(1, 6)]
        + [event(date(2025, 11, d), "ed", "P4") for d in range(1, 5)]
    )
    frame = build_features(write(tmp_path, persons=persons, events=events), as_of=[T], labels=True, config=CONFIG)
    assert frame["label_high_intensity_use"].tolist() == [1, 1, 1, 0]


def test_outcome_counts_events_recorded_late(tmp_path):
    row = one(tmp_path, events=[event(date(2025, 11, 1), "emergency_admission", recorded_at=datetime(2027, 1, 1))],
              labels=True)
    assert row["label_emergency_admission"] == 1


def test_no_label_when_the_data_end_before_the_outcome_window_does(tmp_path):
    config = FeatureConfig(data_end=date(2026, 9, 29))
    row = one(tmp_path, events=[event(date(2025, 11, 1), "emergency_admission")], labels=True, config=config)
    assert pd.isna(row["label_emergency_admission"]) and pd.isna(row["label_high_intensity_use"])
    covered = one(tmp_path, labels=True, config=FeatureConfig(data_end=date(2026, 9, 30)))
    assert covered["label_emergency_admission"] == 0  # data through 30 Sep 2026 cover [1 Oct 2025, 1 Oct 2026)


def test_labels_default_to_the_extract_date_of_the_data(tmp_path):
    data = write(tmp_path, events=[event(date(2026, 9, 30), "gp")])
    assert extract_date(data) == date(2026, 9, 30)
    frame = build_features(data, as_of=[T, add_months(T, 1)], labels=True)
    assert frame["label_emergency_admission"].tolist() == [0, pd.NA]


@pytest.mark.parametrize(
    ("overrides", "events", "expected"),
    [
        ({"death_date": date(2026, 2, 1)}, [event(date(2025, 12, 1), "emergency_admission")], 1),
        ({"death_date": date(2026, 2, 1)}, [], None),
        ({"registered_to": date(2026, 2, 1)}, [], None),
        ({"death_date": date(2025, 6, 1)}, [], None),
        ({"death_date": date(2026, 10, 1)}, [], 0),
        ({"registered_to": date(2026, 10, 1)}, [], 0),
        ({}, [], 0),
    ],
    ids=["dies-after-outcome", "dies-in-window", "leaves-in-window", "dies-before-window", "dies-on-window-end",
         "leaves-on-window-end", "followed-up"],
)
def test_death_or_deregistration_before_the_window_ends_leaves_no_label_unless_the_outcome_happened(
    tmp_path, overrides, events, expected
):
    row = one(tmp_path, persons=[person(**overrides)], events=events, labels=True)
    assert (None if pd.isna(row["label_emergency_admission"]) else row["label_emergency_admission"]) == expected


# --- table shape, inputs, config --------------------------------------------------------------------------------

def test_columns_and_dtypes_follow_the_registry(tmp_path):
    frame = build_features(write(tmp_path), as_of=[T], labels=True, config=CONFIG)
    names = predictor_names(CONFIG)
    assert list(frame.columns) == [
        "person_id", "as_of", "neighbourhood", "practice", "sex", "ethnic_group", "imd_quintile", "age_band",
        "excluded_reason", "in_cohort", *names, "label_high_intensity_use", "label_emergency_admission",
    ]
    assert all(str(frame[n].dtype) == PREDICTORS[n].dtype for n in names)
    assert str(frame["label_high_intensity_use"].dtype) == "Int8" and frame["in_cohort"].dtype == bool
    assert frame["as_of"].iloc[0] == pd.Timestamp(T)
    assert "ethnic_group" in frame.columns and "ethnic_white" not in names


def test_ethnicity_and_neighbourhood_become_predictors_only_when_configured(tmp_path):
    config = FeatureConfig(data_end=END, use_ethnicity=True, use_neighbourhood=True)
    row = one(tmp_path, config=config)
    assert (row["ethnic_white"], row["ethnic_asian"], row["neighbourhood_code"]) == (1, 0, "Wisbech")
    assert "neighbourhood_code" in predictor_names(config)


def test_csv_data_give_the_same_table_as_parquet(tmp_path):
    events = [event(date(2025, 3, 1), recorded_at=datetime(2025, 3, 2)), event(date(2025, 11, 1), "emergency_admission")]
    codes = [code(HOUSING, date(2025, 1, 15))]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    parquet = build_features(write(a, events=events, codes=codes), as_of=[T], labels=True, config=CONFIG)
    csv = build_features(write(b, events=events, codes=codes, fmt="csv"), as_of=[T], labels=True, config=CONFIG)
    pd.testing.assert_frame_equal(parquet, csv)


def test_optional_columns_may_be_absent(tmp_path):
    write(tmp_path, events=[event(date(2025, 3, 1))])
    pd.read_parquet(tmp_path / "events.parquet").drop(columns=["recorded_at", "cost_gbp"]).to_parquet(
        tmp_path / "events.parquet")
    row = build_features(tmp_path, as_of=[T], config=CONFIG).iloc[0]
    assert (row["ed_0_3m"], row["cost_12m"]) == (1, 0)


def test_missing_required_column_names_the_file_and_fix(tmp_path):
    write(tmp_path)
    pd.read_parquet(tmp_path / "persons.parquet").drop(columns=["birth_date"]).to_parquet(tmp_path / "persons.parquet")
    with pytest.raises(MissingColumnError, match="persons.parquet must have columns \\['birth_date'\\]"):
        build_features(tmp_path, as_of=[T], config=CONFIG)


def test_unparseable_csv_value_points_to_validation(tmp_path):
    write(tmp_path, events=[event(date(2025, 3, 1))], fmt="csv")
    text = (tmp_path / "events.csv").read_text().replace("2025-03-01", "2025-13-45")
    (tmp_path / "events.csv").write_text(text)
    with pytest.raises(ContractError, match="Run `risingrisk validate"):
        build_features(tmp_path, as_of=[T], config=CONFIG)


def test_duplicate_person_ids_are_refused(tmp_path):
    with pytest.raises(ContractError, match="person_id must be unique; got 1 duplicate"):
        build_features(write(tmp_path, persons=[person(), person()]), as_of=[T], config=CONFIG)


def test_dates_and_index_cannot_both_be_given_and_neither_may_be_empty(tmp_path):
    data = write(tmp_path)
    with pytest.raises(FeatureConfigError, match="must not both be given"):
        build_features(data, as_of=[T], index=pd.DataFrame({"person_id": ["P1"], "as_of": [T]}))
    with pytest.raises(FeatureConfigError, match="as_of must hold at least one date"):
        build_features(data, as_of=[])
    with pytest.raises(FeatureConfigError, match="index must hold at least one"):
        build_features(data, index=pd.DataFrame({"person_id": [], "as_of": []}))


def test_index_mode_matches_date_mode_and_scans_in_chunks_without_changing_results(tmp_path):
    persons = [person("P1"), person("P2", sex="M")]
    events = [event(date(2025, 3, 1)), event(date(2024, 12, 1), "gp", "P2"), event(date(2025, 11, 1), "ed", "P2")]
    data = write(tmp_path, persons=persons, events=events)
    dates = [T, date(2025, 1, 1), date(2024, 7, 1)]
    whole = build_features(data, as_of=dates, labels=True, config=CONFIG)
    chunked = build_features(data, as_of=dates, labels=True, config=FeatureConfig(data_end=END, rows_per_scan=1))
    indexed = build_features(data, index=whole[["person_id", "as_of"]].iloc[::-1], labels=True, config=CONFIG)
    pd.testing.assert_frame_equal(whole, chunked)
    pd.testing.assert_frame_equal(whole, indexed)
    assert whole["as_of"].is_monotonic_increasing


def test_config_round_trips_through_a_dict_and_rejects_unknown_keys():
    config = FeatureConfig(windows=((0, 1), (1, 12)), outcome_window=(3, 15), data_end=date(2026, 1, 1))
    assert FeatureConfig.load(config.to_dict()) == config
    with pytest.raises(FeatureConfigError, match="key 'window' is not a setting; did you mean 'windows'"):
        FeatureConfig.load({"window": [[0, 3]]})
    with pytest.raises(FeatureConfigError, match="outcome_window must be"):
        FeatureConfig(outcome_window=(18, 6))


def test_custom_windows_rename_the_count_predictors(tmp_path):
    config = FeatureConfig(data_end=END, windows=((0, 1), (1, 12)))
    row = one(tmp_path, events=[event(date(2025, 3, 15)), event(date(2025, 2, 1))], config=config)
    assert (row["ed_0_1m"], row["ed_1_12m"]) == (1, 1)
    assert "ed_0_3m" not in predictor_specs(config)


@pytest.mark.parametrize("labels", [True, False])
@pytest.mark.parametrize("index_mode", [True, False])
def test_every_sql_statement_transpiles_to_spark(labels, index_mode):
    config = FeatureConfig(use_ethnicity=True, use_neighbourhood=True, min_age=18, max_age=90)
    for name, select in statements(config, labels=labels, index_mode=index_mode):
        spark = sqlglot.transpile(select, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
        assert len(spark) == 1, name


def test_phrases_read_as_plain_english():
    assert describe("ed_0_3m", 4.0, row={"ed_3_6m": 0.0}) == "4 A&E attendances in the last 3 months (none in the 3 months before)"
    assert describe("ed_0_3m", 1.0) == "1 A&E attendance in the last 3 months"
    assert describe("days_since_ed", float("nan")) == "No A&E attendance in the last 24 months"
    assert describe("sn_lives_alone", 1.0) == "Lives alone or socially isolated"
    assert describe("age", 0.0) == "Aged 0" and describe("age", float("nan")) == "Age not known"
    assert describe("ed_trend", 2.0) == "+2 A&E attendances in the last 6 months compared with the 6 months before"
    assert PREDICTORS["ed_0_3m"].phrase.format(value=4.0) == "4 A&E attendances in the last 3 months"
    assert all(spec.description and spec.phrase for spec in PREDICTORS.values())


def test_age_limits_exclude_people_outside_the_range(tmp_path):
    persons = [person("P1", birth_date=date(2010, 1, 1)), person("P2")]
    frame = build_features(write(tmp_path, persons=persons), as_of=[T], config=FeatureConfig(data_end=END, min_age=18))
    assert frame["excluded_reason"].tolist()[0] == "outside_age_range" and pd.isna(frame["excluded_reason"].iloc[1])


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [(date(2025, 8, 31), -6, date(2025, 2, 28)), (date(2024, 3, 31), -1, date(2024, 2, 29)),
     (date(2025, 1, 15), 18, date(2026, 7, 15)), (date(2025, 12, 1), 1, date(2026, 1, 1))],
)
def test_calendar_months_clip_to_the_end_of_a_shorter_month(day, months, expected):
    assert add_months(day, months) == expected


def test_month_end_index_date_counts_the_clipped_window(tmp_path):
    as_of = date(2025, 5, 31)  # 3 months back is 28 Feb 2025
    row = one(tmp_path, as_of=as_of, events=[event(date(2025, 2, 28)), event(date(2025, 2, 27))])
    assert (row["ed_0_3m"], row["ed_3_6m"]) == (1, 1)


def test_extract_date_reads_csv_timestamps(tmp_path):
    data = write(tmp_path, events=[event(datetime(2026, 2, 3, 14, 5)), event(date(2025, 1, 1))], fmt="csv")
    assert extract_date(data) == date(2026, 2, 3)
