"""Tests for serving.score: eligible people scored, capacity-sized lists, reasons, is_new and byte-identical output."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.risk_model import RiskModel
from risingrisk.cli import app
from serving.capacity import CapacityConfig
from serving.errors import ScoringError
from serving.publish import current_publication, publish
from serving.score import RiskBands, ScoreConfig, score_population

FEATURES = ["ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "sn_housing_insecurity", "sn_housing_insecurity_months", "age"]
NEIGHBOURHOODS = {"Cantab": 1_500, "Ely North": 1_000, "Granta": 501}


def _predictors(n: int, rng: np.random.Generator) -> pd.DataFrame:
    housing = (rng.random(n) < 0.15).astype(float)
    return pd.DataFrame({
        "ed_0_3m": rng.poisson(0.6, n).astype(float),
        "ed_3_6m": rng.poisson(0.5, n).astype(float),
        "ed_6_12m": rng.poisson(0.8, n).astype(float),
        "ed_12_24m": rng.poisson(1.2, n).astype(float),
        "sn_housing_insecurity": housing,
        "sn_housing_insecurity_months": np.where(housing == 1, rng.integers(0, 30, n), np.nan),
        "age": rng.integers(0, 95, n).astype(float),
    })


def _labels(X: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    logit = -3.0 + 0.9 * X["ed_0_3m"] + 1.2 * X["sn_housing_insecurity"] + 0.01 * X["age"]
    return (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def model() -> RiskModel:
    rng = np.random.default_rng(0)
    X, Xv, Xc = (_predictors(n, rng) for n in (3000, 1000, 1500))
    fitted = RiskModel(n_estimators=50, num_leaves=15, min_child_samples=20, early_stopping_rounds=20, n_jobs=1)
    return fitted.fit(X, _labels(X, rng), X_valid=Xv, y_valid=_labels(Xv, rng)).calibrate(Xc, _labels(Xc, rng), method="platt")


def _table(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = sum(NEIGHBOURHOODS.values())
    X = _predictors(n, rng)
    reason = pd.Series(pd.NA, index=X.index, dtype="str")
    reason[rng.random(n) < 0.05] = "nursing_home"
    reason[rng.random(n) < 0.03] = "end_of_life"
    keys = pd.DataFrame({
        "person_id": [f"P{i:07d}" for i in rng.permutation(n)],
        "as_of": pd.Timestamp("2026-11-01"),
        "neighbourhood": np.repeat(list(NEIGHBOURHOODS), list(NEIGHBOURHOODS.values())),
        "excluded_reason": reason,
        "in_cohort": reason.isna().to_numpy(),
        "imd_decile": rng.integers(1, 11, n).astype(float),
    })
    return pd.concat([keys, X], axis=1)


@pytest.fixture(scope="module")
def scored(model: RiskModel):
    return score_population(_table(), model)


def test_list_sizes_follow_six_per_thousand_registered_people(scored) -> None:
    assert scored.capacity == {"Cantab": 9, "Ely North": 6, "Granta": 4}
    assert scored.list_sizes == {"Cantab": 9, "Ely North": 6, "Granta": 4}
    assert scored.lists.groupby("neighbourhood")["rank"].apply(list).to_dict() == {
        "Cantab": list(range(1, 10)), "Ely North": list(range(1, 7)), "Granta": list(range(1, 5)),
    }


def test_excluded_people_never_appear_on_a_list_and_carry_their_reason_not_a_score(scored) -> None:
    pop = scored.population
    excluded = pop[pop["excluded_reason"].notna()]
    assert set(excluded["excluded_reason"]) == {"nursing_home", "end_of_life"}
    assert excluded["score"].isna().all() and excluded["list_rank"].isna().all() and excluded["risk_band"].isna().all()
    assert not set(scored.lists["person_id"]) & set(excluded["person_id"])
    assert scored.rows_in == 3001 == scored.rows_scored + scored.rows_excluded
    assert scored.rows_excluded == len(excluded)


def test_each_list_holds_the_highest_scores_of_its_neighbourhood_in_rank_order(scored) -> None:
    pop = scored.population
    for nbhd, listed in scored.lists.groupby("neighbourhood"):
        eligible = pop[(pop["neighbourhood"] == nbhd) & pop["score"].notna()]
        best = eligible.sort_values(["score", "person_id"], ascending=[False, True]).head(len(listed))
        assert listed["person_id"].tolist() == best["person_id"].tolist()
        assert listed["score"].is_monotonic_decreasing


def test_population_list_rank_matches_the_lists(scored) -> None:
    ranks = scored.population.dropna(subset=["list_rank"]).set_index("person_id")["list_rank"].astype(int)
    assert ranks.sort_index().to_dict() == scored.lists.set_index("person_id")["rank"].sort_index().to_dict()


def test_percentiles_are_shares_scoring_at_or_below_and_bands_follow_them(scored) -> None:
    pop = scored.population.dropna(subset=["score"])
    top = pop.loc[pop["score"].idxmax()]
    assert top["percentile_overall"] == 100.0 and top["percentile_neighbourhood"] == 100.0
    assert top["risk_band"] == "very high"
    assert RiskBands().band(np.array([0.0, 79.9, 80.0, 95.0, 98.99, 99.0, 100.0])).tolist() == [
        "low", "low", "moderate", "high", "high", "very high", "very high",
    ]


def test_each_listed_person_carries_at_most_five_reasons_as_json(scored) -> None:
    for text in scored.lists["reasons"]:
        reasons = json.loads(text)
        assert 1 <= len(reasons) <= 5
        assert all(set(r) == {"feature", "text", "direction", "contribution", "context"} for r in reasons)
        assert [abs(r["contribution"]) for r in reasons] == sorted((abs(r["contribution"]) for r in reasons), reverse=True)


def test_features_hold_every_scored_person_and_only_model_columns(scored, model: RiskModel) -> None:
    assert list(scored.features.columns) == ["person_id", *model.feature_names_]
    assert len(scored.features) == scored.rows_scored


def test_a_list_never_exceeds_the_eligible_people_of_its_neighbourhood(model: RiskModel) -> None:
    table = _table()
    config = ScoreConfig(capacity=CapacityConfig(overrides={"Granta": 10_000}))
    result = score_population(table, model, config=config)
    eligible = int(table.loc[table["neighbourhood"].eq("Granta"), "in_cohort"].sum())
    assert result.capacity["Granta"] == 10_000 and result.list_sizes["Granta"] == eligible


def test_a_missing_model_feature_is_reported_by_name(model: RiskModel) -> None:
    with pytest.raises(ScoringError, match="missing \\['age'\\]"):
        score_population(_table().drop(columns=["age"]), model)


def _publish(root: Path, model: RiskModel, table: pd.DataFrame, hour: int):
    previous = current_publication(root)
    result = score_population(table, model, previous_lists=previous.lists() if previous else None)
    return publish(
        root, population=result.population, lists=result.lists, features=result.features,
        timeline=pd.DataFrame({"person_id": pd.Series([], dtype="str")}), metadata={"as_of": "2026-11-01"},
        clock=lambda: datetime(2026, 11, 2, hour, tzinfo=timezone.utc),
    )


def test_the_same_inputs_give_byte_identical_lists_population_and_features(tmp_path: Path, model: RiskModel) -> None:
    first = _publish(tmp_path / "a", model, _table(), 9)
    second = _publish(tmp_path / "b", model, _table().sample(frac=1.0, random_state=3), 11)
    for name in ("lists.parquet", "population.parquet", "features.parquet"):
        assert (first.path / name).read_bytes() == (second.path / name).read_bytes()


def test_is_new_marks_only_people_not_on_their_previous_list(tmp_path: Path, model: RiskModel) -> None:
    table = _table()
    first = _publish(tmp_path, model, table, 9)
    assert first.lists()["is_new"].all()
    top_cantab = first.lists().query("neighbourhood == 'Cantab' and rank == 1")["person_id"].item()
    later = table.copy()
    later.loc[later["person_id"] == top_cantab, ["in_cohort", "excluded_reason"]] = [False, "end_of_life"]
    second = _publish(tmp_path, model, later, 10)
    lists = second.lists()
    assert second.metadata["previous_publication_id"] == first.id
    assert top_cantab not in set(lists["person_id"])
    new = lists[lists["is_new"]]
    assert new[["neighbourhood", "rank"]].values.tolist() == [["Cantab", 9]]
    assert not (set(new["person_id"]) & set(first.lists()["person_id"]))


def test_the_allocation_rule_splits_the_system_total_across_neighbourhoods(model: RiskModel) -> None:
    result = score_population(_table(), model, config=ScoreConfig(capacity=CapacityConfig(rule="allocation")))
    assert sum(result.capacity.values()) == 19  # ceil(6 / 1000 × 3,001)
    assert result.list_sizes == result.capacity


def test_score_without_a_registered_model_exits_1_and_says_how_to_train_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISINGRISK_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["score", "--data", str(tmp_path), "--out", str(tmp_path / "pubs")])
    assert result.exit_code == 1
    assert "risingrisk train" in " ".join(result.output.split())
    assert not (tmp_path / "pubs").exists()


def test_people_tied_on_an_isotonic_score_are_ranked_by_the_models_log_odds(model: RiskModel, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    Xc = _predictors(1500, rng)
    stepped = RiskModel.load(model.save(tmp_path)).calibrate(Xc, _labels(Xc, rng), method="isotonic")
    table = _table()
    result = score_population(table, stepped)
    listed = result.lists.merge(table[["person_id", *stepped.feature_names_]], on="person_id")
    log_odds = stepped.predict_log_odds(listed)
    assert listed["score"].duplicated().any()  # isotonic steps do tie at the top
    for _, group in listed.assign(log_odds=log_odds).groupby(["neighbourhood", "score"]):
        assert group.sort_values("rank")["log_odds"].is_monotonic_decreasing


def _with_bands() -> pd.DataFrame:
    table = _table()
    return table.assign(age_band=pd.cut(table["age"], [-1, 17, 64, 200], labels=["0-17", "18-64", "65+"]).astype(str))


@pytest.mark.parametrize("policy", ["stratified", "rising"])
def test_scoring_lists_the_people_the_configured_policy_chooses_in_each_neighbourhood(model: RiskModel, policy: str) -> None:
    from training.list_policy import ListsConfig, select

    table = _with_bands()
    rng = np.random.default_rng(8)
    earlier = pd.Series(rng.random(len(table)) * 0.2, index=table["person_id"].astype(str).to_numpy())
    lists = ListsConfig(policy=policy)
    result = score_population(table, model, config=ScoreConfig(lists=lists), earlier=earlier)
    assert result.list_sizes == {"Cantab": 9, "Ely North": 6, "Granta": 4}
    population = result.population.set_index("person_id")
    bands = table.set_index("person_id")["age_band"]
    for neighbourhood, k in result.capacity.items():
        eligible = population[(population["neighbourhood"] == neighbourhood) & population["score"].notna()]
        eligible = eligible.sort_values("score", ascending=False, kind="stable")
        mask = select(
            eligible["score"].to_numpy(), k, config=lists, earlier=earlier.reindex(eligible.index).to_numpy(),
            strata=bands.reindex(eligible.index).to_numpy(),
        )
        listed = set(result.lists.loc[result.lists["neighbourhood"] == neighbourhood, "person_id"])
        assert listed == set(eligible.index[mask])
