"""Enrolment dates from the codes table (the pathway code's start_date) and from caseload `enrolled` actions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.reference import read_table
from training.impact.config import ImpactConfig
from training.impact.errors import ImpactError

__all__ = ["Enrolments", "enrolled_actions", "extract_enrolments"]


@dataclass(frozen=True)
class Enrolments:
    """First enrolment date per person and how every input row was used.

    Attributes
    ----------
    dates
        ``person_id, enrolled_on`` (the earliest date from any source), one row per person.
    code_rows, action_rows
        Rows read from each source.
    duplicates_merged
        Rows beyond the first for a person (same or later date, either source), merged into it.
    unknown_people
        Rows (and people) dropped because the person is not in the persons table.
    """

    dates: pd.DataFrame
    code_rows: int
    action_rows: int
    duplicates_merged: int
    unknown_people: int


def _actions_frame(actions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("person_id", "action_date") if c not in actions.columns]
    if missing:
        raise ImpactError(f"enrolled actions must have columns person_id, action_date; missing {missing}. Pass both.")
    when = pd.to_datetime(actions["action_date"], errors="coerce")
    bad = when.isna() & actions["action_date"].notna() | actions["action_date"].isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ImpactError(
            f"enrolled actions row {row} column action_date must be a date; got {actions['action_date'].iloc[row]!r}. "
            "Fix or remove the action."
        )
    return pd.DataFrame({"person_id": actions["person_id"].astype(str), "enrolled_on": when.dt.normalize()})


def extract_enrolments(
    data_dir: Path | str, *, config: ImpactConfig, actions: pd.DataFrame | None = None
) -> Enrolments:
    """Collect enrolment dates: ``config.code`` rows of the codes table and optional ``enrolled`` actions.

    Parameters
    ----------
    data_dir
        A contract data directory.
    config
        Supplies the code and code system.
    actions
        Optional caseload actions of type ``enrolled``: ``person_id, action_date``.

    Raises
    ------
    ImpactError
        If an action lacks a column or its date cannot be read.
    """
    codes = read_table(Path(data_dir), "codes")
    system = (
        codes["code_system"].fillna("snomed").astype(str).str.strip().str.lower()
        if "code_system" in codes.columns
        else pd.Series("snomed", index=codes.index)
    )
    hit = (codes["code"].astype(str).str.strip() == config.code) & (system == config.code_system.lower())
    from_codes = pd.DataFrame(
        {"person_id": codes.loc[hit, "person_id"].astype(str), "enrolled_on": codes.loc[hit, "start_date"].dt.normalize()}
    )
    from_actions = _actions_frame(actions) if actions is not None else from_codes.iloc[:0]
    rows = pd.concat([from_codes, from_actions], ignore_index=True)
    persons = set(read_table(Path(data_dir), "persons")["person_id"].astype(str))
    known = rows["person_id"].isin(persons)
    rows = rows[known]
    first = rows.groupby("person_id", as_index=False)["enrolled_on"].min().sort_values("person_id", ignore_index=True)
    return Enrolments(
        dates=first,
        code_rows=int(hit.sum()),
        action_rows=len(from_actions),
        duplicates_merged=len(rows) - len(first),
        unknown_people=int((~known).sum()),
    )


def enrolled_actions(actions: pd.DataFrame) -> pd.DataFrame:
    """The ``enrolled`` rows of caseload actions (:func:`features.caseload.read_actions`) as ``person_id, action_date``."""
    enrolled = actions.loc[actions["action"] == "enrolled"]
    return pd.DataFrame(
        {"person_id": enrolled["person_id"].astype(str), "action_date": pd.to_datetime(enrolled["recorded_at"], utc=True).dt.tz_localize(None)}
    )
