"""On the simulator: external validation and the backtest of publications judge a model only on people it never saw (by its recorded split)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.config import FeatureConfig
from features.home import Home
from models.risk_model import RiskModel
from serving.monitoring import MonitorConfig
from serving.monitoring.backtest import backtest_publications
from serving.publish import list_publications, publish
from training.config import ExperimentConfig
from training.errors import TrainingError
from training.external import external_validation
from training.metrics import evaluate_scores
from training.record import flatten
from training.registry import MODEL_NAME, load_model, log_and_register
from training.split import IndexDates, validation_people
from model_support import small_model, tracked_home

DATES = IndexDates(train=(date(2022, 1, 1), date(2022, 2, 1)), valid=(date(2022, 6, 1), date(2022, 9, 1)))
#: The first index date whose 6-18 month outcome window starts when the last training label's (2022-02-01: to 2023-08-01) has ended.
UNSEEN_FROM = date(2023, 2, 1)
#: A date with the full 24-month lookback whose outcome window still overlaps the training labels' (2022-02-01's ends 2023-08).
OVERLAPPING = date(2023, 1, 1)
SPLIT = ExperimentConfig().split


@pytest.fixture(scope="module")
def home(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Home:
    """Aliases ``champion`` (split recorded as training records it) and ``old`` (no split.validation_fraction: the old split)."""
    small = small_model(sim_dir, DATES)
    where = tracked_home(tmp_path_factory)
    params = {**flatten(ExperimentConfig().to_dict()), "resolved.train_dates": json.dumps(DATES.as_dict()["train"])}
    old = {k: v for k, v in params.items() if k != "split.validation_fraction"}
    for alias, recorded in (("champion", params), ("old", old)):
        with mlflow.start_run():
            mlflow.log_params(recorded)
            log_and_register(small.model, name=MODEL_NAME, example=small.data.X.head(5), metadata=small.metadata, aliases=(alias,))
    return where


def _labelled(sim_dir: Path, when: date) -> pd.DataFrame:
    rows = build_features(sim_dir, as_of=[when], labels=True, config=FeatureConfig())
    return rows[rows["in_cohort"].fillna(False).astype(bool) & rows["label_high_intensity_use"].notna()].reset_index(drop=True)


@pytest.mark.slow
def test_external_validation_on_the_same_population_leaves_out_the_training_people_at_overlapping_dates(home: Home, sim_dir: Path) -> None:
    when = OVERLAPPING
    validation = external_validation(sim_dir, [when], home=home, n_bootstrap=20, seed=7)
    rows = _labelled(sim_dir, when)
    unseen = validation_people(rows["person_id"], SPLIT)
    assert (validation.rows, validation.rows_seen) == (int(unseen.sum()), int((~unseen).sum()))
    assert validation.rows_seen > validation.rows > 0  # 60% of people trained, 40% validation
    assert validation.people_seen == rows.loc[~unseen, "person_id"].nunique()
    champion = load_model("champion", home=home, name=MODEL_NAME)
    kept = rows[unseen]
    y = kept["label_high_intensity_use"].astype(int).to_numpy()
    expected = evaluate_scores(
        y, champion.model.predict_proba(kept[champion.feature_names])[:, 1], groups=kept["person_id"].to_numpy(dtype=object),
        fractions={"capacity": validation.capacity_fraction}, probabilistic=True, n_bootstrap=20, ci_level=0.95, ece_bins=10, seed=7,
    )
    assert validation.metrics == expected
    assert validation.seen_note == (
        f"{validation.rows_seen:,} labelled rows ({validation.people_seen:,} people) were left out: the model v1 (split seed 7, "
        "validation_fraction 0.4) was trained on these people with outcome windows overlapping these rows', so it may have memorised "
        f"their outcome. The metrics are on the {validation.rows:,} rows of people it never saw (a random share of everyone, so unbiased). "
        "Index dates from 2023-02-01 on overlap no training label."
    )


@pytest.mark.slow
def test_external_validation_at_dates_no_training_label_overlaps_keeps_everyone(home: Home, sim_dir: Path) -> None:
    validation = external_validation(sim_dir, [UNSEEN_FROM], home=home, n_bootstrap=20, seed=7)
    assert (validation.rows, validation.rows_seen, validation.people_seen) == (len(_labelled(sim_dir, UNSEEN_FROM)), 0, 0)
    assert validation.seen_note.startswith("No row was left out")


@pytest.mark.slow
def test_external_validation_refuses_a_date_whose_lookback_the_extract_does_not_cover(home: Home, sim_dir: Path) -> None:
    with pytest.raises(TrainingError) as raised:
        external_validation(sim_dir, [date(2022, 6, 1), date(2023, 4, 1)], home=home, n_bootstrap=20, seed=7)
    assert str(raised.value) == (
        "each --as-of date must have the predictors' 24-month lookback inside the data (events start 2021-01-01); got "
        "['2022-06-01'], whose uncovered months would count as no contacts. Choose dates on or after 2023-01-01."
    )


@pytest.mark.slow
def test_external_validation_of_an_old_split_model_at_overlapping_dates_has_nobody_left_and_says_which_dates_would_do(home: Home, sim_dir: Path) -> None:
    with pytest.raises(TrainingError) as raised:
        external_validation(sim_dir, [OVERLAPPING], home=home, alias="old", n_bootstrap=20, seed=7)
    message = str(raised.value)
    assert message.startswith("the external rows of people the model never saw must hold both outcomes; got 0 outcomes in 0 labelled rows")
    assert f"({len(_labelled(sim_dir, OVERLAPPING))} more left out: v2 trained with the old split" in message
    assert message.endswith("(index dates from 2023-02-01 on overlap no training label).")


def _publication(root: Path, sim_dir: Path, when: date, model: RiskModel, names: list[str], metadata: dict) -> None:
    table = build_features(sim_dir, as_of=[when], labels=False, config=FeatureConfig())
    scored = table[table["in_cohort"].fillna(False).astype(bool)].reset_index(drop=True)
    score = model.predict_proba(scored[names])[:, 1]
    rank = pd.Series(score).rank(ascending=False, method="first")
    empty = pd.DataFrame({"person_id": pd.Series([], dtype=str)})
    population = pd.DataFrame({
        "person_id": scored["person_id"].to_numpy(), "neighbourhood": scored["neighbourhood"].to_numpy(), "score": score,
        "list_rank": pd.array(np.where(rank <= 120, rank, np.nan), dtype="Int64"),
    })
    publish(root, population=population, lists=empty, features=empty, timeline=empty, metadata={"as_of": when.isoformat(), **metadata},
            clock=lambda: datetime(when.year, when.month, when.day, tzinfo=timezone.utc))


@pytest.mark.slow
def test_the_backtest_leaves_out_people_the_scoring_model_was_trained_on_only_where_outcome_windows_overlap(
    home: Home, sim_dir: Path, tmp_path: Path
) -> None:
    champion = load_model("champion", home=home, name=MODEL_NAME)
    root = tmp_path / "publications"
    for when in (DATES.train[0], UNSEEN_FROM):
        _publication(root, sim_dir, when, champion.model, champion.feature_names, {"model_run_id": champion.run_id})
    publications = list_publications(root)
    inside, after = backtest_publications(
        sim_dir, publications, config=MonitorConfig(backtest_ages_months=(0,)), home=home, data_end=date(2025, 1, 1),
    )
    assert (inside.as_of, after.as_of) == (DATES.train[0], UNSEEN_FROM)
    scored = publications[0].population()
    trained_people = ~validation_people(scored["person_id"], SPLIT)
    labels = build_features(sim_dir, as_of=[DATES.train[0]], labels=True, config=FeatureConfig())
    in_labels = scored["person_id"].isin(labels["person_id"]).to_numpy()
    assert inside.excluded == int((trained_people & in_labels).sum()) > 0
    assert inside.note == (
        f"People left out: run {champion.run_id} (split seed 7, validation_fraction 0.4) was trained on them with outcome windows "
        "overlapping this one (it may have memorised their outcome)."
    )
    assert (after.excluded, after.note) == (0, "")
    assert inside.people + inside.unlabelled + inside.excluded == len(scored)
    unnamed = backtest_publications(sim_dir, publications, config=MonitorConfig(backtest_ages_months=(0,)), home=None, data_end=date(2025, 1, 1))
    assert unnamed[0].excluded == 0 and unnamed[0].note.startswith("Nobody left out: no risingrisk home was given")
