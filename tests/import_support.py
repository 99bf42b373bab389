"""Test support for the importers: hand-built FHIR resources, and a FHIR bulk export written from a contract folder."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from features.importers.mapping import DEFAULT_FHIR_MAPPING

__all__ = [
    "write_table",
    "SNOMED",
    "REGISTRATION_URL",
    "LSOA_URL",
    "IMD_URL",
    "patient",
    "encounter",
    "condition",
    "write_ndjson",
    "write_bundle",
    "mapping_with_extensions",
    "fhir_from_contract",
]

SNOMED = "http://snomed.info/sct"
#: Extension URLs this test export uses for fields with no standard FHIR home (passed in a custom mapping).
REGISTRATION_URL = "https://example.org/fhir/StructureDefinition/gp-registration"
LSOA_URL = "https://example.org/fhir/StructureDefinition/lsoa"
IMD_URL = "https://example.org/fhir/StructureDefinition/imd-decile"

#: One NHS ethnic category code per contract group (the default mapping reads them back).
_ETHNIC_CODES = {"White": "A", "Mixed": "D", "Asian": "H", "Black": "M", "Other": "S", "Unknown": "Z"}
_ETHNIC_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
#: How the export writes each setting: (class code, serviceType text, emergency admit source).
_SETTING_SHAPES: dict[str, tuple[str, str | None, bool]] = {
    "ed": ("EMER", None, False),
    "emergency_admission": ("IMP", None, True),
    "elective_admission": ("IMP", None, False),
    "gp": ("AMB", None, False),
    "outpatient": ("AMB", "Outpatient clinic", False),
    "nhs111": ("VR", "NHS 111 telephone assessment", False),
    "ambulance": ("FLD", "Ambulance service", False),
    "mental_health": ("AMB", "Community mental health team", False),
    "social_care": ("HH", "Adult social care", False),
    "community": ("HH", None, False),
}


def patient(pid: str, birth: str = "1960-05-01", gender: str = "female", **fields: Any) -> dict[str, Any]:
    """A Patient resource with an id, birth date and gender, plus any ``fields``."""
    return {"resourceType": "Patient", "id": pid, "birthDate": birth, "gender": gender, **fields}


def encounter(eid: str, pid: str | None, klass: str, start: str = "2024-03-01T10:00:00Z", **fields: Any) -> dict[str, Any]:
    """An Encounter of class ``klass`` for patient ``pid`` (no subject when ``pid`` is None)."""
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "period": {"start": start},
        **fields,
    }
    if pid is not None:
        resource["subject"] = {"reference": f"Patient/{pid}"}
    return resource


def condition(cid: str, pid: str, code: str, system: str = SNOMED, **fields: Any) -> dict[str, Any]:
    """A Condition coded ``code`` in ``system`` for patient ``pid``."""
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": system, "code": code}]},
        **fields,
    }


def write_table(folder: Path, name: str, rows: list[dict], parquet: bool = False) -> None:
    """Write one OMOP table of ``rows`` as ``name.csv`` (or ``name.parquet``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    if parquet:
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    else:
        frame.to_csv(folder / f"{name}.csv", index=False)


def write_ndjson(path: Path, resources: Iterable[dict[str, Any]]) -> Path:
    """Write ``resources`` one per line (gzip when the name ends ``.gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(resource) + "\n" for resource in resources).encode()
    path.write_bytes(gzip.compress(text) if path.name.endswith(".gz") else text)
    return path


def write_bundle(path: Path, resources: Iterable[dict[str, Any]], kind: str = "transaction") -> Path:
    """Write ``resources`` as one Bundle whose entries use ``urn:uuid:`` full URLs, like a Synthea or GP Connect export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [{"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource} for resource in resources]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": kind, "entry": entries}))
    return path


def mapping_with_extensions(path: Path) -> Path:
    """The shipped FHIR mapping with this export's registration, LSOA and IMD extension URLs filled in."""
    text = DEFAULT_FHIR_MAPPING.read_text()
    text = text.replace("lsoa_extensions = []", f'lsoa_extensions = ["{LSOA_URL}"]')
    text = text.replace("imd_decile_extensions = []", f'imd_decile_extensions = ["{IMD_URL}"]')
    text = text.replace("registration_extensions = []", f'registration_extensions = ["{REGISTRATION_URL}"]')
    path.write_text(text)
    return path


def _iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).isoformat()


def _day(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat()


def fhir_from_contract(data_dir: Path, out: Path) -> Path:
    """Write a contract folder as a FHIR bulk export: Patient, Encounter (gzip), Condition and Claim NDJSON files."""
    persons = pd.read_parquet(data_dir / "persons.parquet")
    events = pd.read_parquet(data_dir / "events.parquet")
    codes = pd.read_parquet(data_dir / "codes.parquet")
    patients = []
    for row in persons.itertuples(index=False):
        extension = [{"url": REGISTRATION_URL, "valuePeriod": {k: v for k, v in (("start", _day(row.registered_from)), ("end", _day(row.registered_to))) if v}}]
        if isinstance(row.ethnic_group, str):
            extension.append({"url": _ETHNIC_URL, "valueCodeableConcept": {"coding": [{"code": _ETHNIC_CODES[row.ethnic_group]}]}})
        address_extension = []
        if isinstance(row.lsoa, str):
            address_extension.append({"url": LSOA_URL, "valueString": row.lsoa})
        if not pd.isna(row.imd_decile):
            address_extension.append({"url": IMD_URL, "valueInteger": int(row.imd_decile)})
        resource = patient(
            row.person_id,
            birth=_day(row.birth_date) or "",
            gender={"F": "female", "M": "male"}.get(row.sex, "unknown"),
            identifier=[{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": row.nhs_number}] if isinstance(row.nhs_number, str) else [],
            generalPractitioner=[{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": row.practice}}],
            extension=extension,
            address=[{"use": "home", "extension": address_extension}],
        )
        if _day(row.death_date):
            resource["deceasedDateTime"] = _day(row.death_date)
        patients.append(resource)
    encounters, claims = [], []
    for number, row in enumerate(events.itertuples(index=False)):
        klass, service, emergency = _SETTING_SHAPES[row.setting]
        fields: dict[str, Any] = {}
        if service:
            fields["serviceType"] = {"text": service}
        if emergency:
            fields["hospitalization"] = {"admitSource": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/admit-source", "code": "emd"}]}}
        if _iso(row.recorded_at):
            fields["meta"] = {"lastUpdated": _iso(row.recorded_at) + "Z"}
        eid = f"E{number}"
        encounters.append(encounter(eid, row.person_id, klass, start=_iso(row.event_date) + "Z", **fields))
        if not pd.isna(row.cost_gbp):
            claims.append({
                "resourceType": "Claim", "id": f"C{number}",
                "patient": {"reference": f"Patient/{row.person_id}"},
                "item": [{"sequence": 1, "encounter": [{"reference": f"Encounter/{eid}"}]}],
                "total": {"value": float(row.cost_gbp), "currency": "GBP"},
            })
    conditions = []
    for number, row in enumerate(codes.itertuples(index=False)):
        fields = {"onsetDateTime": _day(row.start_date), "recordedDate": _iso(row.recorded_at) + "Z"}
        if _day(row.end_date):
            fields["abatementDateTime"] = _day(row.end_date)
        conditions.append(condition(f"K{number}", row.person_id, row.code, **fields))
    write_ndjson(out / "Patient.ndjson", patients)
    write_ndjson(out / "Encounter.ndjson.gz", encounters)
    write_ndjson(out / "Condition.ndjson", conditions)
    write_ndjson(out / "Claim.ndjson", claims)
    return out
