"""The service's monitoring surface: GET /v1/monitoring for PHM tokens, stale lists named on /readyz and bannered on list pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from features.home import Home
from service_support import AS_OF, TestModel, fit_model, service_app, write_publication
from serving.auth import TokenStore
from serving.config import ServiceConfig
from serving.monitoring import MonitorConfig

#: A refresh interval no list of the test publication (as of 2026-11-01) reaches, and one every list exceeds.
FRESH_DAYS, STALE_DAYS = 100_000, 1


class Client:
    def __init__(self, client: TestClient, home: Home, tokens: dict[str, str]) -> None:
        self.client, self.home, self.tokens = client, home, tokens

    def get(self, path: str, token: str | None = None) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[token]}"} if token else {})


def _serve(root: Path, model: TestModel, refresh_days: int) -> Iterator[Client]:
    home = Home(root).ensure()
    write_publication(home, model)
    store = TokenStore(home.tokens)
    tokens = {"alpha": store.create(neighbourhoods=["Alpha Vale"])[1], "phm": store.create(phm=True)[1]}
    prometheus = root / "prometheus"
    prometheus.mkdir()
    config = ServiceConfig(monitor=MonitorConfig(refresh_days=refresh_days))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(prometheus))
        with TestClient(service_app(home, model, config), raise_server_exceptions=False) as client:
            yield Client(client, home, tokens)


@pytest.fixture(scope="module")
def model() -> TestModel:
    return fit_model()


# One service at a time: a process serves one service (the routes find it as the current one).
@pytest.fixture
def stale(tmp_path: Path, model: TestModel) -> Iterator[Client]:
    yield from _serve(tmp_path, model, STALE_DAYS)


@pytest.fixture
def fresh(tmp_path: Path, model: TestModel) -> Iterator[Client]:
    yield from _serve(tmp_path, model, FRESH_DAYS)


def test_without_a_report_the_monitoring_endpoint_answers_404_json_naming_how_to_make_one(fresh: Client) -> None:
    response = fresh.get("/v1/monitoring", "phm")
    assert response.status_code == 404
    assert "risingrisk score" in response.json()["error"]


def test_the_monitoring_endpoint_returns_the_latest_report_to_phm_tokens_only(fresh: Client) -> None:
    report = {"alerts": [{"kind": "feed_drop", "subject": "nhs111", "severity": "critical", "message": "m"}], "counts": {"critical": 1}}
    folder = fresh.home.root / "monitoring"
    folder.mkdir(exist_ok=True)
    (folder / "monitor.json").write_text(json.dumps(report))
    assert fresh.get("/v1/monitoring", "phm").json() == report
    assert fresh.get("/v1/monitoring", "alpha").status_code == 403
    assert fresh.get("/v1/monitoring").status_code == 401


def test_readyz_stays_ready_and_names_stale_lists(stale: Client) -> None:
    age = (datetime.now(timezone.utc).date() - AS_OF).days
    response = stale.get("/readyz")
    assert response.status_code == 200
    assert response.text.startswith("ready; lists stale: publication ")
    assert f"data as of {AS_OF}, {age} days old (refresh interval {STALE_DAYS} days)" in response.text


def test_readyz_of_fresh_lists_is_unchanged(fresh: Client) -> None:
    response = fresh.get("/readyz")
    assert (response.status_code, response.text) == (200, "\n")


def test_a_stale_list_page_shows_a_banner_with_its_age_and_the_refresh_interval(stale: Client) -> None:
    page = stale.get("/pages/neighbourhoods/Alpha%20Vale", "alpha")
    assert page.status_code == 200
    assert 'id="stale"' in page.text and f"refreshed every {STALE_DAYS} days" in page.text


def test_a_fresh_list_page_has_no_banner(fresh: Client) -> None:
    page = fresh.get("/pages/neighbourhoods/Alpha%20Vale", "alpha")
    assert page.status_code == 200 and 'id="stale"' not in page.text
