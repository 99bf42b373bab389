"""Retraining that does not learn its own effect: handle training rows whose outcome window meets a person's enrolment.

A model retrained on outcomes observed after people were put on the caseload learns that the
intervention's effect is "low risk": the people it flagged and helped look safer, so the next model
ranks people like them lower and the programme erodes its own targeting (Liley et al., "Model
updating after interventions paradoxically introduces bias", AISTATS 2021; Perdomo et al.,
"Performative prediction", ICML 2020). The rule: a training row ``(person, as_of)`` whose outcome
window ``[as_of + start, as_of + end)`` overlaps or follows the person's enrolment date (enrolment
before the window's end) is handled by ``FeedbackConfig.rule``:

- ``"exclude"`` (default): drop the row. The remaining rows describe untreated natural history,
  which is what the model must predict for the people it has not yet reached. Rows are lost, and
  the model card reports how many.
- ``"keep"``: keep the row as observed (the historical behaviour), for comparison only.

A ``"censor"`` option is not offered: the labels are "at least N events in the window" counts, and a
window cut short at enrolment has no honest label (a negative over part of the window is not a
negative over all of it, and rescaling a count threshold invents events), so censoring would need a
survival or rate model the trainer does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from features.caseload import read_actions
from features.dates import add_months
from features.typed_config import TypedConfig
from training.errors import TrainingError
from training.impact.config import PATHWAY_CODE, ImpactConfig
from training.impact.enrolment import enrolled_actions, extract_enrolments

__all__ = ["FeedbackConfig", "FeedbackResult", "apply_feedback_rule", "enrolment_dates"]


class FeedbackConfig(TypedConfig):
    """The ``[feedback]`` settings: what retraining does with rows whose outcome window meets an enrolment."""

    rule: Literal["exclude", "keep"] = Field(
        "exclude",
        description="'exclude' drops training rows whose outcome window overlaps or follows the person's enrolment "
        "(so the model does not learn the caseload's own effect, Liley et al. 2021); 'keep' leaves them in.",
    )
    code: str = Field(
        PATHWAY_CODE,
        description="Code whose start_date marks enrolment in the extract (with 'enrolled' caseload actions from the database).",
    )


@dataclass(frozen=True)
class FeedbackResult:
    """The filtered table and what the rule did."""

    table: pd.DataFrame
    rows_in: int
    rows_affected: int
    rows_dropped: int
    people_affected: int
    rule: str


def apply_feedback_rule(
    table: pd.DataFrame, enrolments: pd.DataFrame, *, outcome_window: tuple[int, int], config: FeedbackConfig
) -> FeedbackResult:
    """Apply the feedback rule to a feature table.

    Parameters
    ----------
    table
        Training rows with ``person_id, as_of`` and label columns (left untouched).
    enrolments
        ``person_id, enrolled_on``; a person's earliest date counts.
    outcome_window
        ``(start, end)`` months after ``as_of`` (the features config's outcome window).
    config
        Which rule to apply.

    Raises
    ------
    TrainingError
        If a column is missing or an enrolment date cannot be read.
    """
    for name, frame, columns in (("table", table, ("person_id", "as_of")), ("enrolments", enrolments, ("person_id", "enrolled_on"))):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise TrainingError(f"{name} must have columns {list(columns)}; missing {missing}. Pass them.")
    when = pd.to_datetime(enrolments["enrolled_on"], errors="coerce")
    if when.isna().any():
        row = int(when.isna().to_numpy().nonzero()[0][0])
        raise TrainingError(
            f"enrolments row {row} enrolled_on must be a date; got {enrolments['enrolled_on'].iloc[row]!r}. Fix or drop it."
        )
    first = pd.Series(when.to_numpy(), index=enrolments["person_id"].astype(str)).groupby(level=0).min()
    enrolled_on = table["person_id"].astype(str).map(first)
    as_of = pd.to_datetime(table["as_of"])
    ends = {d: pd.Timestamp(add_months(d.date(), outcome_window[1])) for d in as_of.drop_duplicates()}
    window_end = as_of.map(ends)
    affected = (enrolled_on.notna() & (enrolled_on < window_end)).to_numpy()
    kept = table.loc[~affected] if config.rule == "exclude" else table
    return FeedbackResult(
        table=kept.reset_index(drop=True),
        rows_in=len(table),
        rows_affected=int(affected.sum()),
        rows_dropped=len(table) - len(kept),
        people_affected=int(table.loc[affected, "person_id"].nunique()),
        rule=config.rule,
    )


def enrolment_dates(data_dir: Path, *, database: str, as_of: date, config: FeedbackConfig) -> pd.DataFrame:
    """Each person's first enrolment (``person_id, enrolled_on``): the extract's pathway code and the database's ``enrolled`` actions up to ``as_of``."""
    actions = enrolled_actions(read_actions(database, as_of))
    return extract_enrolments(data_dir, config=ImpactConfig(code=config.code), actions=actions).dates
