"""Code lists: CSV files mapping codes (SNOMED CT by default) to social-need, condition and status categories."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from features.errors import ContractError

__all__ = ["GROUPS", "SOCIAL_NEEDS", "CONDITIONS", "STATUSES", "load_codelists", "snomed_concept_id_valid"]

#: group name -> file name in ``features/codelists/``.
GROUPS: dict[str, str] = {
    "social_need": "social_needs.csv",
    "condition": "conditions.csv",
    "status": "status.csv",
}
SOCIAL_NEEDS: tuple[str, ...] = (
    "homeless",
    "housing_insecurity",
    "lives_alone",
    "financial_difficulty",
    "unemployment",
    "substance_misuse",
    "alcohol_misuse",
    "domestic_abuse",
    "carer",
    "mental_health",
)
CONDITIONS: tuple[str, ...] = (
    "diabetes",
    "copd",
    "asthma",
    "heart_failure",
    "chd",
    "ckd",
    "dementia",
    "smi",
    "cancer",
    "frailty",
    "stroke",
)
STATUSES: tuple[str, ...] = ("end_of_life", "nursing_home", "integrated_care_pathway")
_CATEGORIES = {"social_need": SOCIAL_NEEDS, "condition": CONDITIONS, "status": STATUSES}
_COLUMNS = ["code", "code_system", "category", "description"]
#: SNOMED CT identifiers: 6 to 18 digits, no leading zero.
_SNOMED_ID_LENGTH = (6, 18)
#: Partition identifiers of concepts: "00" (international release), "10" (an extension such as the UK's).
_CONCEPT_PARTITIONS = ("00", "10")
# Verhoeff check digit tables: multiplication in the dihedral group D5, and the position permutations.
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def snomed_concept_id_valid(code: str) -> bool:
    """True if ``code`` is shaped like a SNOMED CT concept id and its Verhoeff check digit is right.

    This catches typing errors (a wrong or swapped digit) and description or relationship ids pasted
    in place of a concept id; it cannot tell whether the concept means what the description says.
    """
    low, high = _SNOMED_ID_LENGTH
    if not (code.isascii() and code.isdigit() and low <= len(code) <= high and code[0] != "0"):
        return False
    if code[-3:-1] not in _CONCEPT_PARTITIONS:
        return False
    check = 0
    for position, digit in enumerate(reversed(code)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % len(_VERHOEFF_P)][int(digit)]]
    return check == 0


def load_codelists(directory: Path | None = None) -> pd.DataFrame:
    """Load every code list into one frame: ``code, code_system, group, category, description``.

    Parameters
    ----------
    directory
        Folder holding ``social_needs.csv``, ``conditions.csv`` and ``status.csv``; defaults to
        the lists shipped in ``features/codelists/``.

    Raises
    ------
    ContractError
        If a file lacks a column, names an unknown category, has a SNOMED CT code that is not a valid
        concept id (:func:`snomed_concept_id_valid`), lists a code twice in one group, or maps one code
        to two categories of the same group.
    """
    root = Path(directory) if directory is not None else Path(str(resources.files("features") / "codelists"))
    frames = []
    for group, file_name in GROUPS.items():
        path = root / file_name
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in _COLUMNS if c not in frame.columns]
        if missing:
            raise ContractError(f"code list {path} must have columns {_COLUMNS}; missing {missing}. Add them to the header row.")
        frame = frame[_COLUMNS].assign(group=group)
        frame["code"] = frame["code"].str.strip()
        frame["code_system"] = frame["code_system"].str.strip().str.lower().replace("", "snomed")
        unknown = sorted(set(frame["category"]) - set(_CATEGORIES[group]))
        if unknown:
            row = int(frame.index[frame["category"] == unknown[0]][0]) + 2
            raise ContractError(
                f"code list {path} row {row}: category must be one of {list(_CATEGORIES[group])}; "
                f"got {unknown[0]!r}. Fix the category or add it to features/codelists.py."
            )
        bad = frame[(frame["code_system"] == "snomed") & ~frame["code"].map(snomed_concept_id_valid)]
        if len(bad):
            row = int(bad.index[0]) + 2
            raise ContractError(
                f"code list {path} row {row}: a snomed code must be a SNOMED CT concept id with a valid check "
                f"digit; got {bad['code'].iloc[0]!r}. Copy the concept id (not a description id) from the SNOMED CT browser."
            )
        repeated = frame[frame.duplicated(["code_system", "code"], keep="first")]
        if len(repeated):
            row = int(repeated.index[0]) + 2
            raise ContractError(
                f"code list {path} row {row}: each code must appear once per file; got {repeated['code'].iloc[0]!r} "
                "again. Delete the repeated row."
            )
        frames.append(frame)
    lists = pd.concat(frames, ignore_index=True)
    clash = lists.groupby(["code_system", "code", "group"])["category"].nunique()
    if (clash > 1).any():
        system, code, group = clash[clash > 1].index[0]
        raise ContractError(
            f"code {system}:{code} must map to one {group} category; it maps to several. Keep one row for it."
        )
    return lists[["code", "code_system", "group", "category", "description"]]
