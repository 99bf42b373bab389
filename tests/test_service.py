"""HTTP tests of the BentoML service in-process (its ASGI app): access control, audit, answers, bad requests, logs."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from features.database import database_url
from features.home import Home
from service_support import FEATURES, TestModel, fit_model, service_app, write_publication
from serving.audit import AuditLog
from serving.auth import TokenStore
from serving.config import ServiceConfig
from serving.state import ServingState

LIST_ENDPOINT = "GET /v1/neighbourhoods/{neighbourhood}/list"
PERSON_ENDPOINT = "GET /v1/people/{person_id}/explanation"


class Served:
    """A running in-process service with its home, tokens and publication."""

    def __init__(self, client: TestClient, home: Home, tokens: dict[str, str], model: TestModel, publication: Any) -> None:
        self.client = client
        self.home = home
        self.tokens = tokens
        self.model = model
        self.publication = publication

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.client.get(path, headers=headers, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return self.client.post(path, headers=headers, **kwargs)


def start_service(root: Path, model: TestModel) -> Iterator[Served]:
    """Write a publication and tokens under ``root``, start the service's ASGI app, yield a client."""
    home = Home(root).ensure()
    publication = write_publication(home, model)
    store = TokenStore(home.tokens)
    tokens = {
        "alpha": store.create(neighbourhoods=["Alpha Vale"], label="Alpha Vale team")[1],
        "brook": store.create(neighbourhoods=["Brook & Fen"])[1],
        "phm": store.create(phm=True, label="PHM analysts")[1],
        "revoked": store.create(neighbourhoods=["Alpha Vale"])[1],
    }
    store.revoke(tokens["revoked"].split("_")[1])
    prometheus = root / "prometheus"
    prometheus.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(prometheus))
        with TestClient(service_app(home, model), raise_server_exceptions=False) as client:
            yield Served(client, home, tokens, model, publication)


@pytest.fixture(scope="module")
def model() -> TestModel:
    return fit_model()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, model: TestModel) -> Iterator[Served]:
    yield from start_service(tmp_path_factory.mktemp("home"), model)


def _published_list(served: Served, neighbourhood: str) -> pd.DataFrame:
    lists = served.publication.lists()
    return lists[lists["neighbourhood"] == neighbourhood].sort_values("rank")


# ---- answers -------------------------------------------------------------------------------


def test_a_team_gets_its_published_list_in_rank_order_with_version_and_as_of(served: Served) -> None:
    response = served.get("/v1/neighbourhoods/Alpha Vale/list", "alpha")
    assert response.status_code == 200
    body = response.json()
    expected = _published_list(served, "Alpha Vale")
    assert [p["person_id"] for p in body["people"]] == list(expected["person_id"])
    assert [p["rank"] for p in body["people"]] == [1, 2]
    assert [p["score"] for p in body["people"]] == pytest.approx(list(expected["score"]))
    assert body["people"][0]["reasons"] == json.loads(expected["reasons"].iloc[0])
    assert body["people"][0]["is_new"] is True
    assert (body["model_version"], body["as_of"], body["extract_date"]) == ("3", "2026-11-01", "2026-10-31")
    assert body["publication_id"] == served.publication.id == "20261102T060000Z"


def test_neighbourhood_names_with_spaces_and_ampersands_work_url_encoded(served: Served) -> None:
    response = served.get("/v1/neighbourhoods/Brook%20%26%20Fen/list", "brook")
    assert response.status_code == 200
    assert [p["person_id"] for p in response.json()["people"]] == list(_published_list(served, "Brook & Fen")["person_id"])


def test_explanation_reasons_add_up_to_the_published_score_minus_base_score(served: Served) -> None:
    person = _published_list(served, "Alpha Vale")["person_id"].iloc[0]
    body = served.get(f"/v1/people/{person}/explanation", "alpha").json()
    population = served.publication.population().set_index("person_id")
    assert body["score"] == pytest.approx(population.loc[person, "score"], abs=1e-12)
    assert sum(r["contribution"] for r in body["reasons"]) == pytest.approx(body["score"] - body["base_score"], abs=1e-9)
    assert body["list_rank"] == 1
    assert body["explanation_space"] == "probability"
    assert {r["direction"] for r in body["reasons"]} <= {"raises", "lowers"}


