"""Which people a registered model was trained on, read from its recorded split settings, so it is measured only on people it never saw.

Since the split keeps each person on one side (``training.split``), a model's training people are
those whose keyed hash (``split.seed``) is at or above ``split.validation_fraction``: the trees were
grown (``fit``) or their number chosen (``early_stop``) on their rows at the training dates. The
validation people only calibrated it (a one-dimensional monotone map of the score, which cannot
memorise a person) or evaluated it. Both settings are MLflow params of the training run
(``split.seed``, ``split.validation_fraction``), so any later measurement can recompute the sides.

A run that recorded no ``split.validation_fraction`` was trained with the old split (before each
person was kept to one side, every person at the training dates was fitted or early stopped on) or
registered without a training run: no person is known to be unseen.

A person's outcome is *seen* at an index date T when they are a training person and T's outcome
window overlaps the outcome window of one of the training dates (a label at T and one at T + 3
months share 9 of their 12 months). Outcome windows that start after the last training label's
window ended were in no training label.

Where each rule is used: the champion-challenger comparison keeps only people who are validation
people under both models' settings, whatever the dates (its rows are the challenger's latest
labelled dates, which a recent champion's windows overlap anyway, and it asks how each model does
on people it never met). External validation and the backtest leave out only *seen* rows: an
outcome after every training label's window is exactly what the model meets in use, training
people included, so judging all of them there is honest and more precise. Either way the rows kept
are a keyed-hash random share of people, so leaving the others out costs precision, not bias.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from features.config import FeatureConfig
from features.dates import add_months, to_date
from features.home import Home
from training.config import SplitConfig
from training.errors import ModelNotFoundError
from training.split import validation_people
from training.tracking import client

__all__ = ["OLD_SPLIT", "TrainingPeople", "training_people", "registered_training_people"]

#: How a model without recorded split sides is described in reports.
OLD_SPLIT = "trained with the old split (people on both sides: no split.validation_fraction recorded)"


@dataclass(frozen=True)
class TrainingPeople:
    """Who a registered model was trained on, and at which index dates (see the module docstring).

    ``seed`` and ``validation_fraction`` are the run's ``split.seed`` and
    ``split.validation_fraction`` (``None`` when not recorded); ``train_dates`` its resolved
    training index dates (empty when not recorded: every date then counts as overlapping);
    ``outcome_window`` its ``(start, end)`` months after the index date.
    """

    model: str
    seed: int | None
    validation_fraction: float | None
    train_dates: tuple[date, ...]
    outcome_window: tuple[int, int]

    @property
    def recorded(self) -> bool:
        """Whether the run recorded which people were on which side (trained with the one-side-per-person split)."""
        return self.seed is not None and self.validation_fraction is not None

    def describe(self) -> str:
        """The model and its split settings in words, e.g. ``v3 (split seed 7, validation_fraction 0.4)``."""
        if not self.recorded:
            return f"{self.model} {OLD_SPLIT}"
        return f"{self.model} (split seed {self.seed}, validation_fraction {self.validation_fraction:g})"

    def never_trained_on(self, person_id: pd.Series) -> np.ndarray:
        """Boolean mask of the model's validation people: those it was never trained on (all ``False`` when not recorded)."""
        if not self.recorded:
            return np.zeros(len(person_id), dtype=bool)
        sides = SplitConfig(seed=self.seed, validation_fraction=self.validation_fraction)
        return validation_people(pd.Series(person_id).reset_index(drop=True), sides)

    def overlaps_training_labels(self, as_of: pd.Series) -> np.ndarray:
        """Boolean mask of index dates whose outcome window overlaps a training label's outcome window."""
        stamps = pd.to_datetime(pd.Series(as_of).reset_index(drop=True))
        start, end = self.outcome_window
        if not self.train_dates:
            return np.ones(len(stamps), dtype=bool)
        windows = [(add_months(t, start), add_months(t, end)) for t in self.train_dates]
        overlapping = [
            stamp for stamp in stamps.drop_duplicates()
            if any(add_months(to_date(stamp), start) < t_end and t_start < add_months(to_date(stamp), end) for t_start, t_end in windows)
        ]
        return stamps.isin(overlapping).to_numpy(dtype=bool)

    def seen(self, person_id: pd.Series, as_of: pd.Series) -> np.ndarray:
        """Boolean mask of rows whose outcome the model may have been trained on: a training person at an overlapping date."""
        return ~self.never_trained_on(person_id) & self.overlaps_training_labels(as_of)

    def first_unseen_date(self) -> date | None:
        """The earliest index date whose outcome window starts when the last training label's window has ended (``None``: dates unknown)."""
        if not self.train_dates:
            return None
        start, end = self.outcome_window
        return add_months(max(self.train_dates), end - start)


def training_people(params: Mapping[str, str], *, model: str, outcome_window: tuple[int, int]) -> TrainingPeople:
    """Read a training run's MLflow params (``split.seed``, ``split.validation_fraction``, ``resolved.train_dates``).

    Parameters
    ----------
    params
        The run's params as MLflow returns them (strings).
    model
        How the model is named in reports, e.g. ``v3``.
    outcome_window
        The model's outcome window (its feature config's), used when the run did not record
        ``features.outcome_window``.
    """
    fraction = params.get("split.validation_fraction")
    seed = params.get("split.seed")
    recorded_window = params.get("features.outcome_window")
    start, end = json.loads(recorded_window) if recorded_window else outcome_window
    return TrainingPeople(
        model=model,
        seed=int(seed) if seed is not None else None,
        validation_fraction=float(fraction) if fraction is not None else None,
        train_dates=tuple(sorted(date.fromisoformat(d) for d in json.loads(params.get("resolved.train_dates", "[]")))),
        outcome_window=(int(start), int(end)),
    )


def registered_training_people(home: Home, *, run_id: str | None = None, name: str | None = None, version: str | None = None) -> TrainingPeople:
    """The training people of a model identified by its training run id, or by registered name and version.

    Parameters
    ----------
    home
        risingrisk home whose MLflow store holds the model.
    run_id
        The model's training run (what a publication records as ``model_run_id``); wins when given.
    name, version
        The registered model name and version, used when there is no run id (and to name the model in reports).

    Raises
    ------
    ModelNotFoundError
        If neither identifies a run in ``home``'s MLflow store.
    """
    label = f"{name} v{version}" if name and version else f"run {run_id}"
    if run_id is None and not (name and version):
        raise ModelNotFoundError("a model must be named by its training run id or by name and version; got neither. Record model_run_id.")
    if not home.mlflow_db.exists():
        raise ModelNotFoundError(f"model {label} must be registered in {home.mlflow_db}; got no MLflow store there. Use the home it was trained in.")
    registry = client(home)
    try:
        run = registry.get_run(run_id if run_id is not None else registry.get_model_version(str(name), str(version)).run_id)
    except MlflowException as exc:
        raise ModelNotFoundError(
            f"model {label} must be registered in {home.mlflow_db}; got none ({exc.error_code}). Use the home it was trained in."
        ) from None
    return training_people(run.data.params, model=label, outcome_window=FeatureConfig().outcome_window)
