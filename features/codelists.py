"""Code lists: CSV files mapping codes (SNOMED CT by default) to social-need, condition and status categories."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from features.errors import ContractError

__all__ = ["GROUPS", "SOCIAL_NEEDS", "CONDITIONS", "STATUSES", "load_codelists"]

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
        If a file lacks a column, names an unknown category, or maps one code to two categories
        of the same group.
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
        frames.append(frame)
    lists = pd.concat(frames, ignore_index=True)
    clash = lists.groupby(["code_system", "code", "group"])["category"].nunique()
    if (clash > 1).any():
        system, code, group = clash[clash > 1].index[0]
        raise ContractError(
            f"code {system}:{code} must map to one {group} category; it maps to several. Keep one row for it."
        )
    return lists[["code", "code_system", "group", "category", "description"]]
