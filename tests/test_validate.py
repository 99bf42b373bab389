"""Each data-contract rule on a tiny inline extract: the exact rule, row, column and value reported."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.validate import RULES, validate

EXTRACT = date(2025, 1, 1)
PERSON = {
    "person_id": "P1",
    "nhs_number": "9434765919",
    "birth_date": "1950-01-01",
    "sex": "F",
    "ethnic_group": "White",
    "lsoa": "E01000001",
    "imd_decile": "3",
    "practice": "A81001",
    "neighbourhood": "Huntingdon",
    "registered_from": "2000-01-01",
    "registered_to": "",
    "death_date": "",
}
EVENT = {"person_id": "P1", "event_date": "2024-01-01", "setting": "ed", "recorded_at": "2024-01-03", "cost_gbp": "250.5"}
CODE = {"person_id": "P1", "code": "73211009", "code_system": "snomed", "start_date": "2020-01-01", "end_date": "", "recorded_at": "2020-01-02"}


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def extract(tmp_path: Path, persons: list[dict] | None = None, events: list[dict] | None = None, codes: list[dict] | None = None) -> Path:
    data = tmp_path / "extract"
    data.mkdir()
    write_csv(data / "persons.csv", persons or [PERSON])
    write_csv(data / "events.csv", events or [EVENT])
    write_csv(data / "codes.csv", codes or [CODE])
    return data


def person(**changes: str) -> dict[str, str]:
    return {**PERSON, **changes}


def event(**changes: str) -> dict[str, str]:
    return {**EVENT, **changes}


def code(**changes: str) -> dict[str, str]:
    return {**CODE, **changes}


def rejected(data: Path, table: str) -> list[tuple[int, str, str, str]]:
    frame = pd.read_csv(data / "validated" / "rejected" / f"{table}.csv", dtype=str, keep_default_na=False)
    return [(int(r.row), r.rule, r.column, r.value) for r in frame.itertuples(index=False)]


def check(data: Path) -> dict[str, list[tuple[int, str, str, str]]]:
    validate(data, extract_date=EXTRACT)
    return {table: rejected(data, table) for table in ("persons", "events", "codes")}


def test_a_clean_extract_accepts_every_row(tmp_path: Path) -> None:
    data = extract(tmp_path)
    report = validate(data, extract_date=EXTRACT)
    assert {t.table: (t.rows_read, t.rows_accepted, t.rows_quarantined) for t in report.tables.values()} == {
        "persons": (1, 1, 0),
        "events": (1, 1, 0),
        "codes": (1, 1, 0),
    }
    assert check(data) == {"persons": [], "events": [], "codes": []}


@pytest.mark.parametrize(
    ("persons", "expected"),
    [
        ([PERSON, person(person_id="P2", birth_date="")], (2, "missing_required", "birth_date", "")),
        ([PERSON, person(person_id="P2", sex="  ")], (2, "missing_required", "sex", "  ")),
        ([PERSON, person(person_id="P2", imd_decile="11")], (2, "bad_type", "imd_decile", "11")),
        ([PERSON, person(person_id="P2", imd_decile="3.5")], (2, "bad_type", "imd_decile", "3.5")),
        ([PERSON, person(person_id="P2", imd_decile="three")], (2, "bad_type", "imd_decile", "three")),
        ([PERSON, person(person_id="P2", birth_date="1950-02-30")], (2, "unparseable_date", "birth_date", "1950-02-30")),
        ([PERSON, person(person_id="P2", registered_from="01/02/2000")], (2, "unparseable_date", "registered_from", "01/02/2000")),
        ([PERSON, person(person_id="P2", sex="X")], (2, "invalid_value", "sex", "X")),
        ([PERSON, person(person_id="P2", ethnic_group="white")], (2, "invalid_value", "ethnic_group", "white")),
        ([PERSON, person(person_id="P2", nhs_number="9434765918")], (2, "invalid_nhs_number", "nhs_number", "9434765918")),
        ([PERSON, person(person_id="P2", nhs_number="943476591")], (2, "invalid_nhs_number", "nhs_number", "943476591")),
        ([PERSON, person(person_id="P2", registered_from="2025-01-02")], (2, "future_date", "registered_from", "2025-01-02")),
        (
            [PERSON, person(person_id="P2", registered_to="1999-12-31")],
            (2, "registered_to_before_registered_from", "registered_to", "1999-12-31"),
        ),
        ([PERSON, person(person_id="P2", death_date="1949-12-31")], (2, "death_before_birth", "death_date", "1949-12-31")),
        ([PERSON, person(nhs_number="")], (2, "duplicate_person_id", "person_id", "P1")),
    ],
)
def test_each_persons_rule_reports_its_row_column_and_value(tmp_path: Path, persons: list[dict], expected: tuple) -> None:
    assert check(extract(tmp_path, persons=persons))["persons"] == [expected]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([EVENT, event(setting="")], (2, "missing_required", "setting", "")),
        ([EVENT, event(cost_gbp="-3")], (2, "bad_type", "cost_gbp", "-3")),
        ([EVENT, event(cost_gbp="a lot")], (2, "bad_type", "cost_gbp", "a lot")),
        ([EVENT, event(event_date="2024-13-01")], (2, "unparseable_date", "event_date", "2024-13-01")),
        ([EVENT, event(setting="A&E")], (2, "invalid_value", "setting", "A&E")),
        ([EVENT, event(event_date="2025-01-02")], (2, "future_date", "event_date", "2025-01-02")),
        ([EVENT, event(recorded_at="2025-01-02T00:00:00")], (2, "future_date", "recorded_at", "2025-01-02T00:00:00")),
        ([EVENT, event(person_id="P9")], (2, "orphan_person_id", "person_id", "P9")),
        ([EVENT, EVENT], (2, "duplicate_event", "person_id", "P1")),
    ],
)
def test_each_events_rule_reports_its_row_column_and_value(tmp_path: Path, events: list[dict], expected: tuple) -> None:
    assert check(extract(tmp_path, events=events))["events"] == [expected]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([CODE, code(code="")], (2, "missing_required", "code", "")),
        ([CODE, code(end_date="2020-02-31")], (2, "unparseable_date", "end_date", "2020-02-31")),
        ([CODE, code(start_date="2026-01-01")], (2, "future_date", "start_date", "2026-01-01")),
        ([CODE, code(person_id="P9")], (2, "orphan_person_id", "person_id", "P9")),
    ],
)
def test_each_codes_rule_reports_its_row_column_and_value(tmp_path: Path, codes: list[dict], expected: tuple) -> None:
    assert check(extract(tmp_path, codes=codes))["codes"] == [expected]


def test_events_identical_after_parsing_are_duplicates(tmp_path: Path) -> None:
    events = [EVENT, event(event_date="2024-01-01T00:00:00", cost_gbp="250.50")]
    assert check(extract(tmp_path, events=events))["events"] == [(2, "duplicate_event", "person_id", "P1")]


def test_a_row_like_an_earlier_quarantined_row_is_not_its_duplicate(tmp_path: Path) -> None:
    events = [event(cost_gbp="twelve"), event(cost_gbp=""), event(cost_gbp="")]
    assert check(extract(tmp_path, events=events))["events"] == [
        (1, "bad_type", "cost_gbp", "twelve"),
        (3, "duplicate_event", "person_id", "P1"),
    ]


def test_rows_whose_hashes_collide_are_still_compared_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("features.validate._mix", lambda bits: bits * 0)  # every row hashes alike
    events = [EVENT, event(setting="gp"), event(cost_gbp="1"), EVENT, event(setting="gp")]
    assert check(extract(tmp_path, events=events))["events"] == [
        (4, "duplicate_event", "person_id", "P1"),
        (5, "duplicate_event", "person_id", "P1"),
    ]


def test_events_differing_only_in_an_extra_column_are_not_duplicates(tmp_path: Path) -> None:
    events = [{**EVENT, "source": "ecds"}, {**EVENT, "source": "sus"}, {**EVENT, "source": "sus"}]
    data = extract(tmp_path, events=events)
    assert check(data)["events"] == [(3, "duplicate_event", "person_id", "P1")]
    assert pd.read_parquet(data / "validated" / "events.parquet")["source"].tolist() == ["ecds", "sus"]


def test_events_and_codes_after_death_are_quarantined_but_on_the_day_of_death_kept(tmp_path: Path) -> None:
    data = extract(
        tmp_path,
        persons=[person(death_date="2024-01-01")],
        events=[event(event_date="2024-01-01T23:59:00"), event(event_date="2024-01-02")],
        codes=[code(start_date="2024-01-01"), code(start_date="2024-01-05")],
    )
    found = check(data)
    assert found["events"] == [(2, "event_after_death", "event_date", "2024-01-02")]
    assert found["codes"] == [(2, "event_after_death", "start_date", "2024-01-05")]


def test_events_and_codes_of_a_quarantined_person_are_person_rejected(tmp_path: Path) -> None:
    data = extract(
        tmp_path,
        persons=[PERSON, person(person_id="P2", sex="X")],
        events=[EVENT, event(person_id="P2")],
        codes=[code(person_id="P2"), CODE],
    )
    found = check(data)
    assert found["events"] == [(2, "person_rejected", "person_id", "P2")]
    assert found["codes"] == [(1, "person_rejected", "person_id", "P2")]


def test_the_first_copy_of_a_duplicated_person_is_kept_and_its_events_accepted(tmp_path: Path) -> None:
    data = extract(tmp_path, persons=[PERSON, person(sex="M")])
    report = validate(data, extract_date=EXTRACT)
    accepted = pd.read_parquet(data / "validated" / "persons.parquet")
    assert accepted["sex"].tolist() == ["F"]
    assert report.tables["events"].rows_accepted == 1


def test_a_row_breaking_several_rules_is_quarantined_once_under_the_first_rule(tmp_path: Path) -> None:
    data = extract(tmp_path, events=[EVENT, event(person_id="P9", setting="A&E", cost_gbp="-1", event_date="2030-01-01")])
    report = validate(data, extract_date=EXTRACT)
    assert rejected(data, "events") == [(2, "bad_type", "cost_gbp", "-1")]
    assert report.tables["events"].rows_quarantined == 1
    assert RULES.index("bad_type") < RULES.index("invalid_value") < RULES.index("future_date") < RULES.index("orphan_person_id")


def test_rejected_file_holds_the_reason_and_the_original_row(tmp_path: Path) -> None:
    data = extract(tmp_path, events=[EVENT, event(setting="A&E", cost_gbp="")])
    validate(data, extract_date=EXTRACT)
    frame = pd.read_csv(data / "validated" / "rejected" / "events.csv", dtype=str, keep_default_na=False)
    assert frame.columns.tolist() == ["row", "rule", "column", "value", "reason", *EVENT]
    assert frame.iloc[0].to_dict() == {
        "row": "2",
        "rule": "invalid_value",
        "column": "setting",
        "value": "A&E",
        "reason": "setting must be one of ed, emergency_admission, elective_admission, outpatient, gp, nhs111, "
        "ambulance, mental_health, social_care, community",
        **event(setting="A&E", cost_gbp=""),
    }


def test_report_json_counts_rules_and_quotes_examples(tmp_path: Path) -> None:
    events = [EVENT] + [event(setting="A&E", cost_gbp=str(i)) for i in range(7)]
    data = extract(tmp_path, events=events)
    validate(data, extract_date=EXTRACT)
    report = json.loads((data / "validated" / "validation_report.json").read_text())
    table = report["tables"]["events"]
    assert (table["rows_read"], table["rows_accepted"], table["rows_quarantined"]) == (8, 1, 7)
    assert table["quarantined_by_rule"]["invalid_value"] == 7
    assert sum(table["quarantined_by_rule"].values()) == 7
    assert [e["row"] for e in table["examples"]["invalid_value"]] == [2, 3, 4, 5, 6]
    assert table["examples"]["invalid_value"][0] == {
        "file": "events.csv",
        "row": 2,
        "column": "setting",
        "value": "A&E",
        "reason": table["examples"]["invalid_value"][0]["reason"],
    }
    assert report["extract_date"] == "2025-01-01"


def test_report_json_never_quotes_identifiers_but_the_rejected_file_keeps_them(tmp_path: Path) -> None:
    data = extract(tmp_path, persons=[PERSON, person(person_id="P2", nhs_number="9434765918")], events=[EVENT, event(person_id="P9")])
    validate(data, extract_date=EXTRACT)
    text = (data / "validated" / "validation_report.json").read_text()
    assert "9434765918" not in text and '"P9"' not in text
    report = json.loads(text)
    assert report["tables"]["events"]["examples"]["orphan_person_id"][0]["value"] == "(identifier hidden; see rejected/events.csv)"
    assert rejected(data, "persons") == [(2, "invalid_nhs_number", "nhs_number", "9434765918")]
    assert rejected(data, "events") == [(2, "orphan_person_id", "person_id", "P9")]


def test_codes_not_in_any_code_list_are_counted_by_system_not_rejected(tmp_path: Path) -> None:
    codes = [CODE, code(code="999999"), code(code="999999", start_date="2021-01-01"), code(code="E11", code_system="ICD10")]
    data = extract(tmp_path, codes=codes)
    report = validate(data, extract_date=EXTRACT)
    assert report.tables["codes"].rows_quarantined == 0
    assert report.codes_not_in_codelists == {"icd10": {"rows": 1, "distinct_codes": 1}, "snomed": {"rows": 2, "distinct_codes": 1}}


def test_missing_optional_values_take_their_defaults(tmp_path: Path) -> None:
    codes = [{"person_id": "P1", "code": "73211009", "start_date": "2020-01-01"}]
    data = extract(tmp_path, events=[event(recorded_at="")], codes=codes)
    report = validate(data, extract_date=EXTRACT)
    events = pd.read_parquet(data / "validated" / "events.parquet")
    codes_out = pd.read_parquet(data / "validated" / "codes.parquet")
    assert events["recorded_at"].tolist() == [pd.Timestamp("2024-01-01")]
    assert codes_out[["code_system", "recorded_at"]].values.tolist() == [["snomed", pd.Timestamp("2020-01-01")]]
    assert report.tables["events"].defaults_applied == {"recorded_at": 1}
    assert report.tables["codes"].defaults_applied == {"code_system": 1, "recorded_at": 1}


def test_accepted_rows_are_written_in_canonical_types_and_validate_cleanly(tmp_path: Path) -> None:
    data = extract(tmp_path, persons=[person(nhs_number="943 476 5919")], events=[EVENT, event(event_date="2024-02-01T10:30:00")])
    validate(data, extract_date=EXTRACT)
    out = data / "validated"
    assert pq.read_schema(out / "persons.parquet").field("birth_date").type == pa.date32()
    assert pq.read_schema(out / "persons.parquet").field("imd_decile").type == pa.int64()
    assert pq.read_schema(out / "events.parquet").field("event_date").type == pa.timestamp("us")
    assert pq.read_schema(out / "events.parquet").field("cost_gbp").type == pa.float64()
    assert pd.read_parquet(out / "persons.parquet")["nhs_number"].tolist() == ["9434765919"]
    again = validate(out, out=tmp_path / "again", extract_date=EXTRACT)
    assert again.rows_quarantined == 0
    assert again.tables["events"].rows_accepted == 2


def test_typed_parquet_input_is_checked_like_csv(tmp_path: Path) -> None:
    data = extract(tmp_path)
    persons = pd.DataFrame(
        {
            "person_id": ["P1", "P2"],
            "nhs_number": [None, None],
            "birth_date": pd.to_datetime(["1950-01-01", "1960-01-01"]).date,
            "sex": ["F", "M"],
            "imd_decile": pd.array([3, 12], dtype="Int8"),
            "practice": ["A", "B"],
            "neighbourhood": ["N", "N"],
            "registered_from": pd.to_datetime(["2000-01-01", "2000-01-01"]).date,
            "registered_to": [None, None],
            "death_date": pd.to_datetime(["2024-01-01", None]).date,
        }
    )
    (data / "persons.csv").unlink()
    persons.to_parquet(data / "persons.parquet")
    found = check(data)
    assert found["persons"] == [(2, "bad_type", "imd_decile", "12")]


def test_rows_read_equal_rows_accepted_plus_rows_quarantined(tmp_path: Path) -> None:
    persons = [PERSON, person(person_id="P2", sex="X"), person(nhs_number="")]
    events = [EVENT, EVENT, event(person_id="P2"), event(person_id="P3"), event(setting="")]
    data = extract(tmp_path, persons=persons, events=events)
    report = validate(data, extract_date=EXTRACT)
    for table in report.tables.values():
        assert table.rows_read == table.rows_accepted + table.rows_quarantined
        assert sum(table.quarantined_by_rule.values()) == table.rows_quarantined
        assert len(pd.read_parquet(data / "validated" / f"{table.table}.parquet")) == table.rows_accepted
        assert len(rejected(data, table.table)) == table.rows_quarantined
