"""Tests for the admission method rules of the OMOP importer on tiny CDMs shaped like NHS SUS/HES-based ETL output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine
from rich.console import Console
from typer.testing import CliRunner

from database_support import fresh_database_url

from features.importers.errors import MappingError
from features.importers.mapping import DEFAULT_OMOP_MAPPING, load_omop_mapping
from features.importers.omop import import_omop
from features.importers.report import ImportReport
from features.simulation import simulate
from import_support import write_table
from risingrisk.commands.importers import import_app, render_report

#: 581476 "Home Visit": what a SUS-based ETL writes as admitted_from for admission source 19 (usual place of residence).
HOME = 581476


def _person(src: Path) -> None:
    write_table(src, "person", [{"person_id": 1, "gender_concept_id": 8507, "year_of_birth": 1950, "month_of_birth": 1, "day_of_birth": 2}])


def _visit(number: int, concept: int | None, source_value: str | None, admitted_from: int | None = HOME, **columns: object) -> dict:
    """A visit_occurrence row on 2023-01-NUMBER (no date when NUMBER is 0)."""
    return {
        "visit_occurrence_id": number,
        "person_id": 1,
        "visit_concept_id": concept,
        "visit_start_date": f"2023-01-{number:02d}" if number else None,
        "admitted_from_concept_id": admitted_from,
        "admitted_from_source_value": source_value,
        **columns,
    }


def _absent(src: Path) -> str:
    """The warning for a CDM folder holding only person and visit_occurrence (and visit_detail when written)."""
    tables = ["concept", "cost", "observation_period", "death", "visit_detail", "condition_occurrence", "observation",
              "procedure_occurrence"]
    present = {path.stem for path in src.iterdir()}
    return f"tables absent from {src}: {', '.join(t for t in tables if t not in present)}"


def _settings(out: Path) -> list[tuple[int, str]]:
    """(day of January, setting) of every event written."""
    return [(e["event_date"].day, e["setting"]) for e in pq.read_table(out / "events.parquet").to_pylist()]


@pytest.fixture
def sus_cdm(tmp_path: Path) -> Path:
    """Inpatient stays as a SUS/HES ETL writes them: 9201 admitted from home, the admission method in admitted_from_source_value."""
    src = tmp_path / "cdm"
    _person(src)
    write_table(src, "visit_occurrence", [
        _visit(1, 9201, "21"),       # emergency via the Emergency Care Department
        _visit(2, 9201, "2a"),       # emergency via another provider's ED, lower case
        _visit(3, 9201, "11"),       # elective from the waiting list
        _visit(4, 9201, "19/22"),    # etl_ndorms style: admission source / admission method (GP emergency)
        _visit(5, 9201, "31"),       # maternity, ante partum
        _visit(6, 9201, None),       # no method: the 9201 default
        _visit(7, 9201, "19"),       # an admission source, not a method: the 9201 default
        _visit(8, 9201, "11", admitted_from=8870),  # an ER marker wins over an elective method
        _visit(9, 262, "11"),        # the ER-and-inpatient concept wins over an elective method
        _visit(10, 9203, "21"),      # an ED attendance stays an ED attendance
        _visit(0, 9201, "21"),       # no date: not mapped
        _visit(11, 32036, "21"),     # no rule for the concept: not mapped, whatever its method
    ])
    return src


def test_admission_method_decides_inpatient_visits_after_er_markers_and_before_the_default(sus_cdm: Path, tmp_path: Path) -> None:
    report = import_omop(sus_cdm, tmp_path / "out")
    assert _settings(tmp_path / "out") == [
        (1, "emergency_admission"), (2, "emergency_admission"), (3, "elective_admission"), (4, "emergency_admission"),
        (5, "elective_admission"), (6, "elective_admission"), (7, "elective_admission"), (8, "emergency_admission"),
        (9, "emergency_admission"), (10, "ed"),
    ]
    assert report.visit_classification == {
        "admission_method_elective": {"elective_admission": 1},
        "admission_method_emergency": {"emergency_admission": 3},
        "admission_method_maternity": {"elective_admission": 1},
        "default_no_admission_method": {"elective_admission": 1},
        "default_unlisted_admission_method": {"elective_admission": 1},
        "er_marker": {"emergency_admission": 1},
        "not_mapped": {"missing_person_or_date": 1, "no_setting_rule": 1},
        "visit_concept": {"ed": 1, "emergency_admission": 1},
    }
    assert report.defaults_applied["events.setting=elective_admission (inpatient visit without ER marker or listed admission method)"] == 2


def test_visit_classification_adds_up_to_the_visit_rows_read_and_to_the_mapped_and_not_mapped_counts(sus_cdm: Path, tmp_path: Path) -> None:
    report = import_omop(sus_cdm, tmp_path / "out")
    counts = report.inputs["visit_occurrence"]
    classified = report.visit_classification
    assert sum(n for by_setting in classified.values() for n in by_setting.values()) == counts.read == 12
    assert sum(n for key, by_setting in classified.items() if key != "not_mapped" for n in by_setting.values()) == counts.mapped
    assert classified["not_mapped"] == counts.not_mapped
    assert report.rows_written["events"] == counts.mapped == 10
    saved = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert saved["visit_classification"] == classified


def test_a_share_of_defaulted_inpatient_visits_above_the_threshold_is_warned_with_the_count_and_the_fix(
    sus_cdm: Path, tmp_path: Path
) -> None:
    # 2 of the 8 inpatient (9201) visits mapped (1–8) took the default: 25% > warn_default_share 10%.
    report = import_omop(sus_cdm, tmp_path / "out")
    assert report.warnings == [
        "2 of 8 inpatient visits (visit_concept_id 9201) carry no admission method or ER marker and were mapped to "
        "elective_admission; if this extract comes from SUS/HES, set visit.admission_method_columns in the mapping file to the "
        "column holding the admission method (searched: admitted_from_source_value), or have the ETL write it to one. Values "
        "there that are not listed admission methods were found in 1 of them, most often '19' (1); an admission source such "
        "as 19 (usual place of residence) is not an admission method.",
        _absent(sus_cdm),
    ]


def test_an_oxford_mapper_cdm_without_admission_methods_warns_in_the_printed_and_the_json_report(tmp_path: Path) -> None:
    # answerdigital/oxford-omop-data-mapper copies the admission SOURCE into admitted_from_source_value and no method anywhere.
    src = tmp_path / "cdm"
    _person(src)
    write_table(src, "visit_occurrence", [
        *(_visit(day, 9201, "19") for day in range(1, 5)), _visit(5, 9201, "51", admitted_from=8717), _visit(6, 9201, None),
        _visit(7, 9203, None, admitted_from=None),
    ])
    result = CliRunner().invoke(import_app, ["omop", str(src), "--out", str(tmp_path / "out")], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    expected = (
        "6 of 6 inpatient visits (visit_concept_id 9201) carry no admission method or ER marker and were mapped to "
        "elective_admission; if this extract comes from SUS/HES, set visit.admission_method_columns in the mapping file to the "
        "column holding the admission method (searched: admitted_from_source_value), or have the ETL write it to one. Values "
        "there that are not listed admission methods were found in 5 of them, most often '19' (4), '51' (1); an admission "
        "source such as 19 (usual place of residence) is not an admission method."
    )
    assert "warning: 6 of 6 inpatient visits" in result.output
    assert " ".join(result.output.split()).count(expected) == 1
    saved = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert saved["warnings"] == [expected, _absent(src)]
    assert saved["visit_classification"] == {
        "default_no_admission_method": {"elective_admission": 1},
        "default_unlisted_admission_method": {"elective_admission": 5},
        "visit_concept": {"ed": 1},
    }


def test_a_few_inpatient_visits_without_a_method_are_counted_but_not_warned(tmp_path: Path) -> None:
    src = tmp_path / "cdm"
    _person(src)
    write_table(src, "visit_occurrence", [*(_visit(day, 9201, "21") for day in range(1, 10)), _visit(10, 9201, None)])
    report = import_omop(src, tmp_path / "out")  # 1 of 10 = 10%, not above warn_default_share 0.1
    assert report.warnings == [_absent(src)]
    assert report.visit_classification == {
        "admission_method_emergency": {"emergency_admission": 9}, "default_no_admission_method": {"elective_admission": 1},
    }


def test_a_numeric_admission_method_column_in_parquet_is_read_as_the_code(tmp_path: Path) -> None:
    # Parquet turns an integer column with NULLs into floats (21.0): the code is still 21.
    src = tmp_path / "cdm"
    _person(src)
    write_table(src, "visit_occurrence", [_visit(1, 9201, None), _visit(2, 9201, None), _visit(3, 9201, None)], parquet=True)
    frame = pd.read_parquet(src / "visit_occurrence.parquet")
    frame["admitted_from_source_value"] = [21, 12, None]
    frame.to_parquet(src / "visit_occurrence.parquet", index=False)
    import_omop(src, tmp_path / "out")
    assert _settings(tmp_path / "out") == [(1, "emergency_admission"), (2, "elective_admission"), (3, "elective_admission")]


def _mapping(tmp_path: Path, **replacements: str) -> Path:
    text = DEFAULT_OMOP_MAPPING.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    return path


def test_a_uk_biobank_style_cdm_is_classified_once_its_column_and_concept_are_configured(tmp_path: Path) -> None:
    # EHDEN/ETL-UK-Biobank: unplanned admissions are 9203 and visit_source_value reads "record origin:…/admission method:…".
    src = tmp_path / "cdm"
    _person(src)
    write_table(src, "visit_occurrence", [
        _visit(1, 9203, "record origin:HES/admission method:19", visit_source_value="record origin:HES/admission method:21"),
        _visit(2, 9201, "record origin:HES/admission method:19", visit_source_value="record origin:HES/admission method:12"),
        _visit(3, 9203, None, admitted_from=None, visit_source_value=None),
    ])
    import_omop(src, tmp_path / "default")
    assert _settings(tmp_path / "default") == [(1, "ed"), (2, "elective_admission"), (3, "ed")]
    mapping = _mapping(tmp_path, **{
        'admission_method_concepts = [9201]': 'admission_method_concepts = [9201, 9203]',
        'admission_method_columns = ["admitted_from_source_value"]': 'admission_method_columns = ["visit_source_value"]',
    })
    report = import_omop(src, tmp_path / "ukb", mapping=mapping)
    assert _settings(tmp_path / "ukb") == [(1, "emergency_admission"), (2, "elective_admission"), (3, "ed")]
    # visit 3, a 9203 ED attendance without a method, now falls to its visit rule's setting (ed) as a default.
    assert report.visit_classification == {
        "admission_method_elective": {"elective_admission": 1},
        "admission_method_emergency": {"emergency_admission": 1},
        "default_no_admission_method": {"ed": 1},
    }


def test_visit_detail_columns_give_the_method_of_the_earliest_episode_when_the_visit_has_none(tmp_path: Path) -> None:
    src = tmp_path / "cdm"
    _person(src)
    write_table(src, "visit_occurrence", [_visit(1, 9201, None), _visit(2, 9201, "11"), _visit(3, 9201, None)])
    write_table(src, "visit_detail", [
        {"visit_detail_id": 1, "visit_occurrence_id": 1, "visit_detail_start_date": "2023-01-03", "admitted_from_source_value": "19/11"},
        {"visit_detail_id": 2, "visit_occurrence_id": 1, "visit_detail_start_date": "2023-01-01", "admitted_from_source_value": "19/21"},
        {"visit_detail_id": 3, "visit_occurrence_id": 2, "visit_detail_start_date": "2023-01-02", "admitted_from_source_value": "19/21"},
        {"visit_detail_id": 4, "visit_occurrence_id": 3, "visit_detail_start_date": "2023-01-03", "admitted_from_source_value": "19"},
    ])
    import_omop(src, tmp_path / "default")  # visit_detail is not searched by default
    assert _settings(tmp_path / "default") == [(1, "elective_admission"), (2, "elective_admission"), (3, "elective_admission")]
    mapping = _mapping(tmp_path, **{
        "admission_method_detail_columns = []": 'admission_method_detail_columns = ["admitted_from_source_value"]',
    })
    report = import_omop(src, tmp_path / "detail", mapping=mapping)
    # visit 1: its earliest episode says 21; visit 2: its own column (11) comes before visit_detail; visit 3: no listed method.
    assert _settings(tmp_path / "detail") == [(1, "emergency_admission"), (2, "elective_admission"), (3, "elective_admission")]
    assert report.inputs["visit_detail"].not_mapped == {"counted_in_visit_occurrence": 4}
    assert report.visit_classification["default_no_admission_method"] == {"elective_admission": 1}


def test_an_admission_method_code_listed_in_two_groups_is_rejected_naming_both(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, **{'codes = ["11", "12", "13"]': 'codes = ["11", "12", "13", "21"]'})
    with pytest.raises(MappingError, match=r"admission method code must belong to one admission_methods group; got '21' in both "
                                           r"'emergency' and 'elective'"):
        load_omop_mapping(mapping)


def test_an_empty_admission_method_code_is_rejected_as_it_would_match_any_unreadable_value(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, **{'codes = ["31", "32"]': 'codes = ["31", "32", " "]'})
    with pytest.raises(MappingError, match=r"admission method codes must not be empty; got ' ' in 'maternity'"):
        load_omop_mapping(mapping)


def test_an_admission_method_pattern_without_exactly_one_group_is_rejected(tmp_path: Path) -> None:
    default = "admission_method_pattern = '(?:.*[/:]\\s*)?([0-9A-Za-z]{2})'"
    mapping = _mapping(tmp_path, **{default: "admission_method_pattern = '[0-9]{2}'"})
    with pytest.raises(MappingError, match=r"admission_method_pattern must have exactly one group \(the admission method code\); got 0"):
        load_omop_mapping(mapping)


def test_a_misspelt_visit_key_is_rejected_with_a_suggestion(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, **{"warn_default_share = 0.1": "warn_default_shares = 0.1"})
    with pytest.raises(MappingError, match=r"key 'visit.warn_default_shares' is not a setting; did you mean 'warn_default_share'\?"):
        load_omop_mapping(mapping)


def test_an_admission_method_group_with_a_setting_outside_the_contract_is_rejected(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, **{'name = "maternity"\nsetting = "elective_admission"': 'name = "maternity"\nsetting = "maternity"'})
    with pytest.raises(MappingError, match=r"setting must be one of .*; got 'maternity'"):
        load_omop_mapping(mapping)


@pytest.fixture
def sus_sqlite(sus_cdm: Path, tmp_path: Path) -> Iterator[str]:
    """The SUS-style CDM in a SQLite file, the admission method a text column as in a real CDM."""
    for url in fresh_database_url("sqlite", tmp_path):
        engine = create_engine(url)
        with engine.begin() as connection:
            for path in sorted(sus_cdm.iterdir()):
                pd.read_csv(path, dtype={"admitted_from_source_value": str}).to_sql(path.stem, connection, index=False)
        engine.dispose()
        yield url


def test_a_sus_style_cdm_in_a_database_is_classified_like_the_folder(sus_cdm: Path, sus_sqlite: str, tmp_path: Path) -> None:
    from_folder = import_omop(sus_cdm, tmp_path / "folder")
    from_database = import_omop(sus_sqlite, tmp_path / "database", chunk_rows=3)
    assert pq.read_table(tmp_path / "database" / "events.parquet").equals(pq.read_table(tmp_path / "folder" / "events.parquet"))
    assert from_database.visit_classification == from_folder.visit_classification
    assert from_database.warnings[0] == from_folder.warnings[0]
    assert from_database.visit_classification["admission_method_emergency"] == {"emergency_admission": 3}


def test_a_mapping_copy_from_before_the_admission_method_rules_is_rejected_naming_the_section_to_copy(tmp_path: Path) -> None:
    text = DEFAULT_OMOP_MAPPING.read_text()
    old = tmp_path / "old.toml"
    old.write_text(text[: text.index("\n[visit]\n")])
    with pytest.raises(MappingError, match=r"visit must be a section of an OMOP mapping file; got a file without \[visit\] .*"
                                           r"Copy \[visit\] and its \[\[visit.admission_methods\]\] from .*omop_mapping.toml"):
        load_omop_mapping(old)


#: How a SUS-based ETL writes each contract setting: (visit_concept_id, admitted_from_concept_id, admission method values).
#: The methods cycle through plain and etl_ndorms-style "source/method" values; settings absent here have no OMOP concept.
_SUS_SHAPES: dict[str, tuple[int, int | None, tuple[str | None, ...]]] = {
    "emergency_admission": (9201, HOME, ("21", "22", "2A", "19/28", "2d")),
    "elective_admission": (9201, HOME, ("11", "12", "19/13")),
    "ed": (9203, None, (None,)),
    "outpatient": (9202, None, (None,)),
    "gp": (581477, None, (None,)),
    "ambulance": (38004353, None, (None,)),
    "community": (581476, None, (None,)),
}


def _sus_cdm_from_contract(data_dir: Path, out: Path, with_methods: bool = True) -> Path:
    """A contract folder written as SUS-style OMOP person and visit_occurrence tables (concept 0 for settings OMOP lacks)."""
    persons = pd.read_parquet(data_dir / "persons.parquet")
    write_table(out, "person", [
        {"person_id": row.person_id, "gender_concept_id": 8507, "year_of_birth": pd.Timestamp(row.birth_date).year,
         "month_of_birth": pd.Timestamp(row.birth_date).month, "day_of_birth": pd.Timestamp(row.birth_date).day}
        for row in persons.itertuples(index=False)
    ])
    visits = []
    for number, row in enumerate(pd.read_parquet(data_dir / "events.parquet").itertuples(index=False)):
        concept, admitted_from, methods = _SUS_SHAPES.get(row.setting, (0, None, (None,)))
        visits.append({
            "visit_occurrence_id": number, "person_id": row.person_id, "visit_concept_id": concept,
            "visit_start_datetime": pd.Timestamp(row.event_date).isoformat(), "admitted_from_concept_id": admitted_from,
            "admitted_from_source_value": methods[number % len(methods)] if with_methods else "19" if concept == 9201 else None,
        })
    write_table(out, "visit_occurrence", visits)
    return out


def test_a_simulated_population_written_the_sus_way_imports_back_to_the_same_settings(tmp_path: Path) -> None:
    simulate(people=300, seed=11, out=tmp_path / "sim", start=date(2022, 1, 1), end=date(2024, 1, 1))
    original = pd.read_parquet(tmp_path / "sim" / "events.parquet")
    covered = original[original["setting"].isin(list(_SUS_SHAPES))]
    report = import_omop(_sus_cdm_from_contract(tmp_path / "sim", tmp_path / "cdm"), tmp_path / "out")
    keys = ["person_id", "event_date", "setting"]
    imported = pd.read_parquet(tmp_path / "out" / "events.parquet")[keys].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(imported, covered[keys].sort_values(keys).reset_index(drop=True), check_dtype=False)
    admissions = original["setting"].value_counts()
    assert report.visit_classification["admission_method_emergency"] == {"emergency_admission": admissions["emergency_admission"]}
    assert report.visit_classification["admission_method_elective"] == {"elective_admission": admissions["elective_admission"]}
    assert report.inputs["visit_occurrence"].not_mapped == {"no_setting_rule": len(original) - len(covered)}
    assert not any("inpatient visits" in warning for warning in report.warnings)


def test_the_same_population_without_admission_methods_loses_its_emergency_admissions_and_says_so(tmp_path: Path) -> None:
    # What the Oxford mapper's output looks like: the admission source (19) where the method would be.
    simulate(people=300, seed=11, out=tmp_path / "sim", start=date(2022, 1, 1), end=date(2024, 1, 1))
    admissions = pd.read_parquet(tmp_path / "sim" / "events.parquet")["setting"].value_counts()
    inpatient = int(admissions["emergency_admission"] + admissions["elective_admission"])
    report = import_omop(_sus_cdm_from_contract(tmp_path / "sim", tmp_path / "cdm", with_methods=False), tmp_path / "out")
    imported = pd.read_parquet(tmp_path / "out" / "events.parquet")["setting"].value_counts()
    assert "emergency_admission" not in imported and imported["elective_admission"] == inpatient
    assert report.visit_classification["default_unlisted_admission_method"] == {"elective_admission": inpatient}
    assert report.warnings[0].startswith(
        f"{inpatient:,} of {inpatient:,} inpatient visits (visit_concept_id 9201) carry no admission method or ER marker"
    )
    assert f"most often '19' ({inpatient:,})" in report.warnings[0]


def test_the_printed_report_shows_warnings_and_defaults_with_square_brackets_verbatim() -> None:
    report = ImportReport(
        source_format="omop", source="cdm", out_dir="out", mapping_file="omop_mapping.toml", created_at="2026-12-01T00:00:00Z",
        inputs={}, rows_written={}, defaults_applied={"[visit] default for 9201 -> elective_admission": 3},
        warnings=["set [visit] admission_method_columns to the column holding the admission method"],
    )
    console = Console(record=True, width=200)
    render_report(report, console)
    text = console.export_text()
    assert "default applied 3×: [visit] default for 9201 -> elective_admission" in text
    assert "warning: set [visit] admission_method_columns to the column holding the admission method" in text
