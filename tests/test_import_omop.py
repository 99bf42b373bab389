"""Tests for the OMOP CDM importer on a tiny hand-written CDM folder (CSV and Parquet)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from database_support import BACKENDS, fresh_database_url

from features.errors import ConfigError
from features.importers.errors import ImportSourceError, MappingError
from features.importers.mapping import DEFAULT_OMOP_MAPPING, load_omop_mapping
from features.importers.omop import import_omop
from features.validate import validate
from import_support import write_table
from risingrisk.commands.importers import import_app


@pytest.fixture
def cdm(tmp_path: Path) -> Path:
    """Three people, five visits, four codes, two costs; every mapping rule and reason appears once."""
    src = tmp_path / "cdm"
    write_table(src, "person", [
        {"person_id": 1, "gender_concept_id": 8532, "year_of_birth": 1950, "month_of_birth": 3, "day_of_birth": 4, "care_site_id": 77},
        {"person_id": 2, "gender_concept_id": 8507, "year_of_birth": 1980, "month_of_birth": None, "day_of_birth": None, "care_site_id": None},
        {"person_id": 3, "gender_concept_id": 0, "year_of_birth": None, "month_of_birth": None, "day_of_birth": None, "care_site_id": None},
    ])
    write_table(src, "observation_period", [
        {"person_id": 1, "observation_period_start_date": "2015-01-01", "observation_period_end_date": "2020-06-30"},
        {"person_id": 1, "observation_period_start_date": "2020-07-01", "observation_period_end_date": "2024-12-31"},
    ], parquet=True)
    write_table(src, "death", [{"person_id": 1, "death_date": "2024-12-01"}])
    write_table(src, "visit_occurrence", [
        {"visit_occurrence_id": 10, "person_id": 1, "visit_concept_id": 9203, "visit_start_date": "2023-01-01", "admitted_from_concept_id": None},
        {"visit_occurrence_id": 11, "person_id": 1, "visit_concept_id": 9201, "visit_start_date": "2023-01-02", "admitted_from_concept_id": 8870},
        {"visit_occurrence_id": 12, "person_id": 2, "visit_concept_id": 9201, "visit_start_date": "2023-01-03", "admitted_from_concept_id": None},
        {"visit_occurrence_id": 13, "person_id": 2, "visit_concept_id": 9202, "visit_start_date": "2023-01-04", "admitted_from_concept_id": None},
        {"visit_occurrence_id": 14, "person_id": 2, "visit_concept_id": 581478, "visit_start_date": "2023-01-05", "admitted_from_concept_id": None},
        {"visit_occurrence_id": 15, "person_id": 2, "visit_concept_id": 32036, "visit_start_date": "2023-01-06", "admitted_from_concept_id": None},
    ])
    write_table(src, "visit_detail", [{"visit_detail_id": 1, "person_id": 1, "visit_occurrence_id": 11}])
    write_table(src, "concept", [
        {"concept_id": 201826, "concept_code": "44054006", "vocabulary_id": "SNOMED"},
        {"concept_id": 4053118, "concept_code": "160903007", "vocabulary_id": "SNOMED"},
        {"concept_id": 45542411, "concept_code": "E11", "vocabulary_id": "ICD10"},
    ])
    write_table(src, "condition_occurrence", [
        {"person_id": 1, "condition_concept_id": 201826, "condition_source_concept_id": 45542411,
         "condition_start_date": "2019-05-05", "condition_end_date": None},
        {"person_id": 2, "condition_concept_id": 0, "condition_source_concept_id": 45542411,
         "condition_start_date": "2019-05-05", "condition_end_date": None},
    ])
    write_table(src, "observation", [
        {"person_id": 2, "observation_concept_id": 0, "observation_source_concept_id": 4053118, "observation_date": "2022-02-02"},
    ])
    write_table(src, "procedure_occurrence", [
        {"person_id": 1, "procedure_concept_id": 4053118, "procedure_source_concept_id": 0,
         "procedure_date": None, "procedure_end_date": None},
    ])
    write_table(src, "cost", [
        {"cost_event_id": 10, "cost_domain_id": "Visit", "total_cost": 180.0, "total_charge": None},
        {"cost_event_id": 11, "cost_domain_id": "Visit", "total_cost": None, "total_charge": 2500.0},
        {"cost_event_id": 99, "cost_domain_id": "Visit", "total_cost": 5.0, "total_charge": None},
        {"cost_event_id": 1, "cost_domain_id": "Drug", "total_cost": 3.0, "total_charge": None},
    ])
    return src


def test_visit_concepts_map_to_settings_with_costs_and_unmatched_visits_are_reported(cdm: Path, tmp_path: Path) -> None:
    report = import_omop(cdm, tmp_path / "out")
    events = pq.read_table(tmp_path / "out" / "events.parquet").to_pylist()
    assert [(e["person_id"], e["event_date"], e["setting"], e["cost_gbp"]) for e in events] == [
        ("1", datetime(2023, 1, 1), "ed", 180.0),
        ("1", datetime(2023, 1, 2), "emergency_admission", 2500.0),
        ("2", datetime(2023, 1, 3), "elective_admission", None),
        ("2", datetime(2023, 1, 4), "outpatient", None),
        ("2", datetime(2023, 1, 5), "ambulance", None),
    ]
    assert report.inputs["visit_occurrence"].not_mapped == {"no_setting_rule": 1}
    assert report.inputs["visit_occurrence"].examples["no_setting_rule"][0].detail == "visit_concept_id=32036 admitted_from_concept_id=None"
    assert report.inputs["cost"].not_mapped == {"cost_domain_not_visit": 1, "visit_not_found": 1}
    assert report.inputs["visit_detail"].not_mapped == {"counted_in_visit_occurrence": 1}
    assert report.visit_classification == {
        "default_no_admission_method": {"elective_admission": 1},
        "er_marker": {"emergency_admission": 1},
        "not_mapped": {"no_setting_rule": 1},
        "visit_concept": {"ambulance": 1, "ed": 1, "outpatient": 1},
    }


def test_persons_take_registration_from_observation_periods_and_death_from_the_death_table(cdm: Path, tmp_path: Path) -> None:
    report = import_omop(cdm, tmp_path / "out")
    persons = pq.read_table(tmp_path / "out" / "persons.parquet").to_pylist()
    assert [(p["person_id"], p["birth_date"], p["sex"], p["practice"], p["registered_from"], p["registered_to"], p["death_date"])
            for p in persons] == [
        ("1", date(1950, 3, 4), "F", "77", date(2015, 1, 1), None, date(2024, 12, 1)),
        ("2", date(1980, 1, 1), "M", None, date(1980, 1, 1), None, None),
    ]
    assert report.inputs["person"].not_mapped == {"missing_birth_date": 1}
    assert report.defaults_applied == {
        "events.setting=elective_admission (inpatient visit without ER marker or listed admission method)": 1,
        "persons.birth_date month/day=1 (only year_of_birth)": 1,
        "persons.registered_from=birth_date (no observation_period)": 1,
    }


def test_codes_resolve_standard_then_source_snomed_concepts_and_other_vocabularies_are_reported(cdm: Path, tmp_path: Path) -> None:
    report = import_omop(cdm, tmp_path / "out")
    codes = pq.read_table(tmp_path / "out" / "codes.parquet").to_pylist()
    assert [(c["person_id"], c["code"], c["code_system"], c["start_date"]) for c in codes] == [
        ("1", "44054006", "snomed", date(2019, 5, 5)),
        ("2", "160903007", "snomed", date(2022, 2, 2)),
    ]
    assert report.inputs["condition_occurrence"].not_mapped == {"concept_not_in_mapped_vocabulary": 1}
    assert report.inputs["procedure_occurrence"].not_mapped == {"missing_person_or_date": 1}
    assert report.inputs["concept"].not_mapped == {"vocabulary_not_in_mapping": 1}


def test_uk_ambulance_concept_38004353_and_ambulance_visit_581478_both_map_to_ambulance(tmp_path: Path) -> None:
    # NHS SUS-based ETLs (answerdigital/oxford-omop-data-mapper) code arrival by ambulance as 38004353 "Ambulance";
    # the OHDSI Visit vocabulary's own concept is 581478 "Ambulance Visit".
    src = tmp_path / "cdm"
    write_table(src, "person", [{"person_id": 1, "gender_concept_id": 8507, "year_of_birth": 1950, "month_of_birth": 1, "day_of_birth": 2}])
    write_table(src, "visit_occurrence", [
        {"visit_occurrence_id": 1, "person_id": 1, "visit_concept_id": 38004353, "visit_start_date": "2023-01-01"},
        {"visit_occurrence_id": 2, "person_id": 1, "visit_concept_id": 581478, "visit_start_date": "2023-01-02"},
    ])
    report = import_omop(src, tmp_path / "out")
    events = pq.read_table(tmp_path / "out" / "events.parquet").to_pylist()
    assert [(e["event_date"], e["setting"]) for e in events] == [
        (datetime(2023, 1, 1), "ambulance"), (datetime(2023, 1, 2), "ambulance"),
    ]
    assert report.inputs["visit_occurrence"].not_mapped == {}


def test_report_accounts_for_every_row_of_every_table(cdm: Path, tmp_path: Path) -> None:
    report = import_omop(cdm, tmp_path / "out")
    assert {name: counts.read for name, counts in report.inputs.items()} == {
        "concept": 3, "condition_occurrence": 2, "cost": 4, "death": 1, "observation": 1, "observation_period": 2,
        "person": 3, "procedure_occurrence": 1, "visit_detail": 1, "visit_occurrence": 6,
    }
    for counts in report.inputs.values():
        assert counts.read == counts.mapped + counts.not_mapped_total


def test_imported_cdm_is_accepted_by_validate(cdm: Path, tmp_path: Path) -> None:
    import_omop(cdm, tmp_path / "out")
    report = validate(tmp_path / "out", out=tmp_path / "validated", extract_date=date(2025, 1, 1))
    assert report.rows_quarantined == 0
    assert {name: t.rows_accepted for name, t in report.tables.items()} == {"persons": 2, "events": 5, "codes": 2}


def test_folder_without_person_table_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    write_table(tmp_path / "cdm", "death", [{"person_id": 1, "death_date": "2024-12-01"}])
    with pytest.raises(ImportSourceError, match="SRC must hold the OMOP person table as person.parquet or person.csv"):
        import_omop(tmp_path / "cdm", tmp_path / "out")


def test_omop_mapping_rule_without_visit_concepts_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_OMOP_MAPPING.read_text().replace("visit_concepts = [9202]", "visit_concepts = []"))
    with pytest.raises(MappingError, match=r"visit_rules\.4\.visit_concepts"):
        load_omop_mapping(bad)


def test_import_omop_command_uses_a_custom_mapping_and_prints_the_report(cdm: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(DEFAULT_OMOP_MAPPING.read_text() + '\n[[visit_rules]]\nsetting = "community"\nvisit_concepts = [32036]\n')
    result = CliRunner().invoke(
        import_app, ["omop", str(cdm), "--out", str(tmp_path / "out"), "--mapping", str(mapping)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "persons 2, events 6, codes 2" in result.output
    bad = CliRunner().invoke(import_app, ["omop", str(cdm), "--out", str(tmp_path / "o2"), "--mapping", str(tmp_path / "none.toml")])
    assert bad.exit_code == 2 and "config file must exist" in bad.output


def _load_into_database(folder: Path, url: str, schema: str | None) -> None:
    """Copy every table of an OMOP folder into a database, date columns typed as SQL dates, like a real CDM."""
    engine = create_engine(url)
    with engine.begin() as connection:
        if schema:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        for path in sorted(folder.iterdir()):
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
            for column in frame.columns:
                if column.endswith("_date"):
                    frame[column] = [None if pd.isna(v) else date.fromisoformat(v) for v in frame[column]]
            frame.to_sql(path.stem.upper() if path.stem == "person" else path.stem, connection, schema=schema, index=False)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def cdm_database(request: pytest.FixtureRequest, cdm: Path, tmp_path: Path) -> Iterator[str]:
    """The tiny CDM in a new database (PostgreSQL: in its own schema ``cdm``, named by ``?schema=``)."""
    for url in fresh_database_url(request.param, tmp_path):
        schema = "cdm" if request.param == "postgresql" else None
        _load_into_database(cdm, url, schema)
        yield f"{url}?schema={schema}" if schema else url


def _without_files(report) -> dict:
    """The report's counts and examples, with the example locations' file names dropped (they name the source)."""
    return {
        name: replace(counts, examples={r: [replace(e, file="") for e in ex] for r, ex in counts.examples.items()})
        for name, counts in report.inputs.items()
    }


def test_a_database_cdm_gives_exactly_the_folders_tables_and_report(cdm: Path, cdm_database: str, tmp_path: Path) -> None:
    from_folder = import_omop(cdm, tmp_path / "folder")
    from_database = import_omop(cdm_database, tmp_path / "database", chunk_rows=2)
    for name in ("persons", "events", "codes"):
        assert pq.read_table(tmp_path / "database" / f"{name}.parquet").equals(pq.read_table(tmp_path / "folder" / f"{name}.parquet")), name
    assert _without_files(from_database) == _without_files(from_folder)
    assert (from_database.rows_written, from_database.defaults_applied, from_database.warnings) == (
        from_folder.rows_written, from_folder.defaults_applied, from_folder.warnings)
    assert from_database.rows_written == {"persons": 2, "events": 5, "codes": 2}
    example = from_database.inputs["visit_occurrence"].examples["no_setting_rule"][0]
    assert example.file.endswith("table cdm.visit_occurrence" if "postgresql" in cdm_database else "table visit_occurrence")


def test_a_database_password_never_reaches_the_report(cdm_database: str, tmp_path: Path) -> None:
    report = import_omop(cdm_database, tmp_path / "out")
    password = make_url(cdm_database).password
    written = (tmp_path / "out" / "import_report.json").read_text()
    if password:
        assert f":{password}@" not in written and ":***@" in report.source
    assert report.source.startswith(cdm_database.split("://")[0].replace("postgresql+psycopg", "postgresql"))


def test_a_database_without_the_person_table_names_the_url_the_tables_found_and_the_schema_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cdm.sqlite'}"
    write_table(tmp_path / "cdm", "death", [{"person_id": 1, "death_date": "2024-12-01"}])
    _load_into_database(tmp_path / "cdm", url, None)
    with pytest.raises(ImportSourceError, match=rf"SRC database {url} must hold the OMOP person table; found death\. "
                                                r"Name the CDM schema with --schema"):
        import_omop(url, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError, match="must be an existing SQLite file"):
        import_omop(f"sqlite:///{tmp_path / 'absent.sqlite'}", tmp_path / "out")
    assert not (tmp_path / "absent.sqlite").exists()


def test_an_absent_database_driver_names_the_masked_url_and_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"must be installed for 'postgresql\+pg8000://rr:\*\*\*@db\.example/cdm'.*pip install"):
        import_omop("postgresql+pg8000://rr:secret@db.example/cdm", tmp_path / "out")


def test_an_unsupported_database_is_refused_naming_the_masked_url(tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError, match=r"must use sqlite or postgresql; got 'mysql' in 'mysql://rr:\*\*\*@db/cdm'"):
        import_omop("mysql://rr:secret@db/cdm", tmp_path / "out")


def test_schema_is_refused_for_a_folder(cdm: Path, tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError, match="--schema must only be given with a database URL"):
        import_omop(cdm, tmp_path / "out", schema="cdm")


def test_import_omop_command_reads_a_database_url_with_the_schema_option(cdm_database: str, tmp_path: Path) -> None:
    url, _, schema = cdm_database.partition("?schema=")
    options = ["--schema", schema] if schema else []
    result = CliRunner().invoke(import_app, ["omop", url, "--out", str(tmp_path / "out"), *options], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "persons 2, events 5, codes 2" in result.output
