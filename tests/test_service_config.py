"""The service's settings are a typed config injected at construction: limits honoured, unknown keys refused; launch and token stages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from features.errors import ConfigError
from features.home import HOME_ENV, Home
from service_support import FEATURES, TestModel, fit_model, service_app, write_publication
from serving.auth import TokenStore
from serving.config import ServiceConfig, service_config
from serving.errors import TokenError
from serving.pages import PageConfig
from serving.run import SERVICE, serve_launch
from serving.tokens import create_token, list_tokens, revoke_token


@pytest.fixture(scope="module")
def model() -> TestModel:
    return fit_model()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, model: TestModel) -> Iterator[dict[str, Any]]:
    """A service built with tighter limits than the defaults."""
    root = tmp_path_factory.mktemp("home")
    home = Home(root).ensure()
    write_publication(home, model)
    token = TokenStore(home.tokens).create(phm=True)[1]
    config = ServiceConfig(max_score_rows=2, max_body_bytes=2_000, max_neighbourhood_length=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        with TestClient(service_app(home, model, config), raise_server_exceptions=False) as client:
            yield {"client": client, "headers": {"Authorization": f"Bearer {token}"}}


def _row(i: int) -> dict[str, Any]:
    return {"row_id": f"r{i}", "features": {name: 0.0 for name in FEATURES}}


def test_an_injected_row_limit_is_enforced_by_the_running_service(strict: dict[str, Any]) -> None:
    client, headers = strict["client"], strict["headers"]
    assert client.post("/v1/score", json={"rows": [_row(1), _row(2)]}, headers=headers).status_code == 200
    refused = client.post("/v1/score", json={"rows": [_row(1), _row(2), _row(3)]}, headers=headers)
    assert refused.status_code == 413
    assert refused.json()["error"] == "rows must hold at most 2 rows per request; got 3. Split the batch."


def test_an_injected_body_limit_refuses_larger_bodies_before_reading_them(strict: dict[str, Any]) -> None:
    body = b'{"rows": [' + b" " * 2_000 + b"]}"
    refused = strict["client"].post("/v1/score", content=body, headers={**strict["headers"], "Content-Type": "application/json"})
    assert refused.status_code == 413
    assert refused.json()["error"] == f"request bodies must be at most 2000 bytes; got {len(body)}. Split the batch."


def test_an_injected_neighbourhood_length_limit_answers_422(strict: dict[str, Any]) -> None:
    response = strict["client"].get("/v1/neighbourhoods/Alpha Vale/list", headers=strict["headers"])
    assert response.status_code == 422
    assert response.json()["error"].startswith("neighbourhood must be a printable name of at most 5 characters")


def test_service_config_defaults_are_the_documented_limits() -> None:
    config = ServiceConfig()
    assert (config.max_score_rows, config.max_body_bytes, config.timeline_months, config.model_alias) == (1000, 4_000_000, 24, "champion")
    assert config.pages == PageConfig()
    assert all(field.description for field in ServiceConfig.model_fields.values())
    assert all(field.description for field in PageConfig.model_fields.values())


def test_a_misspelt_service_setting_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="key 'max_score_row' is not a setting; did you mean 'max_score_rows'"):
        ServiceConfig.load({"max_score_row": 10}, where="[service]")
    with pytest.raises(ConfigError, match="key 'pages.chart_reason' is not a setting; did you mean 'chart_reasons'"):
        ServiceConfig.load({"pages": {"chart_reason": 3}})
    assert ServiceConfig.load({"pages": {"chart_reasons": 3}}).pages.chart_reasons == 3


def test_serve_launch_names_the_home_and_adds_the_worker_count_to_existing_bentoml_options(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    launch = serve_launch(home, host="127.0.0.1", port=3100, workers=3, environ={"BENTOML_CONFIG_OPTIONS": "a=1", "PATH": "/bin"})
    assert launch.argv[1:] == ["-m", "bentoml", "serve", SERVICE, "--host", "127.0.0.1", "--port", "3100"]
    assert launch.env == {"PATH": "/bin", HOME_ENV: str(home.root), "BENTOML_CONFIG_OPTIONS": "a=1 services.risingrisk.workers=3"}
    facts = dict(launch.facts)
    assert facts["current publication"] == "none (readyz will fail)"
    assert facts["clinician pages"] == "http://127.0.0.1:3100/pages/login"


def test_token_stages_check_names_only_once_something_is_published(tmp_path: Path, model: TestModel) -> None:
    home = Home(tmp_path).ensure()
    unchecked = create_token(home, neighbourhoods=["Nowhere"], label="early team")
    assert (unchecked.checked_against_publication, unchecked.tokens_file, unchecked.record.scope) == (False, home.tokens, ["Nowhere"])
    write_publication(home, model)
    with pytest.raises(TokenError, match=r"got \['Nowhere'\]"):
        create_token(home, neighbourhoods=["Nowhere"])
    checked = create_token(home, neighbourhoods=["Cedar"])
    assert checked.checked_against_publication is True
    assert checked.token.split("_")[1] == checked.record.id
    revoked = revoke_token(home, unchecked.record.id)
    assert revoked.revoked_at is not None
    assert {r.id: r.revoked_at is not None for r in list_tokens(home)} == {unchecked.record.id: True, checked.record.id: False}


def test_the_service_reads_its_settings_from_the_homes_service_toml(tmp_path: Path) -> None:
    where = Home(tmp_path).ensure()
    assert service_config(where) == ServiceConfig()
    where.service_config.write_text('max_score_rows = 50\n[security]\ntrusted_hosts = ["risk.example.nhs.uk"]\n')
    config = service_config(where)
    assert config.max_score_rows == 50
    assert config.security.trusted_hosts == ["risk.example.nhs.uk"]


def test_a_misspelt_key_in_service_toml_names_the_file_the_key_and_a_suggestion(tmp_path: Path) -> None:
    where = Home(tmp_path).ensure()
    where.service_config.write_text("[security]\ntrusted_host = ['x']\n")
    with pytest.raises(ConfigError, match=r"service\.toml key 'security\.trusted_host' is not a setting; did you mean 'trusted_hosts'"):
        service_config(where)
