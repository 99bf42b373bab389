"""`risingrisk validate` from the command line: fatal contract problems exit non-zero and name the fix."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from risingrisk.cli import app

runner = CliRunner()
TABLES = {
    "persons": "person_id,nhs_number,birth_date,sex,ethnic_group,lsoa,imd_decile,practice,neighbourhood,"
    "registered_from,registered_to,death_date\nP1,9434765919,1950-01-01,F,White,E01000001,3,A81001,Huntingdon,2000-01-01,,\n",
    "events": "person_id,event_date,setting,recorded_at,cost_gbp\nP1,2024-01-01,ed,2024-01-03,250.5\n",
    "codes": "person_id,code,code_system,start_date,end_date,recorded_at\nP1,73211009,snomed,2020-01-01,,2020-01-02\n",
}


def extract(tmp_path: Path) -> Path:
    data = tmp_path / "extract"
    data.mkdir()
    for name, text in TABLES.items():
        (data / f"{name}.csv").write_text(text)
    return data


def invoke(*args: str):
    return runner.invoke(app, ["validate", *args], terminal_width=200)


def test_validate_prints_a_summary_and_writes_the_report(tmp_path: Path) -> None:
    data = extract(tmp_path)
    result = invoke("--data", str(data), "--extract-date", "2025-01-01")
    assert result.exit_code == 0, result.output
    assert "persons.csv" in result.output
    report = json.loads((data / "validated" / "validation_report.json").read_text())
    assert report["extract_date"] == "2025-01-01"


def test_identifiers_of_quarantined_rows_are_not_printed(tmp_path: Path) -> None:
    data = extract(tmp_path)
    events = (data / "events.csv").read_text().splitlines()
    (data / "events.csv").write_text("\n".join([*events, events[1].replace("P1", "PSECRET9")]) + "\n")
    result = invoke("--data", str(data), "--out", str(tmp_path / "out"), "--extract-date", "2025-01-01")
    assert result.exit_code == 0, result.output
    assert "orphan_person_id" in result.output
    assert "PSECRET9" not in result.output


def test_a_missing_table_exits_non_zero_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    data = extract(tmp_path)
    (data / "codes.csv").unlink()
    result = invoke("--data", str(data))
    assert result.exit_code == 1
    assert "codes.parquet or codes.csv" in result.output
    assert "Export the codes table" in result.output


def test_a_missing_required_column_exits_non_zero_naming_the_column_and_the_fix(tmp_path: Path) -> None:
    data = extract(tmp_path)
    lines = (data / "events.csv").read_text().splitlines()
    (data / "events.csv").write_text("\n".join(",".join(line.split(",")[:2] + line.split(",")[3:]) for line in lines) + "\n")
    result = invoke("--data", str(data))
    assert result.exit_code == 1
    assert "events.csv" in result.output
    assert "['setting']" in result.output
    assert "Add the column(s) to the export" in result.output


def test_an_unreadable_parquet_file_exits_non_zero_naming_the_file(tmp_path: Path) -> None:
    data = extract(tmp_path)
    (data / "persons.parquet").write_bytes(b"not parquet at all")
    result = invoke("--data", str(data))
    assert result.exit_code == 1
    assert "persons.parquet must be a readable Parquet file" in result.output
    assert "Export the table again" in result.output


def test_a_ragged_csv_row_exits_non_zero_naming_the_line_but_not_its_contents(tmp_path: Path) -> None:
    data = extract(tmp_path)
    with (data / "events.csv").open("a") as handle:
        handle.write("PSECRET9,2024-02-01,ed,2024-02-02,10,surplus\n")
    result = invoke("--data", str(data))
    assert result.exit_code == 1
    assert "events.csv line 3 must have 5 fields like the header; got 6 (1 such lines)" in result.output
    assert "PSECRET9" not in result.output


def test_an_empty_csv_exits_non_zero_asking_for_a_header_row(tmp_path: Path) -> None:
    data = extract(tmp_path)
    (data / "codes.csv").write_text("")
    result = invoke("--data", str(data))
    assert result.exit_code == 1
    assert "must start with a header row" in result.output


def test_a_data_folder_that_does_not_exist_exits_non_zero(tmp_path: Path) -> None:
    result = invoke("--data", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "Point --data at the extract" in result.output


def test_writing_the_output_over_the_input_is_refused(tmp_path: Path) -> None:
    data = extract(tmp_path)
    result = invoke("--data", str(data), "--out", str(data))
    assert result.exit_code == 1
    assert "--out must differ from the data directory" in result.output
    assert not (data / "rejected").exists()
