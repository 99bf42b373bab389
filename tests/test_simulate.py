"""The synthetic population: contract format, determinism, consistency, truth, dirty planting and the CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.codelists import load_codelists
from features.contract import SETTINGS, TABLES
from features.simulation import SimulationError, simulate
from features.simulation.config import NEIGHBOURHOODS
from features.simulation.dirty import RULES
from features.simulation.population import nhs_check_digit
from features.simulation.window import default_window, make_window
from risingrisk.cli import app

ARROW_KIND = {"string": pa.string(), "date": pa.date32(), "timestamp": pa.timestamp("us"), "int": pa.int64(), "float": pa.float64()}
SMALL = {"people": 1_000, "start": date(2022, 1, 1), "end": date(2023, 7, 1)}


def _digest(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*")) if p.is_file()}


def _read(directory: Path, name: str) -> pd.DataFrame:
    return pq.read_table(directory / f"{name}.parquet").to_pandas()


def test_the_same_seed_and_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    simulate(seed=5, out=tmp_path / "a", **SMALL)
    simulate(seed=5, out=tmp_path / "b", **SMALL)
    simulate(seed=6, out=tmp_path / "c", **SMALL)
    first, second, other = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert set(first) == {"persons.parquet", "events.parquet", "codes.parquet", "_truth/latent_risk.parquet", "_truth/calibration.json"}
    assert first == second
    assert first["events.parquet"] != other["events.parquet"]


def test_every_table_has_exactly_the_contract_columns_with_arrow_types(sim_dir: Path) -> None:
    for name, columns in TABLES.items():
        schema = pq.read_schema(sim_dir / f"{name}.parquet")
        assert schema.names == [c.name for c in columns]
        assert [schema.field(c.name).type for c in columns] == [ARROW_KIND[c.kind] for c in columns]


def test_person_ids_are_unique_and_every_nhs_number_passes_modulus_11(sim_dir: Path) -> None:
    persons = _read(sim_dir, "persons")
    assert len(persons) == 20_000 and persons["person_id"].is_unique and persons["nhs_number"].is_unique
    digits = np.array([list(map(int, s)) for s in persons["nhs_number"]])
    assert digits.shape == (20_000, 10)
    assert (nhs_check_digit(digits[:, :9]) == digits[:, 9]).all()


def test_people_live_in_the_19_named_neighbourhoods_with_several_practices_each(sim_dir: Path) -> None:
    persons = _read(sim_dir, "persons")
    assert set(persons["neighbourhood"]) == {nb.name for nb in NEIGHBOURHOODS}
    practices = persons.groupby("neighbourhood")["practice"].nunique()
    assert practices.min() >= 3
    assert persons["practice"].str.fullmatch(r"D81\d{3}").all()
    assert persons.groupby("practice")["neighbourhood"].nunique().max() == 1
    assert persons["lsoa"].dropna().str.fullmatch(r"E01\d{6}").all()
    assert persons["imd_decile"].dropna().between(1, 10).all()
    assert set(persons["sex"]) <= {"F", "M", "U"}


def test_registration_joins_leaves_and_deaths_all_happen_inside_the_window(sim_dir: Path) -> None:
    persons = _read(sim_dir, "persons")
    start, end = pd.Timestamp("2021-01-01"), pd.Timestamp("2025-01-01")
    registered_from = pd.to_datetime(persons["registered_from"])
    registered_to = pd.to_datetime(persons["registered_to"])
    death = pd.to_datetime(persons["death_date"])
    assert ((registered_from >= start) & (registered_from < end)).mean() > 0.05
    assert registered_to.between(start, end - pd.Timedelta(days=1)).sum() > 500
    assert death.between(start, end - pd.Timedelta(days=1)).sum() > 300
    assert (registered_to.dropna() > registered_from[registered_to.notna()]).all()
    assert (death.dropna() > pd.to_datetime(persons["birth_date"])[death.notna()]).all()


def test_every_event_falls_while_its_person_is_registered_and_alive(sim_dir: Path) -> None:
    persons = _read(sim_dir, "persons").set_index("person_id")
    events = _read(sim_dir, "events")
    day = events["event_date"].dt.floor("D")
    begin = pd.to_datetime(persons["registered_from"]).reindex(events["person_id"]).to_numpy()
    stop = pd.to_datetime(persons["registered_to"]).fillna(pd.to_datetime(persons["death_date"])).fillna(pd.Timestamp("2025-01-01"))
    assert (day.to_numpy() >= begin).all()
    assert (events["event_date"].to_numpy() < stop.reindex(events["person_id"]).to_numpy()).all()
    assert set(events["setting"]) == set(SETTINGS)


def test_every_code_starts_after_birth_and_before_death_or_leaving(sim_dir: Path) -> None:
    persons = _read(sim_dir, "persons").set_index("person_id")
    codes = _read(sim_dir, "codes")
    start = pd.to_datetime(codes["start_date"]).to_numpy()
    birth = pd.to_datetime(persons["birth_date"]).reindex(codes["person_id"]).to_numpy()
    stop = pd.to_datetime(persons["registered_to"]).fillna(pd.to_datetime(persons["death_date"])).fillna(pd.Timestamp("2025-01-01"))
    assert (start >= birth).all()
    assert (start < stop.reindex(codes["person_id"]).to_numpy()).all()


def test_recorded_at_is_never_before_the_event_and_never_after_the_window_end(sim_dir: Path) -> None:
    events, codes = _read(sim_dir, "events"), _read(sim_dir, "codes")
    end = pd.Timestamp("2025-01-01")
    assert (events["recorded_at"] >= events["event_date"]).all() and (events["recorded_at"] < end).all()
    assert (codes["recorded_at"] >= pd.to_datetime(codes["start_date"])).all() and (codes["recorded_at"] < end).all()
    lag_days = (events["recorded_at"] - events["event_date"]).dt.days
    assert lag_days.median() <= 7 and 0.005 < (lag_days > 30).mean() < 0.05
    ended = codes["end_date"].notna()
    assert (pd.to_datetime(codes["end_date"][ended]) > pd.to_datetime(codes["start_date"][ended])).all()


def test_codes_cover_every_code_list_category_plus_a_share_in_no_list(sim_dir: Path) -> None:
    lists = load_codelists()
    codes = _read(sim_dir, "codes")
    listed = codes["code"].isin(set(lists["code"]))
    coded = set(lists.loc[lists["code"].isin(set(codes["code"])), "category"])
    assert coded == set(lists["category"])
    assert (codes["code"] == "818241000000105").sum() >= 10
    assert 0.2 < (~listed).mean() < 0.6
    assert (codes["code_system"] == "snomed").all()


def test_end_of_life_and_nursing_home_codes_are_mostly_for_people_over_65(sim_dir: Path) -> None:
    lists = load_codelists()
    persons = _read(sim_dir, "persons").set_index("person_id")
    codes = _read(sim_dir, "codes")
    status = lists.loc[lists["category"].isin(["end_of_life", "nursing_home"]), "code"]
    rows = codes[codes["code"].isin(set(status))]
    age = (pd.to_datetime(rows["start_date"]) - pd.to_datetime(persons["birth_date"].reindex(rows["person_id"])).to_numpy()).dt.days / 365.25
    assert len(rows) >= 50 and (age >= 65).mean() > 0.8


def test_latent_truth_is_one_row_per_active_person_month_and_its_rates_sum_to_the_observed_counts(sim_dir: Path) -> None:
    truth = pq.read_table(sim_dir / "_truth" / "latent_risk.parquet")
    assert truth.schema.names == ["person_id", "month", "ed_rate", "emergency_admission_rate", "ambulance_111_rate"]
    frame = truth.to_pandas()
    assert not frame.duplicated(["person_id", "month"]).any()
    assert frame["month"].nunique() == 48 and (pd.to_datetime(frame["month"]).dt.day == 1).all()
    events = _read(sim_dir, "events")
    observed = events["setting"].value_counts()
    # observed counts are Poisson draws from these rates (minus the few rows recorded after the window end)
    assert observed["ed"] == pytest.approx(frame["ed_rate"].sum(), rel=0.03)
    assert observed["emergency_admission"] == pytest.approx(frame["emergency_admission_rate"].sum(), rel=0.05)
    assert observed["ambulance"] + observed["nhs111"] == pytest.approx(frame["ambulance_111_rate"].sum(), rel=0.03)


def test_new_high_intensity_users_had_more_needs_and_rising_primary_and_111_contacts_beforehand(sim_dir: Path) -> None:
    events, codes = _read(sim_dir, "events"), _read(sim_dir, "codes")
    year = events["event_date"].dt.year
    ed = events[events["setting"] == "ed"]
    per_year = ed.groupby([ed["person_id"], ed["event_date"].dt.year]).size().unstack(fill_value=0)
    new_hiu = per_year.index[(per_year.get(2024, 0) >= 5) & (per_year.get(2023, 0) <= 2)]
    others = per_year.index.difference(new_hiu)
    before = events[(year == 2023) & events["setting"].isin(["gp", "nhs111", "ambulance"])].groupby("person_id").size()
    persons = _read(sim_dir, "persons")["person_id"]
    before = before.reindex(persons, fill_value=0)
    assert len(new_hiu) >= 20
    assert before[new_hiu].mean() > 2 * before.drop(new_hiu).mean()
    needs = set(load_codelists().query("group == 'social_need'")["code"])
    with_need = set(codes.loc[codes["code"].isin(needs) & (codes["recorded_at"] < pd.Timestamp("2024-01-01")), "person_id"])
    share_new = np.mean([p in with_need for p in new_hiu])
    share_all = np.mean([p in with_need for p in persons])
    assert share_new > 1.5 * share_all
    # some people improve: most of the first year's high intensity users are not high intensity users in the last
    hiu_2021 = per_year.index[per_year.get(2021, 0) >= 5]
    assert (per_year.loc[hiu_2021, 2024] < 5).mean() > 0.5
    assert len(others) > 0


def test_dirty_output_is_csv_and_adds_exactly_the_rows_in_the_manifest(sim_dir: Path, sim_dir_dirty: Path) -> None:
    manifest = json.loads((sim_dir_dirty / "_truth" / "dirty_manifest.json").read_text())
    assert not any(sim_dir_dirty.glob("*.parquet"))
    for name in TABLES:
        dirty = pacsv.read_csv(sim_dir_dirty / f"{name}.csv", convert_options=pacsv.ConvertOptions(column_types={c.name: pa.string() for c in TABLES[name]}))
        clean = pq.read_table(sim_dir / f"{name}.parquet")
        assert dirty.column_names == clean.column_names
        assert dirty.num_rows - clean.num_rows == sum(manifest[name].values())
        assert set(manifest[name]) <= set(RULES)
    assert manifest["persons"] == {
        "bad_type": 5, "death_before_birth": 5, "duplicate_person_id": 5, "future_date": 5, "invalid_nhs_number": 5,
        "invalid_value": 7, "missing_required": 5, "registered_to_before_registered_from": 5, "unparseable_date": 5,
    }
    assert manifest["events"]["person_rejected"] == 6 and manifest["codes"]["person_rejected"] == 4
    assert manifest["events"]["event_after_death"] == 5 and manifest["events"]["duplicate_event"] == 5


def test_new_bad_persons_have_no_events_or_codes_except_the_rejected_ones(sim_dir: Path, sim_dir_dirty: Path) -> None:
    read = lambda name: pacsv.read_csv(sim_dir_dirty / f"{name}.csv", convert_options=pacsv.ConvertOptions(strings_can_be_null=True)).to_pandas()  # noqa: E731
    persons, events, codes = read("persons"), read("events"), read("codes")
    clean_ids = set(_read(sim_dir, "persons")["person_id"])
    new = persons[~persons["person_id"].isin(clean_ids)]
    assert len(new) == 5 * 8 + 2
    referenced = set(events["person_id"]) | set(codes["person_id"])
    assert set(new["person_id"]) & referenced == set(new.loc[new["sex"] == "X", "person_id"])


def test_window_bounds_must_be_first_days_of_months_and_cover_a_year() -> None:
    with pytest.raises(SimulationError, match=r"start must be the first day of a month; got 2022-01-15\. Use 2022-01-01"):
        make_window(date(2022, 1, 15), date(2024, 1, 1))
    with pytest.raises(SimulationError, match="at least 12 months; got 6"):
        make_window(date(2023, 7, 1), date(2024, 1, 1))
    assert default_window(date(2025, 3, 17)) == (date(2021, 3, 1), date(2025, 3, 1))
    assert make_window(date(2022, 1, 1), date(2023, 1, 1)).n_months == 12


def test_too_few_people_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="people must be at least 100; got 10"):
        simulate(people=10, seed=1, out=tmp_path)


def test_the_cli_writes_a_data_directory_and_prints_the_calibration_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--people", "500", "--seed", "3", "--out", str(tmp_path / "d"), "--start", "2022-01-01", "--end", "2023-01-01"]
    )
    assert result.exit_code == 0, result.output
    assert "Calibration: simulated vs target" in result.output
    assert {p.name for p in (tmp_path / "d").iterdir()} == {"persons.parquet", "events.parquet", "codes.parquet", "_truth"}
    calibration = json.loads((tmp_path / "d" / "_truth" / "calibration.json").read_text())
    assert {"figure", "simulated", "target", "low", "high", "passed"} <= set(calibration[0])


def test_the_cli_rejects_a_mid_month_start_with_the_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--people", "500", "--seed", "3", "--out", str(tmp_path), "--start", "2022-01-15"])
    assert result.exit_code == 2
    assert "first day of a month" in result.output
