"""The import report: every resource or row read, counted as mapped or not mapped with a reason and first examples."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["REPORT_FILE", "EXAMPLES_PER_REASON", "Example", "TypeCounts", "ImportReport", "Tally"]

REPORT_FILE = "import_report.json"
#: How many inputs per type and reason the report quotes.
EXAMPLES_PER_REASON = 3


@dataclass(frozen=True)
class Example:
    """One input not mapped: where it is (file and line, entry or row) and the value that decided it (never an identifier)."""

    file: str
    position: str
    detail: str


@dataclass
class TypeCounts:
    """What happened to one resource type or table. ``read == mapped + sum(not_mapped.values())``."""

    read: int = 0
    mapped: int = 0
    not_mapped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)

    @property
    def not_mapped_total(self) -> int:
        """Inputs of this type not mapped, over all reasons."""
        return sum(self.not_mapped.values())


@dataclass
class ImportReport:
    """The outcome of one import run, written as ``import_report.json`` next to the contract tables."""

    source_format: str
    source: str
    out_dir: str
    mapping_file: str
    created_at: str
    inputs: dict[str, TypeCounts]
    rows_written: dict[str, int]
    defaults_applied: dict[str, int]
    warnings: list[str]

    @property
    def read(self) -> int:
        """Inputs read over all types."""
        return sum(counts.read for counts in self.inputs.values())

    @property
    def mapped(self) -> int:
        """Inputs mapped over all types."""
        return sum(counts.mapped for counts in self.inputs.values())

    @property
    def not_mapped(self) -> int:
        """Inputs not mapped over all types."""
        return sum(counts.not_mapped_total for counts in self.inputs.values())

    def to_dict(self) -> dict:
        """The report as JSON-ready built-in types, with the totals."""
        result = asdict(self)
        result["totals"] = {"read": self.read, "mapped": self.mapped, "not_mapped": self.not_mapped}
        return result

    def write(self, path: Path) -> None:
        """Write the report as JSON to ``path``."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


class Tally:
    """Counts inputs as they stream by: one ``read`` each, then ``mapped`` or ``not_mapped`` with a reason."""

    def __init__(self) -> None:
        self.inputs: dict[str, TypeCounts] = {}
        self.defaults: Counter[str] = Counter()

    def _counts(self, kind: str) -> TypeCounts:
        counts = self.inputs.get(kind)
        if counts is None:
            counts = self.inputs[kind] = TypeCounts()
        return counts

    def read(self, kind: str, n: int = 1) -> None:
        """Count ``n`` inputs of ``kind`` read."""
        self._counts(kind).read += n

    def mapped(self, kind: str, n: int = 1) -> None:
        """Count ``n`` inputs of ``kind`` mapped into the contract tables."""
        self._counts(kind).mapped += n

    def not_mapped(self, kind: str, reason: str, file: str, position: str, detail: str, n: int = 1) -> None:
        """Count ``n`` inputs of ``kind`` not mapped for ``reason``; keep the first few as examples."""
        counts = self._counts(kind)
        counts.not_mapped[reason] = counts.not_mapped.get(reason, 0) + n
        examples = counts.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES_PER_REASON:
            examples.append(Example(file=file, position=position, detail=detail))

    def default(self, what: str, n: int = 1) -> None:
        """Count a default applied (e.g. ``registered_from=birth_date``)."""
        self.defaults[what] += n
