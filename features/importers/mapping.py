"""The editable mapping files of the FHIR and OMOP importers, read into validated pydantic models."""

from __future__ import annotations

import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from features.contract import ETHNIC_GROUPS, SETTINGS, SEXES
from features.errors import ConfigError
from features.importers.errors import MappingError
from features.typed_config import TypedConfig, read_toml

__all__ = [
    "DEFAULT_FHIR_MAPPING",
    "DEFAULT_OMOP_MAPPING",
    "EncounterRule",
    "FhirPatientMapping",
    "FhirMapping",
    "VisitRule",
    "AdmissionMethodRule",
    "OmopVisitMapping",
    "OmopMapping",
    "load_fhir_mapping",
    "load_omop_mapping",
]

#: The mapping files shipped with the package; copy one, edit it and pass it with ``--mapping``.
DEFAULT_FHIR_MAPPING = Path(str(resources.files("features.importers") / "fhir_mapping.toml"))
DEFAULT_OMOP_MAPPING = Path(str(resources.files("features.importers") / "omop_mapping.toml"))

RegisteredFrom = Literal["birth_date"] | date


def _setting(value: str) -> str:
    if value not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}; got {value!r}")
    return value


def _sexes(values: dict[str, str]) -> dict[str, str]:
    bad = {key: value for key, value in values.items() if value not in SEXES}
    if bad:
        raise ValueError(f"sexes must map to one of {', '.join(SEXES)}; got {bad}")
    return values


Setting = Annotated[str, AfterValidator(_setting)]
SexMap = Annotated[dict[str, str], AfterValidator(_sexes)]


class EncounterRule(TypedConfig):
    """One rule turning a FHIR Encounter into a care setting; every listed criterion must match (any value within it)."""

    setting: Setting = Field(description="Contract setting given to matching encounters (ed, emergency_admission, …).")
    classes: tuple[str, ...] = Field(default=(), description="Encounter.class codes (v3 ActCode: EMER, IMP, AMB, …).")
    types: tuple[str, ...] = Field(default=(), description="Encounter.type codes (any system, e.g. SNOMED CT).")
    service_types: tuple[str, ...] = Field(default=(), description="Encounter.serviceType codes (any system).")
    admit_sources: tuple[str, ...] = Field(
        default=(), description="Admission source or method codes (hospitalization.admitSource or an admission-method extension)."
    )
    text: tuple[str, ...] = Field(
        default=(), description="Words found (case-insensitive) in the text or display of Encounter.type or serviceType."
    )


    @model_validator(mode="after")
    def _has_a_criterion(self) -> EncounterRule:
        if not (self.classes or self.types or self.service_types or self.admit_sources or self.text):
            raise ValueError(
                f"an encounter rule must list at least one of classes, types, service_types, admit_sources or text; "
                f"got only setting = {self.setting!r}"
            )
        return self


class FhirPatientMapping(TypedConfig):
    """Where the Patient resource carries each persons column."""

    nhs_number_systems: tuple[str, ...] = Field(description="Identifier systems whose value is the NHS number.")
    practice_identifier_systems: tuple[str, ...] = Field(
        description="Identifier systems of generalPractitioner giving the practice code; otherwise the reference's id is used."
    )
    sexes: SexMap = Field(description="Patient.gender → contract sex (F, M, U); other genders become U.")
    ethnic_category_extensions: tuple[str, ...] = Field(description="Extension URLs whose coded value is the ethnic category.")
    ethnic_groups: dict[str, str] = Field(description="Ethnic category code → contract ethnic group.")
    lsoa_extensions: tuple[str, ...] = Field(
        default=(), description="Extension URLs (on the Patient or an address) whose value is the LSOA code."
    )
    imd_decile_extensions: tuple[str, ...] = Field(
        default=(), description="Extension URLs (on the Patient or an address) whose integer value is the IMD decile."
    )
    registration_extensions: tuple[str, ...] = Field(
        default=(), description="Extension URLs whose valuePeriod is the GP registration (start → registered_from, end → registered_to)."
    )
    default_registered_from: RegisteredFrom = Field(
        description="registered_from when the record has no registration: 'birth_date' or an ISO date."
    )


    @field_validator("ethnic_groups")
    @classmethod
    def _groups_known(cls, values: dict[str, str]) -> dict[str, str]:
        bad = {key: value for key, value in values.items() if value not in ETHNIC_GROUPS}
        if bad:
            raise ValueError(f"ethnic_groups must map to one of {', '.join(ETHNIC_GROUPS)}; got {bad}")
        return values


