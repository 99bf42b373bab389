"""Decide the care setting of each OMOP visit (visit rules, ER markers, NHS admission methods) and count how each was decided.

Precedence for one ``visit_occurrence`` row (the mapping file's ``[visit]`` section documents it too):

1. The first matching visit rule decides when it lists ``admitted_from`` (an ER marker, e.g. 9201
   admitted from 8870/9203) or when the visit concept is not one of
   ``[visit] admission_method_concepts`` (e.g. 262 ER-and-inpatient, 9203, 9202).
2. Otherwise, for a visit concept in ``admission_method_concepts`` (9201 inpatient), a listed NHS
   admission method found in ``admission_method_columns``, then ``admission_method_detail_columns``
   of its ``visit_detail`` rows, decides (21 → emergency_admission, 11 → elective_admission, …).
3. Otherwise the first matching visit rule decides (9201 → elective_admission): a default, counted
   and, when it is a large share of the inpatient visits, warned about.

NHS SUS/HES-based CDMs need step 2: their ``admitted_from_concept_id`` holds the admission *source*
(home, another hospital), so without the method every emergency admission would arrive as an
elective one.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from features.importers.mapping import AdmissionMethodRule, OmopMapping, VisitRule

__all__ = [
    "ER_MARKER",
    "VISIT_CONCEPT",
    "DEFAULT_NO_METHOD",
    "DEFAULT_UNLISTED_METHOD",
    "NOT_MAPPED",
    "UNLISTED_KEPT",
    "method_key",
    "VisitClassifier",
]

#: Classification keys of the report's ``visit_classification`` (each maps setting or reason → visits).
ER_MARKER = "er_marker"
VISIT_CONCEPT = "visit_concept"
DEFAULT_NO_METHOD = "default_no_admission_method"
DEFAULT_UNLISTED_METHOD = "default_unlisted_admission_method"
NOT_MAPPED = "not_mapped"
#: Distinct unlisted admission-method values counted for the warning (the most common are quoted); further ones are not kept.
UNLISTED_KEPT = 50
#: Unlisted values quoted in the warning.
_UNLISTED_QUOTED = 3


def method_key(rule: AdmissionMethodRule) -> str:
    """The classification key of visits decided by an admission method group (``admission_method_emergency``, …)."""
    return f"admission_method_{rule.name}"


def _text(value: Any) -> str:
    """A cell as trimmed text; a whole-number float (a numeric column with NULLs) loses its ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    return str(value).strip()


