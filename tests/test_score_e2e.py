"""End to end on the simulated population: register a small champion, run `risingrisk score` twice, check the publication."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.build import build_features
from features.config import FeatureConfig
from features.contract import SETTINGS
from features.dates import add_months, extract_date
from features.definitions import describe, predictor_names
from features.home import Home
from models.explain import explain_rows
from models.risk_model import RiskModel
from risingrisk.cli import app
from serving.holdout import HOLDOUT_REASON, holdout_draw
from serving.publish import current_publication, list_publications
from serving.score import ScoreConfig
from serving.scoring_run import score_and_publish
from training.list_policy import ListsConfig
from training.registry import MODEL_NAME, load_model, log_and_register
from training.tracking import configure_tracking

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion_home(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A home whose registry holds a small model (fitted through public APIs) under alias champion."""
    config = FeatureConfig()
    extract = extract_date(sim_dir)
    dates = [add_months(extract, -m) for m in (30, 27, 24, 21)]
    table = build_features(sim_dir, as_of=dates, labels=True, config=config)
    table = table[table["in_cohort"] & table[config.label_column].notna()]
    names = predictor_names(config)
    part = {d: table[table["as_of"] == pd.Timestamp(d)] for d in dates}
    train = pd.concat([part[dates[0]], part[dates[1]]])
    y = lambda frame: frame[config.label_column].astype(int).to_numpy()  # noqa: E731
    model = RiskModel(n_estimators=80, learning_rate=0.1, num_leaves=15, min_child_samples=50, early_stopping_rounds=20, n_jobs=1)
    model.fit(train[names], y(train), X_valid=part[dates[2]][names], y_valid=y(part[dates[2]]))
    model.calibrate(part[dates[3]][names], y(part[dates[3]]), method="platt")
    home = Home(tmp_path_factory.mktemp("home")).ensure()
    configure_tracking(home)
    metadata = {
        "feature_names": names, "outcome": config.outcome, "feature_config": config.to_dict(),
        "training_window": {"train": [str(d) for d in dates[:2]], "calibrate": [str(dates[3])]},
    }
    with mlflow.start_run():
        log_and_register(model, name=MODEL_NAME, example=train[names].head(5), metadata=metadata, aliases=("champion",))
    return home


