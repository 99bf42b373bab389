"""A neighbourhood's list as CSV for the team, with every cell safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["EXPORT_COLUMNS", "FORMULA_PREFIXES", "escape_cell", "export_filename", "list_csv"]

#: Columns of the export, in order.
EXPORT_COLUMNS = (
    "rank", "person_id", "nhs_number", "age", "sex", "practice", "score", "status", "previously_declined", "top_reasons",
)

#: First characters that make a spreadsheet read a cell as a formula (CSV injection), and tab / carriage return.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def escape_cell(value: Any) -> str:
    """``value`` as text; text starting with a formula character gets a leading apostrophe, so it stays text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def list_csv(people: Sequence[Mapping[str, Any]], statuses: Mapping[str, str]) -> str:
    """The CSV text of a list's entries (the service's list entries, best first).

    ``statuses`` maps person ids to their current status (latest action now); people without one
    keep the status the publication recorded. ``top_reasons`` joins the reasons' texts with "; ".
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for person in people:
        row = {
            "rank": person["rank"],
            "person_id": person["person_id"],
            "nhs_number": person.get("nhs_number"),
            "age": person.get("age"),
            "sex": person.get("sex"),
            "practice": person.get("practice"),
            "score": f"{float(person['score']):.4f}",
            "status": statuses.get(person["person_id"], person.get("status")),
            "previously_declined": "yes" if person.get("previously_declined") else "no",
            "top_reasons": "; ".join(str(r["text"]) for r in person.get("reasons", [])),
        }
        writer.writerow([escape_cell(row[column]) for column in EXPORT_COLUMNS])
    return out.getvalue()


def export_filename(neighbourhood: str, publication_id: str) -> str:
    """A safe attachment file name: ``list-<neighbourhood>-<publication id>.csv`` with only letters, digits, ``_`` and ``-``."""
    name = _UNSAFE_NAME.sub("-", neighbourhood).strip("-") or "neighbourhood"
    return f"list-{name}-{_UNSAFE_NAME.sub('-', publication_id)}.csv"
