"""External validation: score another extract with a registered model (no retraining) and report discrimination, calibration, PPV at capacity and net benefit.

After OHDSI PatientLevelPrediction's ``externalValidate`` and Vickers and Elkin's decision curve:
the model is applied as registered (features, calibration map) to labelled rows of another data
directory; nothing is refitted. Where calibration-in-the-large is off, the log-odds shift that
would fix it (recalibration-in-the-large) is suggested, not applied.

People the model was trained on are left out, not merely warned about. A PHM team often runs
this on a later extract of the same population: a person who was one of the model's training
people (by its recorded ``split.seed`` and ``split.validation_fraction``) and is evaluated at an
index date whose outcome window overlaps a training label's window may have had this very outcome
memorised, which inflates every metric (``training.split`` measured 0.856 against 0.842 AUROC).
Which rows those are can be known exactly, and leaving them out costs only precision: the
validation people are a keyed-hash random share of everyone, so the estimate stays unbiased even
when the extract is another population whose pseudonyms merely coincide. A warning would leave a
biased headline figure for a reader to discount. The counts left out are reported
(``rows_seen``, ``people_seen``, :attr:`ExternalValidation.seen_note`). For a model trained with
the old split every person at an overlapping date is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features
from features.dates import add_months, lookback_covered
from features.home import Home
from features.progress import ProgressCallback, report
from training.errors import TrainingError
from training.metrics import MetricCI, evaluate_scores
from training.registry import CHAMPION, LoadedModel, load_model, model_name
from training.split import data_start

__all__ = ["THRESHOLD_MULTIPLES", "ExternalValidation", "net_benefit", "external_validation", "validate_loaded"]

#: Net benefit is reported at these multiples of the capacity threshold (the score of the last person listed).
THRESHOLD_MULTIPLES: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
_STEPS = ("loading the model", "building features", "scoring", "metrics")


@dataclass(frozen=True)
class ExternalValidation:
    """What the model does on another extract.

    ``metrics`` hold ``auroc``, ``auprc``, ``brier``, ``calibration_intercept`` (log-odds shift that
    would make the mean predicted risk match the observed rate), ``calibration_slope``, ``ece`` and
    the list metrics at capacity, each with a person-grouped bootstrap interval. ``recalibrate`` is
    true when the intercept's interval excludes 0. ``net_benefit`` has one row per threshold:
    ``threshold``, ``listed_share``, ``model``, ``treat_all`` (treat none is 0 by definition).
    ``rows_seen`` / ``people_seen`` are the labelled rows (and their people) left out because the
    model may have been trained on their outcome (see the module docstring); ``trained_on``
    describes the model's recorded split settings and ``first_unseen_date`` is the earliest index
    date no training label's outcome window overlaps (``None`` when not recorded).
    """

    model_name: str
    model_version: str
    data_dir: str
    as_of: tuple[date, ...]
    rows: int
    people: int
    outcomes: int
    mean_predicted: float
    observed_rate: float
    capacity_fraction: float
    capacity_threshold: float
    metrics: dict[str, MetricCI]
    recalibrate: bool
    net_benefit: pd.DataFrame
    rows_seen: int
    people_seen: int
    trained_on: str
    first_unseen_date: date | None

    @property
    def seen_note(self) -> str:
        """One sentence: how many labelled rows were left out because the model may have been trained on their outcome, and why."""
        if not self.rows_seen:
            return f"No row was left out: none is of a person {self.trained_on} was trained on at a date whose outcome window overlaps its training labels'."
        after = f" Index dates from {self.first_unseen_date} on overlap no training label." if self.first_unseen_date else ""
        return (
            f"{self.rows_seen:,} labelled rows ({self.people_seen:,} people) were left out: the model {self.trained_on} was trained on these "
            f"people with outcome windows overlapping these rows', so it may have memorised their outcome. The metrics are on the "
            f"{self.rows:,} rows of people it never saw (a random share of everyone, so unbiased).{after}"
        )

    @property
    def suggestion(self) -> str:
        """One sentence: recalibrate in the large (by how much) or not."""
        shift = self.metrics["calibration_intercept"]
        if not self.recalibrate:
            return f"Calibration-in-the-large is consistent with 0 (intercept {shift.text()}); no recalibration needed."
        direction = "under" if shift.value > 0 else "over"
        return (
            f"The model {direction}-predicts here on average (mean predicted {self.mean_predicted:.4f}, observed {self.observed_rate:.4f}; "
            f"intercept {shift.text()}): recalibrate in the large by adding {shift.value:+.3f} to the log-odds before the calibration map "
            "(ranking and lists are unchanged)."
        )


def net_benefit(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> pd.DataFrame:
    """Decision-curve net benefit of listing everyone with ``p >= t``: ``TP/n - FP/n * t / (1 - t)``, and of listing everyone."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n, prevalence = y.size, y.mean()
    rows = []
    for t in thresholds:
        listed = p >= t
        odds = t / (1.0 - t)
        tp, fp = float(y[listed].sum()), float((1.0 - y[listed]).sum())
        rows.append({
            "threshold": float(t),
            "listed_share": float(listed.mean()),
            "model": tp / n - fp / n * odds,
            "treat_all": prevalence - (1.0 - prevalence) * odds,
        })
    return pd.DataFrame(rows)