@pytest.fixture(scope="module")
def runs(sim_dir: Path, champion_home: Home, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> dict:
    monkeypatch_module.setenv("RISINGRISK_HOME", str(champion_home.root))
    out = tmp_path_factory.mktemp("publications")
    results = [CliRunner().invoke(app, ["score", "--data", str(sim_dir), "--out", str(out)]) for _ in range(2)]
    for result in results:
        assert result.exit_code == 0, result.output
    first, second = list_publications(out)
    return {"out": out, "first": first, "second": second, "table": build_features(sim_dir, as_of=[extract_date(sim_dir)])}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_score_publishes_every_registered_person_with_the_champions_version(runs: dict, sim_dir: Path) -> None:
    meta, table = runs["second"].metadata, runs["table"]
    assert meta["model_alias"] == "champion" and meta["model_version"] == "1"
    assert meta["as_of"] == meta["extract_date"] == extract_date(sim_dir).isoformat()
    assert meta["rows_in"] == len(table) == meta["rows_scored"] + meta["rows_excluded"]
    assert meta["rows_scored"] == int(table["in_cohort"].sum())
    assert meta["explanation_space"] == "probability"
    assert (meta["list_policy"]["policy"], meta["list_policy"]["meaning"]) == ("risk", "the highest predicted risk")
    assert len(runs["second"].population()) == len(table)


def test_list_sizes_are_six_per_thousand_registered_people_of_each_neighbourhood(runs: dict) -> None:
    table, lists = runs["table"], runs["second"].lists()
    population = table.groupby("neighbourhood").size()
    eligible = table[table["in_cohort"]].groupby("neighbourhood").size()
    expected = {n: min(math.ceil(6 * int(p) / 1000), int(eligible.get(n, 0))) for n, p in population.items()}
    assert lists.groupby("neighbourhood").size().to_dict() == expected
    assert runs["second"].metadata["list_sizes"] == expected


def test_excluded_people_are_never_listed(runs: dict) -> None:
    population, lists = runs["second"].population(), runs["second"].lists()
    excluded = population[population["excluded_reason"].notna()]
    assert len(excluded) > 0
    assert not set(excluded["person_id"]) & set(lists["person_id"])
    assert excluded["list_rank"].isna().all()


def test_listed_explanations_add_up_to_the_published_score(runs: dict, champion_home: Home) -> None:
    model = load_model("champion", home=champion_home).model
    pub = runs["second"]
    lists = pub.lists()
    rows = pub.features().set_index("person_id").loc[lists["person_id"]].reset_index()
    explanations = explain_rows(model, rows)
    np.testing.assert_allclose([e.score for e in explanations], lists["score"], atol=1e-12)
    for e in explanations:
        assert sum(r.contribution for r in e.reasons) == pytest.approx(e.score - e.base_score, abs=1e-9)
    assert explanations[0].base_score == pytest.approx(pub.metadata["base_score"], abs=1e-15)


def test_listed_reasons_name_the_persons_real_values(runs: dict) -> None:
    pub = runs["second"]
    lists = pub.lists()
    features = pub.features().set_index("person_id")
    checked = 0
    for person, text in zip(lists["person_id"], lists["reasons"]):
        row = features.loc[person]
        for reason in json.loads(text):
            feature = reason["feature"]
            if feature in SETTINGS:
                windows = [c for c in features.columns if c.startswith(f"{feature}_") and c.endswith("m") and c[len(feature) + 1].isdigit()]
                used = [c for c in windows if row[c] > 0]
                assert reason["text"].startswith("No ") if not used else f"{row[used[0]]:.0f} " in reason["text"]
                checked += 1
            elif not feature.startswith("sn_"):
                assert reason["text"] == describe(feature, None if pd.isna(row[feature]) else float(row[feature]))
                checked += 1
    assert checked > 0


def test_a_second_run_on_the_same_data_gives_the_same_lists_and_nobody_new(runs: dict) -> None:
    first, second = runs["first"], runs["second"]
    assert (first.path / "population.parquet").read_bytes() == (second.path / "population.parquet").read_bytes()
    assert (first.path / "features.parquet").read_bytes() == (second.path / "features.parquet").read_bytes()
    pd.testing.assert_frame_equal(first.lists().drop(columns="is_new"), second.lists().drop(columns="is_new"))
    assert first.lists()["is_new"].all() and not second.lists()["is_new"].any()
    assert second.metadata["previous_publication_id"] == first.id
    assert current_publication(runs["out"]).id == second.id


def test_timeline_covers_the_24_months_before_as_of_for_scored_people_only(runs: dict) -> None:
    pub = runs["second"]
    timeline = pub.timeline()
    as_of = pd.Timestamp(pub.metadata["as_of"]).date()
    assert timeline["month"].min() >= add_months(as_of, -24).replace(day=1)
    assert timeline["month"].max() < as_of
    scored = set(pub.population().dropna(subset=["score"])["person_id"])
    assert set(timeline["person_id"]) <= scored
    assert timeline["person_id"].is_monotonic_increasing


def test_a_scoring_run_reports_each_step_then_the_end_through_the_progress_callback(
    sim_dir: Path, champion_home: Home, tmp_path: Path
) -> None:
    loaded = load_model("champion", home=champion_home)
    reports: list[tuple[str, int, int]] = []
    run = score_and_publish(
        sim_dir, loaded.model, feature_config=loaded.feature_config, where=tmp_path, progress=lambda *r: reports.append(r)
    )
    assert reports == [
        ("Building features", 0, 4), ("Scoring and explaining", 1, 4), ("Building timelines", 2, 4), ("Publishing", 3, 4),
        ("Published", 4, 4),
    ]
    assert current_publication(tmp_path).id == run.publication.id


def test_a_scoring_run_with_a_holdout_publishes_the_arms_the_candidates_and_their_counts(
    sim_dir: Path, champion_home: Home, tmp_path: Path
) -> None:
    loaded = load_model("champion", home=champion_home)
    config = ScoreConfig(lists=ListsConfig(holdout_fraction=0.2, holdout_seed=3))
    pub = score_and_publish(sim_dir, loaded.model, feature_config=loaded.feature_config, where=tmp_path, config=config).publication
    arms, candidates, lists, population = pub.holdout(), pub.candidates(), pub.lists(), pub.population()
    as_of = date.fromisoformat(pub.metadata["as_of"])
    assert (arms["listed_at"] == pd.Timestamp(as_of)).all()
    assert arms["arm"].eq("holdout").tolist() == (holdout_draw(arms["person_id"], 3) < 0.2).tolist()
    assert (arms["first_assigned"] == pd.Timestamp(as_of)).all() and (arms["holdout_until"] == pd.Timestamp(add_months(as_of, 18))).all()
    held = arms.loc[arms["arm"] == "holdout", "person_id"]
    assert sorted(arms.loc[arms["arm"] == "listed", "person_id"]) == sorted(lists["person_id"])
    assert set(population.loc[population["person_id"].isin(held), "excluded_reason"]) == {HOLDOUT_REASON}
    assert pub.metadata["holdout"] == {
        "fraction": 0.2, "seed": 3, "months": 18, "would_be_listed": len(arms), "listed": len(lists), "holdout": len(held),
        "released": 0, "newly_assigned": len(arms), "candidates_recorded": len(candidates),
    }
    assert sum(pub.metadata["capacity"].values()) == len(arms) == len(lists) + len(held)
    assert candidates.groupby("neighbourhood").size().to_dict() == {n: 2 * c for n, c in pub.metadata["capacity"].items()}


def test_a_later_scoring_run_carries_the_earlier_publications_arms_forward_and_draws_only_new_people(
    sim_dir: Path, champion_home: Home, tmp_path: Path
) -> None:
    loaded = load_model("champion", home=champion_home)
    extract = extract_date(sim_dir)
    pubs = []
    for seed, as_of in ((3, add_months(extract, -1)), (4, extract)):  # a new seed: carried arms can only come from the records
        config = ScoreConfig(lists=ListsConfig(holdout_fraction=0.2, holdout_seed=seed))
        pubs.append(score_and_publish(sim_dir, loaded.model, feature_config=loaded.feature_config, as_of=as_of, where=tmp_path,
                                      config=config).publication)
    before, after = (p.holdout().set_index("person_id") for p in pubs)
    carried = after.index.intersection(before.index)
    new = after.index.difference(before.index)
    assert len(carried) > 0 and len(new) > 0
    assert after.loc[carried, "arm"].tolist() == before.loc[carried, "arm"].tolist()
    assert (after.loc[carried, "first_assigned"] == pd.Timestamp(add_months(extract, -1))).all()
    assert after.loc[new, "arm"].eq("holdout").tolist() == (holdout_draw(pd.Series(new), 4) < 0.2).tolist()
    assert not set(after.index[after["arm"] == "holdout"]) & set(pubs[1].lists()["person_id"])
    assert pubs[1].metadata["holdout"]["newly_assigned"] == len(new)