def test_timeline_has_24_zero_filled_months_before_as_of_with_the_published_counts(served: Served) -> None:
    # P0000004 (i=3) has ed 1, 2, 3 contacts in Oct, Sep, Aug 2026 and 2 gp contacts in Jan 2025
    body = served.get("/v1/people/P0000004/explanation", "phm").json()  # unlisted: PHM sees everyone
    months = [m["month"] for m in body["timeline"]]
    assert len(months) == 24 and months[0] == "2024-11" and months[-1] == "2026-10"
    by_month = {m["month"]: m["counts"] for m in body["timeline"]}
    assert [by_month[m]["ed"] for m in ("2026-08", "2026-09", "2026-10")] == [3, 2, 1]
    assert by_month["2025-01"]["gp"] == 2
    assert sum(sum(c.values()) for c in by_month.values()) == 8
    assert set(body["settings"]) == set(by_month["2024-11"])


def test_an_excluded_person_shows_the_exclusion_and_no_score(served: Served) -> None:
    body = served.get("/v1/people/P0000008/explanation", "phm").json()
    assert (body["excluded_reason"], body["score"], body["reasons"], body["neighbourhood"]) == ("end_of_life", None, [], "Brook & Fen")


def test_the_phm_token_sees_every_neighbourhood(served: Served) -> None:
    for name in ("Alpha Vale", "Brook & Fen", "Cedar"):
        assert served.get(f"/v1/neighbourhoods/{name}/list", "phm").status_code == 200


def test_model_endpoint_gives_version_training_window_and_metrics(served: Served) -> None:
    body = served.get("/v1/model", "alpha").json()
    assert (body["version"], body["metrics"], body["training_window"]["train"]) == ("3", {"auroc": 0.81}, ["2024-11-01"])
    assert body["feature_names"] == FEATURES
    assert body["publication_model_version"] == "3"


def test_score_returns_the_models_calibrated_scores_with_reasons(served: Served) -> None:
    rows = pd.DataFrame([{f: 0.0 for f in FEATURES}, {**{f: 1.0 for f in FEATURES}, "days_since_ed": None}])
    payload = {"rows": [{"row_id": f"r{i}", "features": {k: (None if pd.isna(v) else v) for k, v in r.items()}} for i, r in enumerate(rows.to_dict("records"))]}
    response = served.post("/v1/score", "phm", json=payload)
    assert response.status_code == 200
    results = response.json()["results"]
    expected = served.model.model.predict_proba(rows.astype("float64"))[:, 1]
    assert [r["score"] for r in results] == pytest.approx(list(expected), abs=1e-12)
    assert [r["row_id"] for r in results] == ["r0", "r1"]
    assert all(len(r["reasons"]) <= 5 for r in results)


# ---- access control ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/neighbourhoods/Alpha Vale/list", "/v1/people/P0000001/explanation", "/v1/model"]
)
def test_a_request_without_a_token_gets_401(served: Served, path: str) -> None:
    response = served.get(path)
    assert response.status_code == 401
    assert "bearer token" in response.json()["error"]


def test_a_revoked_or_forged_token_gets_401(served: Served) -> None:
    assert served.get("/v1/model", "revoked").status_code == 401
    forged = served.tokens["alpha"][:-3] + "xyz"
    assert served.client.get("/v1/model", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert served.client.get("/v1/model", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_team_asking_for_another_neighbourhoods_list_gets_403(served: Served) -> None:
    response = served.get("/v1/neighbourhoods/Cedar/list", "alpha")
    assert response.status_code == 403
    assert "Cedar" not in response.text or "P00" not in response.text


def test_a_person_outside_the_tokens_scope_gets_the_same_404_as_a_missing_person(served: Served) -> None:
    outside = served.get("/v1/people/P0000002/explanation", "alpha")  # lives in Brook & Fen
    missing = served.get("/v1/people/P9999999/explanation", "alpha")
    assert outside.status_code == missing.status_code == 404
    assert outside.content == missing.content


def test_only_phm_tokens_may_score_rows(served: Served) -> None:
    payload = {"rows": [{"features": {f: 0.0 for f in FEATURES}}]}
    assert served.post("/v1/score", "alpha", json=payload).status_code == 403
    assert served.post("/v1/score", None, json=payload).status_code == 401


# ---- bad requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/v1/people/bad%20id!/explanation", "alpha", 422),
        ("/v1/people/" + "P" * 200 + "/explanation", "alpha", 422),
        ("/v1/neighbourhoods/" + "x" * 300 + "/list", "phm", 422),
        ("/v1/neighbourhoods/Nowhere/list", "phm", 404),
        ("/v1/neighbourhoods/%09/list", "phm", 400),  # control characters in a path: refused by the gate
    ],
)
def test_malformed_ids_and_unknown_neighbourhoods_get_a_4xx_json_error(served: Served, path: str, token: str, status: int) -> None:
    response = served.get(path, token)
    assert response.status_code == status
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nothing/here", 404), ("GET", "/v1/score", 405), ("POST", "/v1/model", 405), ("GET", "/v1/people/a/b/explanation", 404)],
)
def test_unknown_endpoints_and_wrong_methods_get_a_json_error(served: Served, method: str, path: str, status: int) -> None:
    response = served.client.request(method, path, headers={"Authorization": f"Bearer {served.tokens['phm']}"})
    assert response.status_code == status
    assert response.json()["error"]