class FhirMapping(TypedConfig):
    """How FHIR R4 resources become persons, events and codes rows."""

    code_systems: dict[str, str] = Field(
        description="Coding systems kept in codes (system URL → contract code_system); codings in other systems are not mapped."
    )
    observation_value_codes: bool = Field(
        description="Also write an Observation's coded value (valueCodeableConcept) in a kept system as a codes row."
    )
    skip_statuses: tuple[str, ...] = Field(
        description="status or verificationStatus codes whose resources are not mapped (entered-in-error, cancelled, …)."
    )
    cost_resources: tuple[Literal["Claim", "ExplanationOfBenefit"], ...] = Field(
        description="Resources giving an encounter's cost, in order of preference."
    )
    cost_category: str = Field(description="ExplanationOfBenefit.total category code taken as the cost (e.g. submitted).")
    currencies: tuple[str, ...] = Field(description="Currencies accepted as cost_gbp; amounts in others are not mapped.")
    admit_source_extensions: tuple[str, ...] = Field(
        default=(), description="Encounter extension URLs whose coded value counts as the admission source/method."
    )
    patient: FhirPatientMapping = Field(description="Where the Patient resource carries each persons column.")
    encounter_rules: tuple[EncounterRule, ...] = Field(
        min_length=1, description="Encounter → setting rules; the first matching rule wins, unmatched encounters are reported."
    )


class VisitRule(TypedConfig):
    """One rule turning an OMOP visit into a care setting; every listed criterion must match."""

    setting: Setting = Field(description="Contract setting given to matching visits.")
    visit_concepts: tuple[int, ...] = Field(min_length=1, description="visit_concept_id values (9203 ER visit, 9201 inpatient, …).")
    admitted_from: tuple[int, ...] = Field(
        default=(), description="admitted_from_concept_id values required (e.g. 8870 emergency room); empty matches any."
    )


class AdmissionMethodRule(TypedConfig):
    """One group of admission method codes (NHS Data Dictionary "Admission Method") and the setting it gives an inpatient visit."""

    name: str = Field(min_length=1, description="Short name used in the report (emergency, elective, maternity, other).")
    setting: Setting = Field(description="Contract setting given to inpatient visits whose admission method is one of codes.")
    codes: tuple[str, ...] = Field(min_length=1, description="Admission method codes (21, 2A, 11, …); matched ignoring case.")


