"""Backtest of past publications: realised AUROC, calibration and PPV at capacity by publication date and score age.

Only people the scoring model never saw are judged. A publication records the model that scored it
(``model_run_id``, or ``model_name`` and ``model_version``); its training run recorded who it was
trained on (``training.seen_people``). A person is left out of a backtest row when they were one of
its training people and the row's outcome window overlaps a training label's outcome window: the
model may have memorised that outcome (a publication scored at a past date inside the training
period would otherwise be judged on answers it was fitted to). Publications scored after the
training extract have outcome windows no training label overlaps, so nobody is left out of them:
the list as published, training people included, is what is judged. A model trained with the old
split (people on both sides) leaves out everyone at overlapping dates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.build import build_features
from features.config import FeatureConfig
from features.dates import add_months, extract_date, to_date, window_covered
from features.home import Home
from features.progress import ProgressCallback, report
from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig
from serving.monitoring.errors import MonitorInputError
from serving.publish import Publication
from training.errors import ModelNotFoundError
from training.metrics import auroc
from training.seen_people import TrainingPeople, registered_training_people

__all__ = ["BacktestRow", "backtest_scores", "backtest_publications", "calibration_alerts", "matured_dates", "publication_training_people"]


@dataclass(frozen=True)
class BacktestRow:
    """One publication's scores judged against outcomes of people as of ``as_of + age_months``.

    ``age_months`` 0 is the list as used when published; older ages show how a list that is not
    refreshed loses discrimination (SPARRA's time-attenuation table). Calibration compares the mean
    score with the observed outcome rate overall and among listed people; ``ppv_at_capacity`` is the
    observed rate among listed people. ``z`` values are (observed - predicted) / binomial SD.
    ``excluded`` people were left out because the scoring model may have been trained on their
    outcome (module docstring); ``note`` says why people were or could not be left out, or why
    AUROC is not given.
    """

    publication_id: str
    as_of: date
    age_months: int
    evaluated_as_of: date
    people: int
    unlabelled: int
    positives: int
    auroc: float | None
    predicted_overall: float
    observed_overall: float
    z_overall: float
    listed: int
    predicted_listed: float | None
    observed_listed: float | None
    z_listed: float | None
    excluded: int = 0
    note: str = ""

    @property
    def ppv_at_capacity(self) -> float | None:
        """Share of listed people who went on to have the outcome."""
        return self.observed_listed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row (dates as ISO strings)."""
        out = asdict(self)
        out["as_of"], out["evaluated_as_of"] = self.as_of.isoformat(), self.evaluated_as_of.isoformat()
        out["ppv_at_capacity"] = self.ppv_at_capacity
        return out


def _z(observed: float, predicted: np.ndarray) -> float:
    sd = math.sqrt(float(np.sum(predicted * (1 - predicted))))
    return (observed - float(predicted.sum())) / sd if sd > 0 else math.nan


def backtest_scores(
    publication_id: str,
    as_of: date,
    age_months: int,
    population: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    evaluated_as_of: date | None = None,
    min_outcomes: int = 1,
    note: str = "",
) -> BacktestRow:
    """Judge one publication's scores against labels (a pure computation on two frames).

    Parameters
    ----------
    publication_id, as_of
        The publication and its scoring date.
    age_months
        Months between ``as_of`` and the date the labels were built at.
    population
        The publication's ``population``: ``person_id, score, list_rank`` (people without a score
        were not eligible and are left out; ``list_rank`` not null = listed).
    labels
        ``person_id, label`` as of ``as_of + age_months``: 1/0, or ``<NA>`` where follow-up is
        incomplete (those people are counted in ``unlabelled`` and left out); optionally ``seen``,
        true where the scoring model may have been trained on the person's outcome (left out and
        counted in ``excluded``).
    evaluated_as_of
        Date the labels are as of; default ``as_of + age_months``.
    min_outcomes
        AUROC is given only with at least this many outcomes and non-outcomes among the people judged.
    note
        Why people were or could not be left out, carried into the row.
    """
    missing = [c for c in ("person_id", "score", "list_rank") if c not in population.columns]
    missing += [f"labels.{c}" for c in ("person_id", "label") if c not in labels.columns]
    if missing:
        raise MonitorInputError(f"backtest inputs must have population person_id, score, list_rank and labels person_id, label; missing {missing}.")
    scored = population.loc[population["score"].notna(), ["person_id", "score", "list_rank"]]
    seen = labels.loc[labels["seen"].astype(bool), "person_id"] if "seen" in labels.columns else labels["person_id"].iloc[:0]
    left_out = scored["person_id"].isin(seen).to_numpy()
    joined = scored[~left_out].merge(labels[["person_id", "label"]], on="person_id", how="left")
    known = joined[joined["label"].notna()]
    y = known["label"].astype(int).to_numpy()
    p = known["score"].astype(float).to_numpy()
    listed = known["list_rank"].notna().to_numpy()
    positives = int(y.sum())
    enough = min(positives, len(y) - positives) >= min_outcomes
    if not enough:
        why = f"AUROC not given: {positives} outcomes and {len(y) - positives} non-outcomes among the people judged, fewer than {min_outcomes} of each."
        note = f"{note} {why}".strip()
    return BacktestRow(
        publication_id=publication_id,
        as_of=as_of,
        age_months=age_months,
        evaluated_as_of=evaluated_as_of or add_months(as_of, age_months),
        people=int(len(known)),
        unlabelled=int(len(joined) - len(known)),
        positives=positives,
        auroc=float(auroc(y.astype(float), p)) if enough else None,
        predicted_overall=float(p.mean()) if len(p) else math.nan,
        observed_overall=float(y.mean()) if len(y) else math.nan,
        z_overall=_z(float(y.sum()), p),
        listed=int(listed.sum()),
        predicted_listed=float(p[listed].mean()) if listed.any() else None,
        observed_listed=float(y[listed].mean()) if listed.any() else None,
        z_listed=_z(float(y[listed].sum()), p[listed]) if listed.any() else None,
        excluded=int(left_out.sum()),
        note=note,
    )


def publication_training_people(publication: Publication, home: Home | None) -> tuple[TrainingPeople | None, str]:
    """The training people of the model that scored ``publication``, or ``None`` and why nobody can be left out.

    The model is found by the publication's ``model_run_id``, else its ``model_name`` and
    ``model_version``, in ``home``'s MLflow store.
    """
    meta = publication.metadata
    run_id, name, version = meta.get("model_run_id"), meta.get("model_name"), meta.get("model_version")
    if run_id is None and not (name and version):
        return None, "Nobody left out: the publication records no model, so whom it was trained on is unknown."
    if home is None:
        return None, "Nobody left out: no risingrisk home was given to look up whom the scoring model was trained on."
    try:
        return registered_training_people(home, run_id=run_id, name=name, version=version), ""
    except ModelNotFoundError as exc:
        return None, f"Nobody left out: {exc}"


def matured_dates(as_of: date, ages: Sequence[int], outcome_window: tuple[int, int], data_end: date) -> list[tuple[int, date]]:
    """``(age, date)`` pairs whose outcome window ``[date + start, date + end)`` the data fully cover."""
    return [
        (age, add_months(as_of, age)) for age in sorted(set(ages))
        if window_covered(add_months(add_months(as_of, age), outcome_window[1]), data_end)
    ]


def calibration_alerts(rows: Sequence[BacktestRow], config: MonitorConfig) -> list[Alert]:
    """``calibration_drift`` warnings for publications whose fresh (age 0) calibration is off, overall or among listed."""
    alerts = []
    low, high = 1 - config.calibration_ratio_tolerance, 1 + config.calibration_ratio_tolerance
    for row in rows:
        if row.age_months != 0:
            continue
        for where, observed, predicted, z in (
            ("overall", row.observed_overall, row.predicted_overall, row.z_overall),
            ("among listed people", row.observed_listed, row.predicted_listed, row.z_listed),
        ):
            if observed is None or predicted is None or not predicted > 0 or z is None or math.isnan(z):
                continue
            ratio = observed / predicted
            if not low <= ratio <= high and abs(z) >= config.calibration_z:
                alerts.append(Alert(
                    "calibration_drift", row.publication_id, "warning",
                    f"publication {row.publication_id} (as of {row.as_of}): {observed:.2%} of people had the outcome "
                    f"{where} against {predicted:.2%} predicted (ratio {ratio:.2f}, z {z:+.1f}). Scores no longer mean "
                    "what they say; recalibrate or retrain the champion.",
                ))
                break
    return alerts


def backtest_publications(
    data_dir: Path | str,
    publications: Sequence[Publication],
    *,
    config: MonitorConfig,
    feature_config: FeatureConfig | None = None,
    data_end: date | None = None,
    home: Home | None = None,
    progress: ProgressCallback | None = None,
) -> list[BacktestRow]:
    """Backtest every publication whose outcome window has passed, at every configured score age, on people its model never saw.

    Labels come from :func:`features.build.build_features` with ``labels=True`` at each evaluation
    date (one call for all dates), so they follow the same follow-up rules as training labels.
    People whose outcome the scoring model may have been trained on are left out and counted
    (module docstring).

    Parameters
    ----------
    data_dir
        The current extract (it must reach past the publications' outcome windows).
    publications
        Publications to consider (e.g. ``serving.publish.list_publications(home)``); each needs
        ``as_of`` in its metadata.
    config
        Score ages to evaluate and ``backtest_min_outcomes``.
    feature_config
        The champion's feature config: outcome window and definition; the publication's
        ``outcome`` metadata, when present, picks the label.
    data_end
        Last day the data cover; default the extract date.
    home
        risingrisk home whose MLflow store says whom each publication's model was trained on;
        ``None``: nobody can be left out (each row's ``note`` says so).
    progress
        Optional progress callback.
    """
    fc = feature_config or FeatureConfig()
    end = data_end or extract_date(Path(data_dir))
    plan: list[tuple[Publication, int, date]] = []
    for pub in publications:
        if "as_of" not in pub.metadata:
            raise MonitorInputError(
                f"publication {pub.id} must record as_of in its metadata; it does not. Re-publish it with risingrisk score."
            )
        for age, when in matured_dates(to_date(pub.metadata["as_of"]), config.backtest_ages_months, fc.outcome_window, end):
            plan.append((pub, age, when))
    if not plan:
        return []
    report(progress, "Building backtest labels", 0, len(plan))
    labels = build_features(data_dir, as_of=sorted({w for _, _, w in plan}), labels=True, config=fc)
    labels["as_of"] = labels["as_of"].dt.date
    rows = []
    populations: dict[str, pd.DataFrame] = {}
    trained: dict[str, tuple[TrainingPeople | None, str]] = {}
    for done, (pub, age, when) in enumerate(plan, start=1):
        if pub.id not in populations:
            populations[pub.id] = pub.population()
            trained[pub.id] = publication_training_people(pub, home)
        column = f"label_{pub.metadata.get('outcome') or fc.outcome}"
        at = labels.loc[labels["as_of"] == when, ["person_id", column]].rename(columns={column: "label"}).reset_index(drop=True)
        model, note = trained[pub.id]
        if model is not None:
            at["seen"] = model.seen(at["person_id"], pd.Series([when] * len(at), dtype=object))
            if at["seen"].any():
                note = (f"People left out: {model.describe()} was trained on them with outcome windows overlapping this one "
                        "(it may have memorised their outcome).")
        rows.append(backtest_scores(
            pub.id, to_date(pub.metadata["as_of"]), age, populations[pub.id], at, evaluated_as_of=when,
            min_outcomes=config.backtest_min_outcomes, note=note,
        ))
        report(progress, "Backtesting publications", done, len(plan))
    return rows
