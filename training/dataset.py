"""The training rows after the split: predictors (unobserved history set missing), labels, the row indices of each slice, and the list capacity as a share of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.dates import lookback_covered
from features.definitions import predictor_specs
from training.config import ExperimentConfig
from training.split import ROLES, IndexDates, assign_roles, validation_people

__all__ = ["TrainingData", "prepare", "slice_summary", "unobserved_history"]


@dataclass(frozen=True)
class TrainingData:
    """The feature table split into slices, with what fitting and evaluation need.

    ``rows[role]`` holds the positional row indices of each slice in :data:`training.split.ROLES`;
    ``capacity_fraction`` is the capacity as a share of the labelled validation rows (people
    without a label still occupy list places, so the share is scaled by all the validation
    people's rows at validation dates); ``at_valid_dates`` marks those rows. ``full_history``
    marks the rows whose every count predictor was observed (none set missing for reaching before
    the data start).
    """

    frame: pd.DataFrame
    roles: pd.Series
    rows: dict[str, np.ndarray]
    X: pd.DataFrame
    y: np.ndarray
    persons: np.ndarray
    at_valid_dates: np.ndarray
    slices: pd.DataFrame
    capacity_fraction: float
    fractions: dict[str, float]
    full_history: np.ndarray

    @property
    def training_rows(self) -> np.ndarray:
        """Rows at training dates (fit and early stopping): what the baselines learn from."""
        return np.concatenate([self.rows["fit"], self.rows["early_stop"]])


def slice_summary(frame: pd.DataFrame, roles: pd.Series, label: str) -> pd.DataFrame:
    """Rows, people, outcomes and prevalence per slice, in :data:`~training.split.ROLES` order."""
    used = roles.notna()
    table = (
        pd.DataFrame({"slice": roles[used].astype(str), "person_id": frame.loc[used, "person_id"], "y": frame.loc[used, label].astype(int)})
        .groupby("slice", sort=False)
        .agg(rows=("y", "size"), people=("person_id", "nunique"), outcomes=("y", "sum"), prevalence=("y", "mean"))
    )
    return table.reindex(list(ROLES)).reset_index()


def unobserved_history(as_of: pd.Series, history_months: dict[str, int], data_start: date) -> dict[str, np.ndarray]:
    """Per predictor, the rows whose count window reaches before the first month the data cover (``T - months`` earlier than it)."""
    days = pd.to_datetime(as_of).dt.date
    unique = days.unique()
    masks = {}
    for name, months in history_months.items():
        short = {d for d in unique if not lookback_covered(d, months, data_start)}
        if short:
            masks[name] = days.isin(short).to_numpy()
    return masks


def prepare(frame: pd.DataFrame, dates: IndexDates, *, predictors: list[str], config: ExperimentConfig) -> TrainingData:
    """Split the feature table into person-grouped slices and collect the arrays the stages use.

    Parameters
    ----------
    frame
        Feature table with labels at the training and validation dates.
    dates
        The out-of-time index dates (every training date precedes every validation date, so no
        validation outcome informs fitting).
    predictors
        Predictor columns, in model order. A count predictor (``history_months``) at an index date
        whose window reaches before ``dates.data_start`` is set missing: those months are
        unobserved, and zero would read as "no contacts".
    config
        The experiment (label column, slice fractions, capacity and extra list sizes).
    """
    label = config.label_column
    roles = assign_roles(frame, dates, label=label, config=config.split)
    rows = {role: np.flatnonzero((roles == role).fillna(False).to_numpy()) for role in ROLES}
    at_valid_dates = pd.to_datetime(frame["as_of"]).dt.date.isin(dates.valid).to_numpy() & validation_people(frame["person_id"], config.split)
    labelled_valid = len(rows["calibrate"]) + len(rows["evaluate"])
    evaluation = config.evaluation
    capacity_fraction = evaluation.capacity_per_1000 / 1000.0 * int(at_valid_dates.sum()) / labelled_valid
    X = frame[predictors]
    full_history = np.ones(len(frame), dtype=bool)
    if dates.data_start is not None:
        specs = predictor_specs(config.features)
        months = {n: specs[n].history_months for n in predictors if n in specs and specs[n].history_months is not None}
        masks = unobserved_history(frame["as_of"], months, dates.data_start)
        if masks:
            X = X.copy()
            for name, mask in masks.items():
                X.loc[mask, name] = np.nan
                full_history &= ~mask
    return TrainingData(
        frame=frame,
        roles=roles,
        rows=rows,
        X=X,
        y=frame[label].astype("float64").to_numpy(),
        persons=frame["person_id"].to_numpy(dtype=object),
        at_valid_dates=at_valid_dates,
        slices=slice_summary(frame, roles, label),
        capacity_fraction=capacity_fraction,
        fractions={"capacity": capacity_fraction, **{f"top{100 * f:g}pct": f for f in evaluation.top_fractions}},
        full_history=full_history,
    )