class OmopVisitMapping(TypedConfig):
    """How the admission method, where an NHS ETL kept it, decides the setting of an inpatient visit."""

    admission_method_concepts: tuple[int, ...] = Field(
        description="visit_concept_id values whose setting the admission method decides (9201 inpatient), unless an ER-marker "
        "rule (a visit rule with admitted_from) matched first."
    )
    admission_method_columns: tuple[str, ...] = Field(
        description="visit_occurrence columns holding the admission method, tried in order; the first listed code found wins."
    )
    admission_method_detail_columns: tuple[str, ...] = Field(
        default=(),
        description="visit_detail columns holding the admission method, tried after admission_method_columns "
        "(the earliest visit_detail row of the visit with a listed code wins); empty: visit_detail is not searched.",
    )
    admission_method_pattern: str = Field(
        description="Regular expression matched against the whole trimmed value; its one group is the admission method code."
    )
    warn_default_share: float = Field(
        ge=0, le=1,
        description="Warn when more than this share of admission_method_concepts visits carry neither an ER marker nor a listed "
        "admission method and so take their visit rule's setting.",
    )
    admission_methods: tuple[AdmissionMethodRule, ...] = Field(
        min_length=1, description="Admission method code groups; a code may appear in one group only."
    )

    @field_validator("admission_method_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"admission_method_pattern must be a valid regular expression; got {value!r} ({exc})") from None
        if groups != 1:
            raise ValueError(
                f"admission_method_pattern must have exactly one group (the admission method code); got {groups} in {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _codes_and_names_unique(self) -> OmopVisitMapping:
        names = [rule.name for rule in self.admission_methods]
        repeated_names = sorted({name for name in names if names.count(name) > 1})
        if repeated_names:
            raise ValueError(f"admission_methods names must be unique; got {', '.join(repeated_names)} more than once")
        seen: dict[str, str] = {}
        for rule in self.admission_methods:
            for code in rule.codes:
                if not code.strip():
                    raise ValueError(f"admission method codes must not be empty; got {code!r} in {rule.name!r}")
                other = seen.setdefault(code.strip().upper(), rule.name)
                if other != rule.name:
                    raise ValueError(
                        f"an admission method code must belong to one admission_methods group; got {code!r} in both "
                        f"{other!r} and {rule.name!r}"
                    )
        return self


class OmopMapping(TypedConfig):
    """How OMOP CDM v5.4 tables become persons, events and codes rows."""

    visit_rules: tuple[VisitRule, ...] = Field(
        min_length=1, description="Visit → setting rules; the first matching rule wins, unmatched visits are reported."
    )
    visit: OmopVisitMapping = Field(
        description="Admission method rules for inpatient visits (NHS SUS/HES ETLs); applied after ER-marker visit rules."
    )
    sexes: SexMap = Field(description="gender_concept_id → contract sex (F, M, U); other concepts become U.")
    code_vocabularies: dict[str, str] = Field(
        description="concept.vocabulary_id values kept in codes (→ contract code_system); concepts in others are not mapped."
    )
    cost_columns: tuple[str, ...] = Field(
        min_length=1, description="cost table columns tried in order; the first non-empty one is the visit's cost."
    )
    currency_concepts: tuple[int, ...] = Field(
        default=(), description="currency_concept_id values accepted as pounds; empty accepts every cost row."
    )
    default_registered_from: RegisteredFrom = Field(
        description="registered_from for a person without an observation_period: 'birth_date' or an ISO date."
    )

    @model_validator(mode="before")
    @classmethod
    def _has_visit_section(cls, values: object) -> object:
        if isinstance(values, dict) and "visit" not in values:
            raise ValueError(
                "visit must be a section of an OMOP mapping file; got a file without [visit] (written before the admission "
                f"method rules). Copy [visit] and its [[visit.admission_methods]] from {DEFAULT_OMOP_MAPPING}."
            )
        return values



def _load(model: type[TypedConfig], path: Path | str | None, default: Path) -> TypedConfig:
    path = Path(path) if path is not None else default
    try:
        values = read_toml(path)
        return model.load(values, where=str(path))
    except MappingError:
        raise
    except ConfigError as exc:
        raise MappingError(str(exc)) from None


def load_fhir_mapping(path: Path | str | None = None) -> FhirMapping:
    """Read and validate a FHIR mapping file (default: the shipped ``fhir_mapping.toml``)."""
    return _load(FhirMapping, path, DEFAULT_FHIR_MAPPING)  # type: ignore[return-value]


def load_omop_mapping(path: Path | str | None = None) -> OmopMapping:
    """Read and validate an OMOP mapping file (default: the shipped ``omop_mapping.toml``)."""
    return _load(OmopMapping, path, DEFAULT_OMOP_MAPPING)  # type: ignore[return-value]