def validate_loaded(
    loaded: LoadedModel,
    data_dir: Path,
    as_of: list[date],
    *,
    n_bootstrap: int = 200,
    ci_level: float = 0.95,
    ece_bins: int = 10,
    seed: int = 7,
    progress: ProgressCallback | None = None,
) -> ExternalValidation:
    """Score the labelled cohort rows of ``data_dir`` at ``as_of`` of people ``loaded`` never saw and measure it (see :func:`external_validation`)."""
    report(progress, _STEPS[1], 1, len(_STEPS))
    start = data_start(data_dir)
    lookback = loaded.feature_config.lookback_months
    short = [d for d in as_of if not lookback_covered(d, lookback, start)]
    if short:
        raise TrainingError(
            f"each --as-of date must have the predictors' {lookback}-month lookback inside the data (events start {start}); got "
            f"{[str(d) for d in short]}, whose uncovered months would count as no contacts. Choose dates on or after "
            f"{add_months(date(start.year, start.month, 1), lookback)}."
        )
    built = build_features(data_dir, as_of=as_of, labels=True, config=loaded.feature_config)
    trained = loaded.training_people
    seen = trained.seen(built["person_id"], built["as_of"])
    label = f"label_{loaded.outcome}"
    usable = (built["in_cohort"].fillna(False).astype(bool) & built[label].notna()).to_numpy()
    table, left_out, labelled = built[~seen], built[usable & seen], built[usable & ~seen]
    y = labelled[label].astype(int).to_numpy()
    if y.size == 0 or y.sum() in (0, y.size):
        unseen = trained.first_unseen_date()
        later = f" (index dates from {unseen} on overlap no training label)" if unseen else ""
        raise TrainingError(
            f"the external rows of people the model never saw must hold both outcomes; got {int(y.sum())} outcomes in {y.size} labelled "
            f"rows at {[str(d) for d in as_of]} ({len(left_out)} more left out: {trained.describe()} was trained on those people at "
            f"overlapping outcome windows). Choose --as-of dates whose whole outcome window lies inside the data{later}."
        )
    report(progress, _STEPS[2], 2, len(_STEPS))
    p = loaded.model.predict_proba(labelled[loaded.feature_names])[:, 1]
    report(progress, _STEPS[3], 3, len(_STEPS))
    capacity_fraction = loaded.capacity_per_1000 / 1000.0 * len(table) / len(labelled)
    metrics = evaluate_scores(
        y, p, groups=labelled["person_id"].to_numpy(dtype=object), fractions={"capacity": capacity_fraction}, probabilistic=True,
        n_bootstrap=n_bootstrap, ci_level=ci_level, ece_bins=ece_bins, seed=seed,
    )
    k = max(1, round(capacity_fraction * y.size))
    capacity_threshold = float(np.sort(p)[::-1][k - 1])
    thresholds = np.unique(np.clip(capacity_threshold * np.asarray(THRESHOLD_MULTIPLES), 1e-6, 1 - 1e-6))
    intercept = metrics["calibration_intercept"]
    report(progress, "done", len(_STEPS), len(_STEPS))
    return ExternalValidation(
        model_name=loaded.name,
        model_version=loaded.version,
        data_dir=str(data_dir),
        as_of=tuple(as_of),
        rows=int(y.size),
        people=int(labelled["person_id"].nunique()),
        outcomes=int(y.sum()),
        mean_predicted=float(p.mean()),
        observed_rate=float(y.mean()),
        capacity_fraction=capacity_fraction,
        capacity_threshold=capacity_threshold,
        metrics=metrics,
        recalibrate=not (intercept.low <= 0.0 <= intercept.high),
        net_benefit=net_benefit(y, p, thresholds),
        rows_seen=len(left_out),
        people_seen=int(left_out["person_id"].nunique()),
        trained_on=trained.describe(),
        first_unseen_date=trained.first_unseen_date(),
    )


def external_validation(
    data_dir: Path,
    as_of: list[date],
    *,
    home: Home | None = None,
    outcome: str = "high_intensity_use",
    alias: str = CHAMPION,
    n_bootstrap: int = 200,
    ci_level: float = 0.95,
    ece_bins: int = 10,
    seed: int = 7,
    progress: ProgressCallback | None = None,
) -> ExternalValidation:
    """Validate the registered model (default: the champion) on another data directory, without retraining.

    Rows whose outcome the model may have been trained on (its training people at index dates
    whose outcome window overlaps a training label's) are left out and counted (module docstring).

    Parameters
    ----------
    data_dir
        Another contract data directory, with enough follow-up after ``as_of`` for labels.
    as_of
        Index dates; each row is a person in the cohort at a date whose outcome window is fully observed.
    home
        risingrisk home holding the MLflow registry.
    outcome, alias
        Which registered model.
    n_bootstrap, ci_level, ece_bins, seed
        Person-grouped bootstrap resamples, the intervals' level, the calibration error's bins and the
        bootstrap's seed (an experiment's ``[evaluation]`` settings).
    progress
        Told each step as it starts.

    Raises
    ------
    ModelNotFoundError
        If the alias does not exist.
    TrainingError
        If the rows of people the model never saw lack either outcome.
    """
    report(progress, _STEPS[0], 0, len(_STEPS))
    loaded = load_model(alias, home=home, name=model_name(outcome))
    return validate_loaded(
        loaded, Path(data_dir), list(as_of), n_bootstrap=n_bootstrap, ci_level=ci_level, ece_bins=ece_bins, seed=seed, progress=progress
    )