class VisitClassifier:
    """Gives each visit row its setting by the precedence in the module docstring, counting how each was decided."""

    def __init__(self, mapping: OmopMapping) -> None:
        self.rules = mapping.visit_rules
        self.visit = mapping.visit
        self.pattern = re.compile(mapping.visit.admission_method_pattern)
        self.methods: dict[str, AdmissionMethodRule] = {
            code.strip().upper(): rule for rule in mapping.visit.admission_methods for code in rule.codes
        }
        self.method_concepts = frozenset(mapping.visit.admission_method_concepts)
        self.counts: dict[str, Counter[str]] = {}
        #: Mapped visits whose concept is in admission_method_concepts (the warning's denominator).
        self.inpatient = 0
        self.unlisted: Counter[str] = Counter()
        self.detail_methods: dict[int, tuple[datetime, str]] = {}

    def _find(self, row: dict[str, Any], columns: tuple[str, ...]) -> tuple[str | None, str | None]:
        """The first listed admission method in ``columns`` and, failing that, the first unlisted value seen.

        The second item is ``None`` when every column is empty, the captured code when a value matched
        the pattern with an unlisted code, and ``""`` when a value did not match the pattern at all
        (it is not quoted: such a column may hold an identifier).
        """
        unlisted: str | None = None
        for column in columns:
            value = _text(row.get(column))
            if not value:
                continue
            match = self.pattern.fullmatch(value)
            code = (match.group(1) or "").upper() if match else ""
            if code in self.methods:
                return code, None
            if unlisted is None or (not unlisted and code):
                unlisted = code
        return None, unlisted

    def note_detail(self, visit: int | None, start: datetime | None, row: dict[str, Any]) -> None:
        """Remember the admission method of a ``visit_detail`` row for its visit (the earliest row with a listed code wins)."""
        if visit is None or not self.visit.admission_method_detail_columns:
            return
        code, _ = self._find(row, self.visit.admission_method_detail_columns)
        if code is None:
            return
        moment = start or datetime.max
        held = self.detail_methods.get(visit)
        if held is None or moment < held[0]:
            self.detail_methods[visit] = (moment, code)

    def _count(self, key: str, what: str) -> None:
        self.counts.setdefault(key, Counter())[what] += 1

    def _first_rule(self, concept: int | None, admitted_from: int | None) -> VisitRule | None:
        return next(
            (
                rule
                for rule in self.rules
                if concept in rule.visit_concepts and (not rule.admitted_from or admitted_from in rule.admitted_from)
            ),
            None,
        )

    def classify(self, row: dict[str, Any], concept: int | None, admitted_from: int | None, visit: int | None) -> tuple[str | None, str]:
        """The setting of a visit row (``None`` when nothing decides it) and its classification key.

        Parameters
        ----------
        row
            The ``visit_occurrence`` row (lower-case column names), searched for the admission method.
        concept, admitted_from
            Its ``visit_concept_id`` and ``admitted_from_concept_id``.
        visit
            Its ``visit_occurrence_id``, joining the admission methods noted from ``visit_detail``.
        """
        rule = self._first_rule(concept, admitted_from)
        inpatient = concept in self.method_concepts
        if rule is not None and (rule.admitted_from or not inpatient):
            key = ER_MARKER if rule.admitted_from else VISIT_CONCEPT
            self.inpatient += inpatient
            self._count(key, rule.setting)
            return rule.setting, key
        if not inpatient:
            return None, NOT_MAPPED
        code, unlisted = self._find(row, self.visit.admission_method_columns)
        if code is None and visit is not None and visit in self.detail_methods:
            code = self.detail_methods[visit][1]
        if code is not None:
            method = self.methods[code]
            self.inpatient += 1
            self._count(method_key(method), method.setting)
            return method.setting, method_key(method)
        if rule is None:
            return None, NOT_MAPPED
        key = DEFAULT_NO_METHOD if unlisted is None else DEFAULT_UNLISTED_METHOD
        if unlisted and (unlisted in self.unlisted or len(self.unlisted) < UNLISTED_KEPT):
            self.unlisted[unlisted] += 1
        self.inpatient += 1
        self._count(key, rule.setting)
        return rule.setting, key

    def not_mapped(self, reason: str) -> None:
        """Count a visit row that was not mapped, under its report reason."""
        self._count(NOT_MAPPED, reason)

    def classification(self) -> dict[str, dict[str, int]]:
        """Visit rows by how they were classified, then by setting (or, under ``not_mapped``, reason); they add up to the rows read."""
        return {key: dict(sorted(counts.items())) for key, counts in sorted(self.counts.items())}

    def warning(self) -> str | None:
        """The warning when more than ``warn_default_share`` of the inpatient visits took their visit rule's setting by default."""
        defaults: Counter[str] = Counter()
        for key in (DEFAULT_NO_METHOD, DEFAULT_UNLISTED_METHOD):
            defaults.update(self.counts.get(key, Counter()))
        total = sum(defaults.values())
        if not self.inpatient or total <= self.visit.warn_default_share * self.inpatient:
            return None
        settings = ", ".join(f"{setting} ({count:,})" if len(defaults) > 1 else setting for setting, count in sorted(defaults.items()))
        concepts = ", ".join(str(concept) for concept in self.visit.admission_method_concepts)
        columns = ", ".join(self.visit.admission_method_columns + self.visit.admission_method_detail_columns) or "no column"
        message = (
            f"{total:,} of {self.inpatient:,} inpatient visits (visit_concept_id {concepts}) carry no admission method or ER marker "
            f"and were mapped to {settings}; if this extract comes from SUS/HES, set visit.admission_method_columns in the "
            f"mapping file to the column holding the admission method (searched: {columns}), or have the ETL write it to one."
        )
        unlisted = sum(self.counts.get(DEFAULT_UNLISTED_METHOD, Counter()).values())
        if unlisted:
            common = ", ".join(f"{code!r} ({count:,})" for code, count in self.unlisted.most_common(_UNLISTED_QUOTED))
            message += (
                f" Values there that are not listed admission methods were found in {unlisted:,} of them"
                + (f", most often {common}" if common else "")
                + "; an admission source such as 19 (usual place of residence) is not an admission method."
            )
        return message
