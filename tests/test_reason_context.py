"""A reason's context sentence (the level of use, not its recent change, drives it): worded once in models, served by the API, shown by the pages."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from features.config import FeatureConfig
from features.definitions import PREDICTORS, predictor_specs
from features.home import Home
from models.explain import explain_rows
from models.reasons import reason_context, recent_use
from models.risk_model import RiskModel
from service_support import FEATURES, feature_frame, fit_model, service_app, write_publication
from serving.auth import TokenStore

FELL_ED = "Use fell recently; it is the level of A&E attendances over the whole period that raises the risk, not the fall."
ROSE_ED = "Use rose recently, but the level of A&E attendances over the whole period is low enough to lower the risk."
FELL_GP = "Use fell recently; it is the level of GP contacts over the whole period that raises the risk, not the fall."
#: Windows of a differently built model: one month, then the rest of the year, then the year before.
MONTHLY = FeatureConfig(windows=((0, 1), (1, 12), (12, 24)))


# ---- the sentence, from the reason's setting, direction and the person's counts ----------------------------------


def test_a_fall_in_use_that_still_raises_risk_says_the_level_not_the_fall_counts() -> None:
    values = {"gp_0_3m": 1.0, "gp_3_6m": 4.0, "gp_6_12m": 6.0, "gp_12_24m": 10.0}
    assert reason_context("gp", "raises", values) == FELL_GP
    assert reason_context("gp", "lowers", values) is None


def test_a_rise_that_lowers_risk_says_the_level_is_still_low_and_steady_or_matching_changes_get_none() -> None:
    assert reason_context("ed", "lowers", {"ed_0_3m": 1.0, "ed_3_6m": 0.0}) == ROSE_ED
    assert reason_context("ed", "raises", {"ed_0_3m": 1.0, "ed_3_6m": 0.0}) is None
    assert reason_context("ed", "raises", {"ed_0_3m": 2.0, "ed_3_6m": 2.0}) is None
    assert reason_context("ed", "lowers", {"ed_0_3m": 2.0, "ed_3_6m": 2.0}) is None


def test_reasons_that_are_not_a_settings_use_or_lack_a_count_get_no_context() -> None:
    assert reason_context("sn_lives_alone", "raises", {"sn_lives_alone": 1.0}) is None
    assert reason_context("age", "raises", {"age": 80.0}) is None
    assert reason_context("ed_0_3m", "raises", {"ed_0_3m": 1.0, "ed_3_6m": 4.0}) is None  # a lone window is its own reason
    assert reason_context("ed", "raises", {"ed_0_3m": None, "ed_3_6m": 4.0}) is None
    assert reason_context("ed", "raises", {"ed_3_6m": 4.0}) is None


def test_windows_of_different_lengths_compare_use_per_month_not_raw_counts() -> None:
    specs = predictor_specs(MONTHLY)
    # 1 contact in the last month against 5 in the 11 months before: use rose (1 a month > 0.45 a month)
    values = {"gp_0_1m": 1.0, "gp_1_12m": 5.0, "gp_12_24m": 4.0}
    assert recent_use("gp", values, specs) == (1.0, 5.0 / 11)
    assert reason_context("gp", "raises", values, specs) is None
    assert reason_context("gp", "lowers", values, specs) == (
        "Use rose recently, but the level of GP contacts over the whole period is low enough to lower the risk.")
    assert recent_use("gp", values, PREDICTORS) is None  # the default windows' counts are not among these values


# ---- explanations carry it: two differently built models ---------------------------------------------------------


def _monthly_gp(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """GP counts in 1-, 11- and 12-month windows; the outcome follows the year's level of GP use, not the last month."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.5, 0.6, n)
    frame = pd.DataFrame({
        "gp_0_1m": rng.poisson(rate).astype(float),
        "gp_1_12m": rng.poisson(rate * 11).astype(float),
        "gp_12_24m": rng.poisson(rate * 12).astype(float),
        "age": rng.integers(18, 95, n).astype(float),
    })
    logit = -4.0 + 0.12 * (frame["gp_1_12m"] + frame["gp_12_24m"]) + 0.01 * frame["age"]
    return frame, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def monthly_model() -> RiskModel:
    (X, y), (Xv, yv), (Xc, yc) = (_monthly_gp(n, seed) for n, seed in ((3000, 1), (1000, 2), (1500, 3)))
    model = RiskModel(n_estimators=60, num_leaves=7, min_child_samples=20, early_stopping_rounds=20, n_jobs=1)
    return model.fit(X, y, X_valid=Xv, y_valid=yv).calibrate(Xc, yc, method="platt")


def test_every_explained_reason_carries_the_context_of_its_setting_direction_and_counts() -> None:
    rows = feature_frame(300, 5)[0][FEATURES]
    explanations = explain_rows(fit_model().model, rows)
    for row, explanation in zip(rows.to_dict("records"), explanations):
        for reason in explanation.reasons:
            assert reason.context == reason_context(reason.feature, reason.direction, row)
            assert reason.to_dict()["context"] == reason.context
    assert {FELL_ED, None} <= {r.context for e in explanations for r in e.reasons}


