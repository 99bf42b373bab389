"""Every predictor is declared once: the SQL builder, the pandas oracle and the reason text all come from its declaration."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from features import definitions
from features.build import build_features
from features.config import FeatureConfig
from features.contract import SETTINGS
from features.dates import add_months, extract_date
from features.definitions import PREDICTORS, FeatureSpec, describe, predictor_specs
from features.reference import reference_features
from features.sources import read_table
from models.reasons import group_features, reason_text
from serving.score import build_timeline

from features_support import DIABETES, HOUSING, PALLIATIVE, code, event, person, write

#: Every optional predictor switched on, so every declaration is exercised.
EVERYTHING = FeatureConfig(use_ethnicity=True, use_neighbourhood=True)


def assert_engines_agree(built: pd.DataFrame, oracle: pd.DataFrame, config: FeatureConfig) -> None:
    names = list(predictor_specs(config))
    left = built[["person_id", "as_of", *names]].reset_index(drop=True)
    right = oracle[["person_id", "as_of", *names]].reset_index(drop=True)
    for name in names:
        if predictor_specs(config)[name].dtype == "category":
            left[name], right[name] = left[name].astype(str), right[name].astype(str)
    pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=False, rtol=1e-9)


def hand_built(tmp_path):
    """Four people, each a different shape: busy and coded, quiet, unknown sex and decile, recently registered."""
    t = date(2025, 4, 1)
    persons = [
        person("A", sex="F", ethnic_group="Asian", imd_decile=1),
        person("B", sex="M", ethnic_group=None, imd_decile=10, birth_date=date(1950, 4, 1)),
        person("C", sex=None, imd_decile=None, neighbourhood="March", birth_date=date(2020, 3, 31)),
        person("D", registered_from=date(2025, 1, 15), birth_date=date(1930, 12, 31)),
    ]
    events = [
        event(datetime(2025, 3, 31, 23), "ed", "A", cost=120.0),
        event(date(2025, 2, 1), "ed", "A", cost=130.0),
        event(date(2024, 11, 1), "ambulance", "A", cost=300.0),
        event(date(2024, 6, 1), "emergency_admission", "A", cost=3000.0),
        event(date(2023, 5, 1), "gp", "A", cost=40.0),
        event(date(2025, 3, 1), "gp", "A", recorded_at=datetime(2025, 4, 2)),  # recorded after T: unknown at T
        event(date(2024, 9, 30), "nhs111", "B", cost=15.0),
        event(date(2025, 1, 20), "outpatient", "D", cost=150.0),
    ]
    codes = [
        code(HOUSING, date(2024, 8, 1), person_id="A"),
        code(DIABETES, date(2019, 1, 1), person_id="A"),
        code(DIABETES, date(2020, 1, 1), end=date(2022, 1, 1), person_id="B"),
        code(PALLIATIVE, date(2025, 3, 1), person_id="D", recorded_at=datetime(2025, 5, 1)),
    ]
    return write(tmp_path, persons=persons, events=events, codes=codes), t


def test_every_declared_predictor_is_built_equally_by_duckdb_and_the_pandas_reference_on_a_hand_built_population(tmp_path):
    data, t = hand_built(tmp_path)
    config = EVERYTHING.model_copy(update={"data_end": date(2027, 1, 1)})
    built = build_features(data, as_of=[t], config=config)
    oracle = reference_features(data, [t], data_end=date(2027, 1, 1), config=config)
    assert list(built["person_id"]) == ["A", "B", "C", "D"]
    assert_engines_agree(built, oracle, config)
    a = built.set_index("person_id").loc["A"]
    assert (a["ed_0_3m"], a["ed_trend"], a["days_since_ed"], a["gp_12_24m"], a["gp_0_3m"]) == (2.0, 2.0, 1.0, 1.0, 0.0)
    assert (a["sn_housing_insecurity"], a["ltc_count"], a["ethnic_asian"], a["cost_12m"]) == (1.0, 1.0, 1.0, 3550.0)
    assert np.isnan(built.set_index("person_id").loc["C", "sex_female"])


@pytest.mark.slow
def test_every_declared_predictor_is_built_equally_by_duckdb_and_the_pandas_reference_on_the_simulated_population(sim_dir):
    end = extract_date(sim_dir)
    dates = [add_months(end, -14), add_months(end, -1)]
    config = EVERYTHING.model_copy(update={"data_end": end})
    built = build_features(sim_dir, as_of=dates, config=config)
    oracle = reference_features(sim_dir, dates, data_end=end, config=config)
    assert_engines_agree(built, oracle, config)
    numeric = [n for n, s in predictor_specs(config).items() if s.dtype == "float64"]
    assert [n for n in numeric if not built[n].fillna(0).ne(0).any()] == []  # every predictor is exercised
    assert built["neighbourhood_code"].nunique() > 1


def test_every_declared_predictor_has_a_direction_and_reads_as_non_empty_text_for_typical_values():
    for name, spec in PREDICTORS.items():
        assert spec.direction in ("raises", "lowers", "either"), name
        for value in (None, 0.0, 1.0, 7.0) if spec.dtype == "float64" else (None, "Wisbech"):
            assert describe(name, value, row={}, as_of=date(2025, 4, 1)), (name, value)
    values = {name: (3.0 if spec.dtype == "float64" else "Wisbech") for name, spec in PREDICTORS.items()}
    for group in group_features(list(PREDICTORS)):
        assert reason_text(group, values, as_of=date(2025, 4, 1)), group.key


def test_clinically_expected_directions_are_declared_for_use_conditions_recency_trends_and_demographics():
    assert {PREDICTORS[n].direction for n in ("ed_0_3m", "ltc_count", "ltc_diabetes", "sn_homeless", "settings_used_12m")} == {"raises"}
    assert PREDICTORS["days_since_ed"].direction == "lowers"
    assert {PREDICTORS[n].direction for n in ("ed_trend", "imd_decile", "age", "sex_female", "sn_homeless_months")} == {"either"}


def test_adding_a_predictor_is_one_declaration_that_reaches_the_sql_the_reference_and_the_reason_text(tmp_path, monkeypatch):
    gp_last_month = FeatureSpec(
        name="gp_0_1m", dtype="float64", description="Number of GP contacts in the last month.",
        phrase="{value:.0f} GP contacts in the last month", kind="count", group="utilisation", direction="raises",
        sql=lambda q: q.count("gp", 0, 1), reference=lambda r: r.count("gp", 0, 1),
        setting="gp", window=(0, 1), singular="1 GP contact in the last month", none="No GP contacts in the last month",
    )
    monkeypatch.setattr(definitions, "FAMILIES", [*definitions.FAMILIES, lambda _config: [gp_last_month]])
    t = date(2025, 4, 1)
    events = [event(date(2025, 3, 20), "gp"), event(date(2025, 3, 25), "gp"), event(date(2025, 2, 20), "gp")]
    data = write(tmp_path, events=events)
    config = FeatureConfig(data_end=date(2027, 1, 1))
    built = build_features(data, as_of=[t], config=config)
    oracle = reference_features(data, [t], data_end=date(2027, 1, 1), config=config)
    assert (built.loc[0, "gp_0_1m"], oracle.loc[0, "gp_0_1m"], built.loc[0, "gp_0_3m"]) == (2.0, 2.0, 3.0)
    specs = predictor_specs(config)
    names = list(specs)
    (gp,) = [g for g in group_features(names, specs) if g.key == "gp"]
    assert gp.members[:2] == ("gp_0_1m", "gp_0_3m")
    values = built.loc[0, gp.members].to_dict()
    assert reason_text(gp, values, specs=specs, contributions={"gp_0_1m": 0.5}) == "2 GP contacts in the last month"


def test_a_declaration_compares_equal_by_its_text_not_its_functions():
    spec = PREDICTORS["ed_0_3m"]
    assert replace(spec, sql=lambda q: "0", reference=lambda r: r.people["age"]) == spec


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_data_folder_whose_path_holds_a_quote_and_a_space_is_read_safely(tmp_path, fmt):
    folder = tmp_path / "it's an extract"
    folder.mkdir()
    data = write(folder, events=[event(date(2025, 3, 1)), event(date(2025, 3, 31), "gp")], fmt=fmt)
    assert extract_date(data) == date(2025, 3, 31)
    built = build_features(data, as_of=[date(2025, 4, 1)])
    assert (built.loc[0, "ed_0_3m"], built.loc[0, "gp_0_3m"]) == (1.0, 1.0)


def test_csv_is_read_in_the_contracts_declared_types_not_guessed_and_equals_its_parquet(tmp_path):
    persons = [person("007", imd_decile=None, practice="0123")]
    events = [event(date(2025, 3, 1), person_id="007", recorded_at=datetime(2025, 3, 5))]
    (tmp_path / "p").mkdir()
    (tmp_path / "c").mkdir()
    parquet = write(tmp_path / "p", persons=persons, events=events)
    csv = write(tmp_path / "c", persons=persons, events=events, fmt="csv")
    for name in ("persons", "events", "codes"):
        pd.testing.assert_frame_equal(read_table(csv, name), read_table(parquet, name), check_dtype=False)
    people = read_table(csv, "persons")
    assert (people.loc[0, "person_id"], people.loc[0, "practice"]) == ("007", "0123")
    assert read_table(csv, "events").loc[0, "recorded_at"] == pd.Timestamp(2025, 3, 5)


def test_recorded_at_defaults_to_the_event_date_in_the_one_reader(tmp_path):
    data = write(tmp_path, events=[event(datetime(2025, 3, 1, 14))])
    assert read_table(data, "events").loc[0, "recorded_at"] == pd.Timestamp(2025, 3, 1, 14)


def test_every_setting_of_the_contract_has_count_predictors_declared():
    assert {spec.setting for spec in PREDICTORS.values() if spec.window} == set(SETTINGS)


def test_the_timeline_reads_csv_through_the_one_reader_under_the_two_clocks_from_a_quoted_path(tmp_path):
    folder = tmp_path / "o'brien extract"
    folder.mkdir()
    events = [
        event(date(2025, 3, 1), "ed"),
        event(date(2025, 3, 2), "ed", recorded_at=datetime(2025, 4, 3)),  # known only after T
        event(date(2023, 3, 1), "gp"),  # before the 24-month timeline
        event(date(2025, 1, 5), "gp", person_id="P2"),
    ]
    data = write(folder, persons=[person("P1"), person("P2")], events=events, fmt="csv")
    frame = build_timeline(data, date(2025, 4, 1), pd.Series(["P1"]))
    assert frame.to_dict("records") == [{"person_id": "P1", "month": date(2025, 3, 1), "setting": "ed", "count": 1}]
