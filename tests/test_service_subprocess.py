"""The service under `risingrisk serve` (bentoml serve) as a subprocess on a loopback port, with a real MLflow registry."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from features.home import Home
from serving.auth import TokenStore
from service_support import fit_model, register_champion, write_publication

#: Each test starts `bentoml serve` as a process (seconds each): the full suite runs them, the quick tier does not.
pytestmark = pytest.mark.slow

STARTUP_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process, self.base, self.log = process, base, log

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.base + path, headers=headers, timeout=30)


def _serve(home: Home, log: Path) -> Iterator[Server]:
    port = _free_port()
    env = {**os.environ, "RISINGRISK_HOME": str(home.root)}
    risingrisk = Path(sys.executable).with_name("risingrisk")
    # as a user would: migrate the database once, then serve (serve refuses an unmigrated database)
    subprocess.run([str(risingrisk), "db", "upgrade", "--home", str(home.root)], env=env, check=True, capture_output=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(risingrisk), "serve", "--port", str(port), "--home", str(home.root)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if server.get("/livez").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"risingrisk serve did not answer /livez within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, dict[str, str], object]:
    home = Home(tmp_path_factory.mktemp("home")).ensure()
    model = register_champion(home, fit_model())
    publication = write_publication(home, model)
    store = TokenStore(home.tokens)
    tokens = {"alpha": store.create(neighbourhoods=["Alpha Vale"])[1], "phm": store.create(phm=True)[1]}
    return home, tokens, publication


@pytest.fixture(scope="module")
def server(published: tuple[Home, dict[str, str], object], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _serve(published[0], tmp_path_factory.mktemp("log") / "serve.log")


def test_served_service_is_ready_with_the_registered_champion_and_answers_a_list(server: Server, published) -> None:
    home, tokens, publication = published
    assert server.get("/readyz").status_code == 200
    body = server.get("/v1/neighbourhoods/Alpha Vale/list", tokens["alpha"]).json()
    lists = publication.lists()
    assert [p["person_id"] for p in body["people"]] == list(lists[lists["neighbourhood"] == "Alpha Vale"].sort_values("rank")["person_id"])
    assert body["model_version"] == server.get("/v1/model", tokens["phm"]).json()["version"] == "1"


def test_served_explanation_is_refused_without_a_token_and_outside_scope(server: Server, published) -> None:
    _, tokens, publication = published
    lists = publication.lists()
    listed = lists[lists["neighbourhood"] == "Alpha Vale"]["person_id"].iloc[0]  # need-to-know: a person on the team's list
    assert server.get(f"/v1/people/{listed}/explanation").status_code == 401
    assert server.get("/v1/people/P0000002/explanation", tokens["alpha"]).status_code == 404
    assert server.get(f"/v1/people/{listed}/explanation", tokens["alpha"]).status_code == 200


def test_a_revoked_token_is_refused_at_once_without_a_restart(server: Server, published) -> None:
    home, _, _ = published
    store = TokenStore(home.tokens)
    record, token = store.create(neighbourhoods=["Cedar"])
    assert server.get("/v1/neighbourhoods/Cedar/list", token).status_code == 200
    store.revoke(record.id)
    assert server.get("/v1/neighbourhoods/Cedar/list", token).status_code == 401


def test_prometheus_metrics_label_routes_by_template_and_hold_no_person_id(server: Server, published) -> None:
    _, tokens, _ = published
    server.get("/v1/people/P0000004/explanation", tokens["phm"])  # unlisted: only PHM may open it
    server.get("/v1/neighbourhoods/Alpha Vale/list", tokens["alpha"])
    httpx.post(server.base + "/v1/score", json={"rows": []}, headers={"Authorization": f"Bearer {tokens['phm']}"})
    text = server.get("/metrics", tokens["phm"]).text
    counts = [line for line in text.splitlines() if line.startswith("risingrisk_http_requests_total{")]
    assert any('route="/v1/people/{person_id}/explanation"' in c and 'status="200"' in c for c in counts)
    assert any('route="/v1/neighbourhoods/{neighbourhood}/list"' in c for c in counts)
    assert any('route="/v1/score"' in c and 'status="422"' in c for c in counts)
    assert "risingrisk_http_request_duration_seconds_bucket" in text
    assert "P0000004" not in text


def test_the_server_log_holds_no_person_id_after_person_views(server: Server, published) -> None:
    _, tokens, publication = published
    for pid in ("P0000001", "P0000004", "P0000002", "P7777777"):
        server.get(f"/v1/people/{pid}/explanation", tokens["alpha"])
        server.get(f"/pages/people/{pid}", tokens["alpha"])
    httpx.post(server.base + "/v1/score", content=b'{"rows": [{"row_id": "P0000001"',
               headers={"Authorization": f"Bearer {tokens['phm']}", "Content-Type": "application/json"})
    time.sleep(0.5)
    log = server.log.read_text()
    assert "path=/v1/neighbourhoods/Alpha%20Vale/list" in log or "Alpha" in log
    ids = set(publication.population()["person_id"]) | {"P7777777"}
    assert sorted(i for i in ids if i in log) == []


def test_with_nothing_published_readyz_says_why_and_the_process_keeps_running(tmp_path: Path) -> None:
    home = Home(tmp_path / "empty").ensure()
    for server in _serve(home, tmp_path / "serve.log"):
        ready = server.get("/readyz")
        assert ready.status_code == 503
        assert "no publication: run risingrisk score" in ready.text
        assert "model 'champion' not loaded" in ready.text
        assert server.get("/livez").status_code == 200
        assert server.process.poll() is None


def test_serve_refuses_an_unmigrated_database_naming_the_command_to_run(tmp_path: Path) -> None:
    home = Home(tmp_path / "fresh").ensure()
    risingrisk = Path(sys.executable).with_name("risingrisk")
    result = subprocess.run(
        [str(risingrisk), "serve", "--port", str(_free_port()), "--home", str(home.root)],
        env={**os.environ, "RISINGRISK_HOME": str(home.root)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "risingrisk db upgrade" in result.stdout + result.stderr