def _rows(n: int, **override: Any) -> dict[str, Any]:
    return {"rows": [{"features": {**{f: 0.0 for f in FEATURES}, **override}} for _ in range(n)]}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (_rows(1001), 413, "at most 1000 rows"),
        ({"rows": []}, 422, "at least one"),
        ({"rows": [{"features": {"ed_0_3m": 1.0}}]}, 422, "missing"),
        (_rows(1, not_a_feature=1.0), 422, "unknown ['not_a_feature']"),
        (_rows(1, sn_lives_alone=2.0), 422, "sn_lives_alone must be 0 or 1"),
        (_rows(1, ed_0_3m=1.5), 422, "ed_0_3m must be a whole number"),
        (_rows(1, ed_0_3m="many"), 422, "the body must be"),
        ({"rows": "all of them"}, 422, "the body must be"),
        ({"rows": [{"features": {}, "extra": 1}]}, 422, "the body must be"),
    ],
)
def test_bad_score_requests_get_a_4xx_json_error_naming_the_problem(served: Served, body: Any, status: int, says: str) -> None:
    response = served.post("/v1/score", "phm", json=body)
    assert response.status_code == status
    assert says in response.json()["error"]


def test_a_body_larger_than_the_limit_gets_413_before_it_is_parsed(served: Served) -> None:
    response = served.post("/v1/score", "phm", content=b" " * 4_000_001, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "at most 4000000 bytes" in response.json()["error"]


def test_malformed_json_gets_400_not_500(served: Served) -> None:
    response = served.post("/v1/score", "phm", content=b'{"rows": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"][0]["type"] == "json_invalid"


# ---- audit, logs, metrics, docs ------------------------------------------------------------


def test_every_list_and_person_view_is_audited_with_token_endpoint_and_people(served: Served) -> None:
    served.get("/v1/neighbourhoods/Cedar/list", "phm")
    served.get("/v1/people/P0000003/explanation", "phm")
    served.get("/v1/neighbourhoods/Cedar/list", "alpha")
    served.get("/v1/people/P0000003/explanation", "alpha")
    audit = AuditLog(database_url(served.home))
    entries = audit.entries()[-4:]
    audit.close()
    phm_id, alpha_id = served.tokens["phm"].split("_")[1], served.tokens["alpha"].split("_")[1]
    cedar = tuple(_published_list(served, "Cedar")["person_id"])
    assert [(e.token_id, e.endpoint, e.neighbourhood, e.status, e.person_ids) for e in entries] == [
        (phm_id, LIST_ENDPOINT, "Cedar", 200, cedar),
        (phm_id, PERSON_ENDPOINT, "Cedar", 200, ("P0000003",)),
        (alpha_id, LIST_ENDPOINT, "Cedar", 403, ()),
        (alpha_id, PERSON_ENDPOINT, None, 404, ()),
    ]
    assert all(e.publication_id in (served.publication.id, None) for e in entries)


def test_no_person_id_reaches_the_logs_during_requests(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    loggers = [logging.getLogger(n) for n in ("bentoml", "bentoml.access", "bentoml.serve", "uvicorn", "uvicorn.access", "serving")]
    for lg in loggers:
        lg.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            for pid in ("P0000001", "P0000002", "P0000004", "P9999999"):
                for token in ("alpha", "phm", None):
                    served.get(f"/v1/people/{pid}/explanation", token)
                    served.get(f"/pages/people/{pid}", token)
            served.get("/v1/neighbourhoods/Alpha Vale/list", "alpha")
            served.get("/pages/neighbourhoods/Alpha Vale", "alpha")
            served.post("/v1/score", "phm", json={"rows": [{"row_id": "P0000001", "features": {"ed_0_3m": "P0000005"}}]})
            served.post("/v1/score", "phm", content=b'{"rows": [{"row_id": "P0000006"', headers={"Content-Type": "application/json"})
    finally:
        for lg in loggers:
            lg.removeHandler(caplog.handler)
    # the test client's own request log (httpx) is not the service's
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name == "bentoml.access" for r in records), "expected the service's access log while serving"
    ids = set(served.publication.population()["person_id"]) | {"P9999999"}
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in records)
    leaked = sorted(i for i in ids if i in text)
    assert leaked == []


def test_metrics_endpoint_answers_in_process_to_a_phm_token_only(served: Served) -> None:
    # metric contents are checked against `bentoml serve` (tests/test_service_subprocess.py), where
    # BentoML sets up Prometheus' multiprocess directory before anything imports prometheus_client
    response = served.get("/metrics", "phm")
    assert response.status_code == 200
    assert "P0000001" not in response.text
    assert (served.get("/metrics").status_code, served.get("/metrics", "alpha").status_code) == (401, 403)


def test_openapi_documents_every_endpoint_with_field_descriptions(served: Served) -> None:
    spec = served.client.get("/docs.json").json()
    assert {"/v1/neighbourhoods/{neighbourhood}/list", "/v1/people/{person_id}/explanation", "/v1/score", "/v1/model", "/livez", "/readyz", "/metrics"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert schemas["ListEntry"]["properties"]["is_new"]["description"].startswith("True if the person")
    assert "description" in schemas["ScoreRow"]["properties"]["features"]


def test_livez_and_readyz_pass_when_model_and_lists_are_loaded(served: Served) -> None:
    assert served.client.get("/livez").status_code == 200
    assert served.client.get("/readyz").status_code == 200


# ---- pages (in-process; the browser test drives them in Chromium) --------------------------


def test_pages_without_a_session_redirect_to_the_sign_in_form(served: Served) -> None:
    response = served.client.get("/pages/neighbourhoods/Alpha Vale", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/pages/login?next=%2Fpages%2Fneighbourhoods%2FAlpha%2520Vale")


def _login_token(client: TestClient) -> str:
    form = client.get("/pages/login")
    return form.text.split('name="csrf_token" value="')[1].split('"')[0]


def test_signing_in_sets_an_http_only_session_cookie_that_opens_the_list_page(served: Served) -> None:
    client = served.client
    try:
        bad = client.post("/pages/login", data={"token": "rr_nope_nope", "csrf_token": _login_token(client)}, follow_redirects=False)
        assert bad.status_code == 401
        response = client.post(
            "/pages/login", data={"token": served.tokens["alpha"], "csrf_token": _login_token(client)}, follow_redirects=False
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert served.tokens["alpha"].lower() not in cookie
        page = client.get("/pages/neighbourhoods/Alpha Vale")
        assert page.status_code == 200
        for pid in _published_list(served, "Alpha Vale")["person_id"]:
            assert f"/pages/people/{pid}" in page.text
        assert client.get("/pages/neighbourhoods/Cedar").status_code == 403
    finally:
        client.cookies.clear()


def test_person_page_draws_one_bar_per_reason_of_half_a_point_or_more_up_to_eight(served: Served) -> None:
    listed = _published_list(served, "Alpha Vale")["person_id"].iloc[0]
    body = served.get(f"/v1/people/{listed}/explanation", "alpha").json()
    page = served.get(f"/pages/people/{listed}", "alpha").text
    mattering = [r for r in body["reasons"] if abs(r["contribution"]) >= 0.005]
    assert page.count('<g class="reason">') == min(len(mattering), 8)
    assert page.count('<tr><th scope="row">') == len(body["settings"])
    assert page.split('id="score">Risk <strong>')[1].split("</strong>")[0] == f"{round(body['score'] * 100)} in 100"


def test_warmed_explanations_of_listed_people_equal_on_demand_ones(served: Served) -> None:
    state = ServingState.load(served.home, ServiceConfig(), lambda alias, home: served.model)
    listed = served.publication.lists()["person_id"]
    assert state.warm_listed() == len(listed) == 6
    row = state.store.find(listed.iloc[0])
    warmed = state.explained.pop(row)
    base, reasons = state.reasons_of(row)
    assert warmed[0] == pytest.approx(base, abs=1e-12)
    assert [r["feature"] for r in warmed[1]] == [r["feature"] for r in reasons]
    assert [r["contribution"] for r in warmed[1]] == pytest.approx([r["contribution"] for r in reasons], abs=1e-12)
    state.audit.close()


def test_finished_requests_leave_no_timeout_timers_behind(served: Served) -> None:
    def timers() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, asyncio.TimerHandle) and not o.cancelled())

    before = timers()
    for _ in range(300):
        served.get("/v1/neighbourhoods/Alpha Vale/list", "alpha")
    assert timers() - before < 10
