"""Import OMOP CDM v5.4 tables (a Parquet/CSV folder or a database URL) into a data-contract folder, streaming, every row reported.

Tables read: ``person``, ``observation_period`` (registration), ``death``, ``visit_occurrence``
(events, their setting decided by :mod:`features.importers.omop_visits`: visit rules, ER markers
and NHS admission methods; ``visit_detail`` rows are parts of a visit, searched for its admission
method when configured and reported as counted there),
``condition_occurrence``, ``observation``, ``procedure_occurrence`` (codes, through ``concept`` to the
vocabulary code, standard concept first then the source concept) and ``cost`` (visit costs).
Only ``person`` is required. Lookups (concepts of kept vocabularies, one registration, death and
cost per person or visit) are held in memory; the large tables stream a batch at a time from
whichever :mod:`features.importers.omop_sources` source holds them, through one mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from features.importers.errors import ImportSourceError
from features.importers.mapping import DEFAULT_OMOP_MAPPING, OmopMapping, load_omop_mapping
from features.importers.omop_sources import DatabaseSource, OmopSource, open_source
from features.importers.omop_visits import DEFAULT_NO_METHOD, DEFAULT_UNLISTED_METHOD, VisitClassifier
from features.importers.output import prepare_out
from features.importers.report import REPORT_FILE, ImportReport, Tally
from features.importers.writer import SCHEMAS, open_writers
from features.progress import ProgressCallback, report

__all__ = ["OMOP_TABLES", "OmopImportReport", "import_omop"]

#: The OMOP tables the importer reads, in reading order.
OMOP_TABLES: tuple[str, ...] = (
    "concept",
    "cost",
    "observation_period",
    "death",
    "person",
    "visit_detail",
    "visit_occurrence",
    "condition_occurrence",
    "observation",
    "procedure_occurrence",
)
#: Code tables: (concept column, source concept column, start date column, end date column).
_CODE_TABLES: dict[str, tuple[str, str, str, str | None]] = {
    "condition_occurrence": ("condition_concept_id", "condition_source_concept_id", "condition_start_date", "condition_end_date"),
    "observation": ("observation_concept_id", "observation_source_concept_id", "observation_date", None),
    "procedure_occurrence": ("procedure_concept_id", "procedure_source_concept_id", "procedure_date", "procedure_end_date"),
}
_TASK = "Importing OMOP"
_DEFAULTED = (DEFAULT_NO_METHOD, DEFAULT_UNLISTED_METHOD)


@dataclass
class OmopImportReport(ImportReport):
    """An :class:`ImportReport` plus how each ``visit_occurrence`` row's setting was decided.

    ``visit_classification`` maps a key (``er_marker``, ``visit_concept``, ``admission_method_<name>``,
    ``default_no_admission_method``, ``default_unlisted_admission_method``, ``not_mapped``) to visits
    by setting (by reason under ``not_mapped``); over all keys they add up to the rows read.
    """

    visit_classification: dict[str, dict[str, int]]


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _id(value: Any) -> str:
    """An identifier as text; a whole-number float (a database or Parquet column with NULLs) loses its ``.0``."""
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and len(value) >= 10:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return None


class _OmopImport:
    """One import run: mapping, tally, lookups and writers."""

    def __init__(self, mapping: OmopMapping, src: OmopSource, out: Path, chunk_rows: int) -> None:
        self.mapping = mapping
        self.src = src
        self.tally = Tally()
        self.writers = open_writers(out, SCHEMAS, chunk_rows)
        self.concepts: dict[int, tuple[str, str]] = {}
        self.has_concepts = False
        self.costs: dict[int, list[float]] = {}
        self.periods: dict[str, tuple[date, date | None]] = {}
        self.deaths: dict[str, date] = {}
        self.persons: set[str] = set()
        self.visit_classifier = VisitClassifier(mapping)
        self.warnings: list[str] = []
        self.file = ""

    def _skip(self, table: str, reason: str, row: int, detail: str) -> None:
        self.tally.not_mapped(table, reason, self.file, f"row {row}", detail)

    def _rows(self, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
        if not self.src.has(name):
            return
        self.file = self.src.where(name)
        number = 0
        for batch in self.src.batches(name):
            for row in batch:
                number += 1
                self.tally.read(name)
                yield number, row

    def concept(self) -> None:
        vocabularies = self.mapping.code_vocabularies
        self.has_concepts = self.src.has("concept")
        for number, row in self._rows("concept"):
            vocabulary = row.get("vocabulary_id")
            concept = _int(row.get("concept_id"))
            if vocabulary in vocabularies and concept is not None and row.get("concept_code"):
                self.concepts[concept] = (str(row["concept_code"]), vocabularies[vocabulary])
                self.tally.mapped("concept")
            else:
                self._skip("concept", "vocabulary_not_in_mapping", number, f"vocabulary_id={vocabulary!r}")

    def cost(self) -> None:
        accepted = set(self.mapping.currency_concepts)
        for number, row in self._rows("cost"):
            if str(row.get("cost_domain_id") or "").lower() != "visit":
                self._skip("cost", "cost_domain_not_visit", number, f"cost_domain_id={row.get('cost_domain_id')!r}")
                continue
            if accepted and _int(row.get("currency_concept_id")) not in accepted:
                self._skip("cost", "currency_not_accepted", number, f"currency_concept_id={row.get('currency_concept_id')!r}")
                continue
            amount = next((v for v in (_float(row.get(c)) for c in self.mapping.cost_columns) if v is not None), None)
            visit = _int(row.get("cost_event_id"))
            if amount is None or visit is None:
                self._skip("cost", "missing_amount_or_visit", number, f"no value in {', '.join(self.mapping.cost_columns)} or cost_event_id")
                continue
            held = self.costs.setdefault(visit, [0.0, 0.0])
            held[0] += amount
            held[1] += 1

    def observation_period(self) -> None:
        for number, row in self._rows("observation_period"):
            person, start = _id(row.get("person_id")), _date(row.get("observation_period_start_date"))
            if not person or start is None:
                self._skip("observation_period", "missing_person_or_start", number, "person_id or observation_period_start_date empty")
                continue
            end = _date(row.get("observation_period_end_date"))
            held = self.periods.get(person)
            if held is not None:
                start = min(start, held[0])
                end = None if end is None or held[1] is None else max(end, held[1])
            self.periods[person] = (start, end)
            self.tally.mapped("observation_period")

    def death(self) -> None:
        for number, row in self._rows("death"):
            person, when = _id(row.get("person_id")), _date(row.get("death_date"))
            if not person or when is None:
                self._skip("death", "missing_person_or_date", number, "person_id or death_date empty")
                continue
            self.deaths[person] = min(when, self.deaths.get(person, when))
            self.tally.mapped("death")

    def person(self) -> None:
        data_end = max((end for _, end in self.periods.values() if end is not None), default=None)
        default = self.mapping.default_registered_from
        for number, row in self._rows("person"):
            person = _id(row.get("person_id"))
            if not person:
                self._skip("person", "missing_person_id", number, "person_id empty")
                continue
            if person in self.persons:
                self._skip("person", "duplicate_person_id", number, "a person row with this id was read before")
                continue
            birth = _date(row.get("birth_datetime"))
            if birth is None and _int(row.get("year_of_birth")):
                month, day = _int(row.get("month_of_birth")), _int(row.get("day_of_birth"))
                if month is None or day is None:
                    self.tally.default("persons.birth_date month/day=1 (only year_of_birth)")
                try:
                    birth = date(_int(row["year_of_birth"]) or 0, month or 1, day or 1)
                except ValueError:
                    birth = None
            if birth is None:
                self._skip("person", "missing_birth_date", number, f"year_of_birth={row.get('year_of_birth')!r}")
                continue
            sex = self.mapping.sexes.get(str(_int(row.get("gender_concept_id"))), "U")
            period = self.periods.get(person)
            if period is None:
                registered_from = birth if default == "birth_date" else max(default, birth)
                registered_to = None
                self.tally.default(f"persons.registered_from={default} (no observation_period)")
            else:
                registered_from = period[0]
                registered_to = period[1] if period[1] is not None and data_end is not None and period[1] < data_end else None
            care_site = _int(row.get("care_site_id"))
            self.persons.add(person)
            self.writers["persons"].add(
                (person, None, birth, sex, None, None, None, str(care_site) if care_site is not None else None, None,
                 registered_from, registered_to, self.deaths.get(person))
            )
            self.tally.mapped("person")
        orphans = sum(1 for person in self.periods if person not in self.persons) + sum(1 for p in self.deaths if p not in self.persons)
        if orphans:
            self.warnings.append(f"{orphans} observation_period or death rows name a person absent from the person table.")

    def visits(self) -> None:
        classifier = self.visit_classifier
        for number, row in self._rows("visit_detail"):
            start = _instant(row.get("visit_detail_start_datetime")) or _instant(row.get("visit_detail_start_date"))
            classifier.note_detail(_int(row.get("visit_occurrence_id")), start, row)
            self._skip("visit_detail", "counted_in_visit_occurrence", number, "a part of a visit_occurrence row, which is the event")
        used: set[int] = set()
        for number, row in self._rows("visit_occurrence"):
            person = _id(row.get("person_id"))
            start = _instant(row.get("visit_start_datetime")) or _instant(row.get("visit_start_date"))
            if not person or start is None:
                self._skip("visit_occurrence", "missing_person_or_date", number, "person_id or visit_start_date empty")
                classifier.not_mapped("missing_person_or_date")
                continue
            concept, source = _int(row.get("visit_concept_id")), _int(row.get("admitted_from_concept_id"))
            visit = _int(row.get("visit_occurrence_id"))
            setting, how = classifier.classify(row, concept, source, visit)
            if setting is None:
                self._skip("visit_occurrence", "no_setting_rule", number, f"visit_concept_id={concept} admitted_from_concept_id={source}")
                classifier.not_mapped("no_setting_rule")
                continue
            if how in _DEFAULTED:
                self.tally.default(f"events.setting={setting} (inpatient visit without ER marker or listed admission method)")
            held = self.costs.get(visit) if visit is not None else None
            if held is not None:
                used.add(visit)  # type: ignore[arg-type]
            self.writers["events"].add((person, start, setting, None, held[0] if held is not None else None))
            self.tally.mapped("visit_occurrence")
        for visit, (_, rows) in self.costs.items():
            if visit in used:
                self.tally.mapped("cost", int(rows))
            else:
                self.tally.not_mapped("cost", "visit_not_found", self.src.where("cost"), "(after visits)",
                                      "cost_event_id names no imported visit", n=int(rows))
        warning = classifier.warning()
        if warning:
            self.warnings.append(warning)

    def codes(self, table: str) -> None:
        concept_column, source_column, start_column, end_column = _CODE_TABLES[table]
        for number, row in self._rows(table):
            person = _id(row.get("person_id"))
            start = _date(row.get(start_column))
            if not person or start is None:
                self._skip(table, "missing_person_or_date", number, f"person_id or {start_column} empty")
                continue
            concept, source = _int(row.get(concept_column)), _int(row.get(source_column))
            resolved = self.concepts.get(concept or 0) or self.concepts.get(source or 0)
            if resolved is None:
                reason = "concept_table_missing" if not self.has_concepts else "concept_not_in_mapped_vocabulary"
                self._skip(table, reason, number, f"{concept_column}={concept} {source_column}={source}")
                continue
            end = _date(row.get(end_column)) if end_column else None
            self.writers["codes"].add((person, resolved[0], resolved[1], start, end, None))
            self.tally.mapped(table)


def import_omop(
    src: Path | str,
    out: Path | str,
    *,
    mapping: Path | str | None = None,
    schema: str | None = None,
    chunk_rows: int = 100_000,
    progress: ProgressCallback | None = None,
) -> OmopImportReport:
    """Convert the OMOP CDM v5.4 tables in ``src`` (a folder or a database) into the contract tables in ``out``.

    Parameters
    ----------
    src
        A folder holding ``person`` and any of the other :data:`OMOP_TABLES` as ``NAME.parquet`` or
        ``NAME.csv`` (header row, ISO dates); or a database URL (string) such as
        ``sqlite:///cdm.sqlite`` or ``postgresql://USER:PASSWORD@HOST/DB?schema=cdm`` whose tables
        carry those names (any case). Both are read through the same mapping.
    out
        A new or empty folder; receives the three contract tables and ``import_report.json``.
    mapping
        A mapping TOML file; the shipped ``omop_mapping.toml`` when ``None``.
    schema
        Database only: the CDM schema (overrides ``?schema=`` in the URL).
    chunk_rows
        Rows buffered per table before a row group is written.
    progress
        Called after each table with tables done of the total.

    Returns
    -------
    OmopImportReport
        Every row read, by table: mapped, or not mapped with the reason and the first examples;
        ``visit_classification`` says how each visit's setting was decided, and ``warnings`` says
        when many inpatient visits had no admission method or ER marker.
        ``source`` names a database URL with its password masked. OMOP has no record time, so
        ``recorded_at`` is empty (validate defaults it to the event date): backfilled rows cannot
        be told apart from timely ones.
    """
    settings = load_omop_mapping(mapping)
    source = open_source(src, schema)
    try:
        if not source.has("person"):
            raise ImportSourceError(source.missing_person_message())
        out = prepare_out(None if isinstance(source, DatabaseSource) else Path(src), Path(out))
        run = _OmopImport(settings, source, out, chunk_rows)
        steps = [run.concept, run.cost, run.observation_period, run.death, run.person, run.visits,
                 *(lambda table=table: run.codes(table) for table in _CODE_TABLES)]
        for done, step in enumerate(steps):
            report(progress, _TASK, done, len(steps))
            step()
        report(progress, _TASK, len(steps), len(steps))
        for writer in run.writers.values():
            writer.close()
        absent = [name for name in OMOP_TABLES if not source.has(name)]
    finally:
        source.close()
    if absent:
        run.warnings.append(f"tables absent from {source.name}: {', '.join(absent)}")
    result = OmopImportReport(
        source_format="omop",
        source=source.name,
        out_dir=str(out),
        mapping_file=str(mapping if mapping is not None else DEFAULT_OMOP_MAPPING),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        inputs=dict(sorted(run.tally.inputs.items())),
        rows_written={name: writer.rows_written for name, writer in run.writers.items()},
        defaults_applied=dict(sorted(run.tally.defaults.items())),
        warnings=run.warnings,
        visit_classification=run.visit_classifier.classification(),
    )
    result.write(out / REPORT_FILE)
    return result