def test_a_model_on_monthly_windows_says_a_high_years_use_not_a_quiet_last_month_raises_the_risk(monthly_model: RiskModel) -> None:
    specs = predictor_specs(MONTHLY)
    quiet = pd.DataFrame([{"gp_0_1m": 0.0, "gp_1_12m": 30.0, "gp_12_24m": 30.0, "age": 60.0}])
    [gp] = [r for r in explain_rows(monthly_model, quiet, specs=specs)[0].reasons if r.feature == "gp"]
    assert (gp.direction, gp.context) == ("raises", FELL_GP)
    rows = _monthly_gp(200, 4)[0]
    for row, explanation in zip(rows.to_dict("records"), explain_rows(monthly_model, rows, specs=specs)):
        assert [r.context for r in explanation.reasons] == [reason_context(r.feature, r.direction, row, specs) for r in explanation.reasons]


# ---- the API and the page show the same sentence for a constructed person ---------------------------------------

#: P0000001 lives in Alpha Vale: much A&E use, falling (4 in the last 3 months after 7 in the 3 before; 11 in the last
#: 6 months after 14 in the 6 before, a trend of -3).
FALLING = {"ed_0_3m": 4.0, "ed_3_6m": 7.0, "ed_6_12m": 14.0, "ed_12_24m": 16.0, "ed_trend": -3.0, "days_since_ed": 12.0,
           "sn_lives_alone": 1.0, "sn_lives_alone_months": 20.0}
PERSON = "P0000001"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = Home(tmp_path_factory.mktemp("home")).ensure()
    model = fit_model()
    write_publication(home, model, values={PERSON: FALLING})
    store = TokenStore(home.tokens)
    tokens = {"alpha": store.create(neighbourhoods=["Alpha Vale"])[1], "phm": store.create(phm=True)[1]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        with TestClient(service_app(home, model), raise_server_exceptions=False) as client:
            yield {"client": client, "tokens": tokens}


def _bearer(served: dict[str, Any], token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {served['tokens'][token]}"}


def test_the_api_reason_and_the_person_page_show_the_same_context_sentence(served: dict[str, Any]) -> None:
    client: TestClient = served["client"]
    api = client.get(f"/v1/people/{PERSON}/explanation", headers=_bearer(served, "alpha")).json()
    [ed] = [r for r in api["reasons"] if r["feature"] == "ed"]
    assert (ed["direction"], ed["context"]) == ("raises", FELL_ED)
    assert all(r["context"] is None for r in api["reasons"] if r["feature"] != "ed")

    form = client.get("/pages/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/pages/login", data={"token": served["tokens"]["alpha"], "csrf_token": form})
    page = client.get(f"/pages/people/{PERSON}").text
    client.cookies.clear()
    shown = [html.unescape(re.sub(r"\s+", " ", item)) for item in re.findall(r'<li class="rr-factor rr-raises">(.*?)</li>', page, re.DOTALL)]
    [factor] = [item for item in shown if ed["text"] in item]
    assert re.findall(r'<span class="rr-note rr-context">(.*?)</span>', factor) == [FELL_ED]
    contexts = [html.unescape(c) for c in re.findall(r'<span class="rr-note(?: rr-context)?">(.*?)</span>', page)]
    assert contexts == [FELL_ED, FELL_ED]  # the reason that matters, and the same reason under all factors


def test_the_list_and_score_endpoints_carry_the_same_context_as_the_explanation(served: dict[str, Any]) -> None:
    client: TestClient = served["client"]
    listed = client.get("/v1/neighbourhoods/Alpha%20Vale/list", headers=_bearer(served, "alpha")).json()["people"]
    [entry] = [p for p in listed if p["person_id"] == PERSON]
    assert [r["context"] for r in entry["reasons"] if r["feature"] == "ed"] == [FELL_ED]
    row = {**feature_frame(60, 11)[0].iloc[0].to_dict(), **FALLING}
    features = {name: (None if pd.isna(row[name]) else float(row[name])) for name in FEATURES}
    scored = client.post("/v1/score", json={"rows": [{"features": features}]}, headers=_bearer(served, "phm")).json()
    assert [r["context"] for r in scored["results"][0]["reasons"] if r["feature"] == "ed"] == [FELL_ED]


def test_the_openapi_describes_the_context_of_every_reason(served: dict[str, Any]) -> None:
    spec = served["client"].get("/docs.json").json()
    context = spec["components"]["schemas"]["Reason"]["properties"]["context"]
    assert context["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert context["description"].startswith("A sentence to read with the text when the level of use, not its recent change,")
    assert "the clinician pages show the same sentence" in context["description"]
