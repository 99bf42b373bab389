"""Tests for models.explain and models.reasons: exact TreeSHAP, probability-space sums, plain-English reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.explain import EXPLANATION_SPACE, explain_rows, tree_contributions
from models.risk_model import RiskModel
from models.reasons import ReasonGroup, group_features, reason_text

AS_OF = date(2026, 11, 1)
FEATURES = [
    "ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "ed_trend", "days_since_ed",
    "sn_housing_insecurity", "sn_housing_insecurity_months", "sn_lives_alone", "sn_lives_alone_months",
    "age", "imd_decile",
]


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    windows = {name: rng.poisson(lam, n).astype(float) for name, lam in
               (("ed_0_3m", 0.6), ("ed_3_6m", 0.5), ("ed_6_12m", 0.8), ("ed_12_24m", 1.2))}
    housing = (rng.random(n) < 0.15).astype(float)
    alone = (rng.random(n) < 0.25).astype(float)
    frame = pd.DataFrame({
        **windows,
        "ed_trend": windows["ed_0_3m"] + windows["ed_3_6m"] - windows["ed_6_12m"],
        "days_since_ed": np.where(windows["ed_0_3m"] > 0, rng.integers(1, 90, n), np.nan),
        "sn_housing_insecurity": housing,
        "sn_housing_insecurity_months": np.where(housing == 1, rng.integers(0, 30, n), np.nan),
        "sn_lives_alone": alone,
        "sn_lives_alone_months": np.where(alone == 1, rng.integers(0, 60, n), np.nan),
        "age": rng.integers(0, 95, n).astype(float),
        "imd_decile": np.where(rng.random(n) < 0.05, np.nan, rng.integers(1, 11, n)),
    })
    logit = -3.0 + 0.9 * frame["ed_0_3m"] + 1.2 * housing + 0.4 * alone - 0.08 * frame["imd_decile"].fillna(5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


@pytest.fixture(scope="module", params=["platt", "isotonic"])
def model(request: pytest.FixtureRequest) -> RiskModel:
    X, y = _frame(3000, 1)
    Xv, yv = _frame(1000, 2)
    Xc, yc = _frame(1500, 3)
    fitted = RiskModel(n_estimators=60, num_leaves=15, min_child_samples=20, early_stopping_rounds=20, n_jobs=1).fit(
        X, y, X_valid=Xv, y_valid=yv
    )
    return fitted.calibrate(Xc, yc, method=request.param)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return _frame(200, 4)[0]


def test_pred_contrib_agrees_with_shap_tree_explainer_to_1e_6(model: RiskModel, rows: pd.DataFrame) -> None:
    import shap

    ours = tree_contributions(model, rows)
    explainer = shap.TreeExplainer(model.booster_)
    theirs = np.asarray(explainer.shap_values(rows[model.feature_names_]))
    np.testing.assert_allclose(ours[:, :-1], theirs, atol=1e-6)
    np.testing.assert_allclose(ours[:, -1], float(np.ravel(explainer.expected_value)[0]), atol=1e-6)


def test_log_odds_contributions_sum_to_the_boosters_log_odds(model: RiskModel, rows: pd.DataFrame) -> None:
    np.testing.assert_allclose(tree_contributions(model, rows).sum(axis=1), model.predict_log_odds(rows), atol=1e-9)


def test_explanation_score_is_the_calibrated_probability(model: RiskModel, rows: pd.DataFrame) -> None:
    scores = [e.score for e in explain_rows(model, rows, as_of=AS_OF)]
    np.testing.assert_allclose(scores, model.predict_proba(rows)[:, 1], atol=1e-12)


def test_reasons_add_up_exactly_to_score_minus_base_score(model: RiskModel, rows: pd.DataFrame) -> None:
    for e in explain_rows(model, rows, as_of=AS_OF):
        assert e.space == EXPLANATION_SPACE == "probability"
        assert sum(r.contribution for r in e.reasons) == pytest.approx(e.score - e.base_score, abs=1e-12)


def test_top_reasons_are_the_largest_and_the_rest_is_kept_as_hidden_contribution(model: RiskModel, rows: pd.DataFrame) -> None:
    full = explain_rows(model, rows, as_of=AS_OF)
    top = explain_rows(model, rows, as_of=AS_OF, top=2)
    for whole, short in zip(full, top):
        assert [r.feature for r in short.reasons] == [r.feature for r in whole.reasons[:2]]
        shown = sum(r.contribution for r in short.reasons)
        assert shown + short.hidden_contribution == pytest.approx(short.score - short.base_score, abs=1e-12)


def test_direction_follows_the_sign_of_the_contribution(model: RiskModel, rows: pd.DataFrame) -> None:
    reasons = [r for e in explain_rows(model, rows, as_of=AS_OF) for r in e.reasons]
    assert {r.direction for r in reasons if r.contribution > 0} == {"raises"}
    assert {r.direction for r in reasons if r.contribution < 0} == {"lowers"}
    assert all(r.contribution != 0 for r in reasons)


def test_a_listed_persons_reasons_name_their_real_values(model: RiskModel) -> None:
    person = pd.DataFrame([{
        "ed_0_3m": 4.0, "ed_3_6m": 0.0, "ed_6_12m": 0.0, "ed_12_24m": 1.0, "ed_trend": 4.0, "days_since_ed": 12.0,
        "sn_housing_insecurity": 1.0, "sn_housing_insecurity_months": 8.0, "sn_lives_alone": 1.0,
        "sn_lives_alone_months": 30.0, "age": 47.0, "imd_decile": 2.0,
    }])
    (e,) = explain_rows(model, person, as_of=AS_OF)
    by_key = {r.feature: r for r in e.reasons}
    assert by_key["sn_housing_insecurity"].text == "Housing insecurity (since March 2026)"
    assert by_key["sn_housing_insecurity"].value == {"sn_housing_insecurity": 1.0, "sn_housing_insecurity_months": 8.0}
    assert by_key["ed"].members == ("ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "ed_trend", "days_since_ed")
    assert "4 A&E attendances in the last 3 months" in by_key["ed"].text


def test_a_settings_windows_trend_and_recency_read_as_one_reason_and_needs_pair_with_their_onset() -> None:
    groups = group_features(FEATURES)
    assert groups == [
        ReasonGroup("ed", ("ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "ed_trend", "days_since_ed")),
        ReasonGroup("sn_housing_insecurity", ("sn_housing_insecurity", "sn_housing_insecurity_months")),
        ReasonGroup("sn_lives_alone", ("sn_lives_alone", "sn_lives_alone_months")),
        ReasonGroup("age", ("age",)),
        ReasonGroup("imd_decile", ("imd_decile",)),
    ]


def test_setting_reason_text_states_recent_count_and_the_window_before() -> None:
    group = ReasonGroup("ed", ("ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "ed_trend", "days_since_ed"))
    values = {"ed_0_3m": 4.0, "ed_3_6m": 0.0, "ed_6_12m": 2.0, "ed_12_24m": 1.0, "ed_trend": 2.0, "days_since_ed": 12.0}
    assert reason_text(group, values, contributions={"ed_0_3m": 0.9, "ed_6_12m": 0.1}) == (
        "4 A&E attendances in the last 3 months (none in the 3 months before)"
    )
    assert reason_text(group, values, contributions={"ed_0_3m": 0.1, "ed_trend": 0.5}) == (
        "+2 A&E attendances in the last 6 months compared with the 6 months before; "
        "4 A&E attendances in the last 3 months (none in the 3 months before)"
    )


def test_setting_reason_text_says_when_use_is_older_or_absent() -> None:
    group = ReasonGroup("ed", ("ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "days_since_ed"))
    older = {"ed_0_3m": 0.0, "ed_3_6m": 1.0, "ed_6_12m": 0.0, "ed_12_24m": 3.0, "days_since_ed": 150.0}
    assert reason_text(group, older, contributions={"days_since_ed": -0.4}) == (
        "Last A&E attendance 150 days ago; 1 A&E attendance 3 to 6 months ago (none in the 6 months before); "
        "none in the last 3 months"
    )
    never = {"ed_0_3m": 0.0, "ed_3_6m": 0.0, "ed_6_12m": 0.0, "ed_12_24m": 0.0, "days_since_ed": None}
    assert reason_text(group, never, contributions={"days_since_ed": -0.4}) == "No A&E attendances in the last 24 months"


def test_social_need_reason_text_dates_the_onset_and_says_when_absent() -> None:
    group = ReasonGroup("sn_lives_alone", ("sn_lives_alone", "sn_lives_alone_months"))
    assert reason_text(group, {"sn_lives_alone": 1.0, "sn_lives_alone_months": 8.0}, as_of=AS_OF) == (
        "Lives alone or socially isolated (since March 2026)"
    )
    assert reason_text(group, {"sn_lives_alone": 0.0, "sn_lives_alone_months": None}, as_of=AS_OF) == (
        "Not recorded as living alone or isolated"
    )


def test_missing_model_feature_is_reported_by_name(model: RiskModel, rows: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="age"):
        explain_rows(model, rows.drop(columns=["age"]))
