"""HTTP tests of the caseload API: recording actions, history, caseload, the CSV export, audit, scope and concurrency."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from database_support import BACKENDS, fresh_database_url
from features.caseload import history
from features.database import DATABASE_URL_ENV, create_database_engine
from features.errors import DatabaseNotMigratedError
from features.home import Home
from risingrisk.cli import app as cli_app
from service_support import TestModel, fit_model, service_app, write_publication
from serving.audit import AuditLog
from serving.auth import TokenStore
from serving.caseload_routes import CASELOAD_ENDPOINT, EXPORT_ENDPOINT, HISTORY_ENDPOINT, RECORD_ENDPOINT
from serving.config import ServiceConfig
from serving.list_export import EXPORT_COLUMNS, escape_cell, export_filename, list_csv
from serving.live import LiveState

ROOT = Path(__file__).resolve().parents[1]
NOTE = "rang twice, left a voicemail 7f3a9c"

# people of service_support.write_publication: P0000001 Alpha Vale, P0000002 Brook & Fen, P0000003 Cedar, ... (i % 3);
# P0000008 is excluded (end_of_life); each list holds 2 people


class Served:
    """An in-process service on one database backend, with its tokens."""

    def __init__(self, client: TestClient, home: Home, url: str, tokens: dict[str, str], publication: Any) -> None:
        self.client, self.home, self.url, self.tokens, self.publication = client, home, url, tokens, publication

    def token_id(self, name: str) -> str:
        return self.tokens[name].split("_")[1]

    def headers(self, token: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[token]}", **extra}

    def act(self, person: str, token: str, key: str | None = None, **body: Any) -> Any:
        extra = {"Idempotency-Key": key} if key else {}
        return self.client.post(f"/v1/people/{person}/actions", json=body, headers=self.headers(token, **extra))

    def get(self, path: str, token: str) -> Any:
        return self.client.get(path, headers=self.headers(token))

    def audit(self) -> list[Any]:
        log = AuditLog(self.url)
        try:
            return log.entries()
        finally:
            log.close()


def _tokens(home: Home) -> dict[str, str]:
    store = TokenStore(home.tokens)
    return {
        "alpha": store.create(neighbourhoods=["Alpha Vale"], label="Alpha Vale team")[1],
        "brook": store.create(neighbourhoods=["Brook & Fen"])[1],
        "phm": store.create(phm=True)[1],
    }


@pytest.fixture(scope="module")
def model() -> TestModel:
    return fit_model()


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model: TestModel) -> Iterator[Served]:
    root = tmp_path_factory.mktemp(f"home-{request.param}")
    for url in fresh_database_url(request.param, root):
        home = Home(root).ensure()
        publication = write_publication(home, model)
        tokens = _tokens(home)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(DATABASE_URL_ENV, url)
            patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
            with TestClient(service_app(home, model), raise_server_exceptions=False) as client:
                yield Served(client, home, url, tokens, publication)


def _listed(served: Served, neighbourhood: str) -> list[str]:
    lists = served.publication.lists()
    return list(lists.loc[lists["neighbourhood"] == neighbourhood].sort_values("rank")["person_id"])


# --- recording ------------------------------------------------------------------------------------------------


def test_a_recorded_action_answers_201_with_its_id_time_token_and_action(served: Served) -> None:
    answer = served.act("P0000004", "alpha", action="contacted", note=NOTE)
    assert answer.status_code == 201
    body = answer.json()
    assert {k: body[k] for k in ("person_id", "neighbourhood", "action", "reason", "note", "token_id")} == {
        "person_id": "P0000004", "neighbourhood": "Alpha Vale", "action": "contacted", "reason": None, "note": NOTE,
        "token_id": served.token_id("alpha"),
    }
    assert isinstance(body["id"], int) and datetime.fromisoformat(body["recorded_at"]).tzinfo is not None
    stored = history(create_database_engine(served.url), "P0000004")
    assert [(r.id, r.action, r.note) for r in stored] == [(body["id"], "contacted", NOTE)]


def test_a_retry_with_the_same_idempotency_key_returns_the_first_record_and_stores_nothing_more(served: Served) -> None:
    first = served.act("P0000007", "alpha", key="retry-1", action="declined", reason="moved_away")
    again = served.act("P0000007", "alpha", key="retry-1", action="declined", reason="moved_away")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    assert len(served.get("/v1/people/P0000007/actions", "alpha").json()["actions"]) == 1
    reused = served.act("P0000007", "alpha", key="retry-1", action="closed")
    assert reused.status_code == 409 and "Idempotency-Key must be new for a different action" in reused.json()["error"]


def test_a_person_outside_the_tokens_scope_gets_the_explanation_routes_404_for_every_caseload_route(served: Served) -> None:
    explained = served.get("/v1/people/P0000002/explanation", "alpha")
    for answer in (
        served.act("P0000002", "alpha", action="reviewed"),
        served.act("P9999999", "alpha", action="reviewed"),
        served.get("/v1/people/P0000002/actions", "alpha"),
    ):
        assert (answer.status_code, answer.json()) == (404, explained.json()) == (
            404, {"error": "no such person in the current publication for this token"}
        )
    assert history(create_database_engine(served.url), "P0000002") == []
    assert served.act("P0000002", "phm", action="reviewed").status_code == 201


def test_an_unknown_action_gets_422_naming_every_allowed_action(served: Served) -> None:
    answer = served.act("P0000010", "alpha", action="phoned")
    assert answer.status_code == 422
    assert answer.json()["error"].startswith(
        "action must be one of reviewed, contacted, enrolled, declined, not_appropriate, unreachable, closed; got 'phoned'"
    )


@pytest.mark.parametrize("action", ["declined", "not_appropriate"])
def test_a_decision_without_a_reason_gets_422_naming_the_configured_reasons(served: Served, action: str) -> None:
    answer = served.act("P0000010", "alpha", action=action)
    assert answer.status_code == 422
    assert answer.json()["error"].startswith(
        f"reason must be one of already_supported_elsewhere, moved_away, end_of_life_care, person_declined when action is {action}"
    )


def test_a_note_over_500_characters_or_an_unknown_field_gets_422_and_stores_nothing(served: Served) -> None:
    too_long = served.act("P0000013", "alpha", action="reviewed", note="x" * 501)
    assert too_long.status_code == 422 and too_long.json()["error"].startswith("note must be at most 500 characters; got 501")
    assert served.act("P0000013", "alpha", action="reviewed", notes="typo").status_code == 422
    json_headers = {**served.headers("alpha"), "Content-Type": "application/json"}
    assert served.client.post("/v1/people/P0000013/actions", content=b"not json", headers=json_headers).status_code == 422
    assert served.client.post("/v1/people/P0000013/actions", content=b"not json", headers=served.headers("alpha")).status_code == 415
    assert served.act("P0000013", "alpha", action="reviewed", note="x" * 500).status_code == 201
    assert len(history(create_database_engine(served.url), "P0000013")) == 1


def test_enrolled_after_closed_is_refused_with_409_and_the_reason(served: Served) -> None:
    assert served.act("P0000016", "alpha", action="reviewed").status_code == 201
    assert served.act("P0000016", "alpha", action="closed").status_code == 201
    refused = served.act("P0000016", "alpha", action="enrolled")
    assert refused.status_code == 409
    assert "enrolled must follow one of the states that allow it; got a person closed on" in refused.json()["error"]
    assert "it reopens when a later publication lists the person again" in refused.json()["error"]
    assert served.act("P0000019", "alpha", action="closed").status_code == 409


def test_an_action_on_an_unknown_path_id_is_refused_with_422(served: Served) -> None:
    assert served.act("bad id!", "alpha", action="reviewed").status_code == 422


# --- reading ----------------------------------------------------------------------------------------------------


def test_the_history_lists_the_persons_actions_oldest_first_with_the_current_status(served: Served) -> None:
    for body in ({"action": "reviewed"}, {"action": "contacted"}, {"action": "enrolled"}):
        assert served.act("P0000022", "alpha", **body).status_code == 201
    answer = served.get("/v1/people/P0000022/actions", "alpha").json()
    assert answer["status"] == "enrolled"
    assert [a["action"] for a in answer["actions"]] == ["reviewed", "contacted", "enrolled"]
    assert served.get("/v1/people/P0000025/actions", "alpha").json() == {"person_id": "P0000025", "status": None, "actions": []}


def test_the_caseload_holds_the_teams_people_with_their_status_and_only_phm_sees_other_neighbourhoods(served: Served) -> None:
    # its own Alpha Vale people (no other test acts for them), so the test holds whatever order tests run in
    assert served.act("P0000028", "alpha", action="unreachable").status_code == 201
    assert served.act("P0000001", "alpha", action="declined", reason="person_declined").status_code == 201
    assert served.act("P0000034", "alpha", action="enrolled").status_code == 201
    caseload = served.get("/v1/neighbourhoods/Alpha Vale/caseload", "alpha").json()
    people = {p["person_id"]: p for p in caseload["people"]}
    assert people["P0000028"]["status"] == "unreachable" and people["P0000034"]["status"] == "enrolled"
    assert people["P0000001"]["previously_declined"] is True and people["P0000028"]["previously_declined"] is False
    assert all(p["person_id"] not in people for p in served.get("/v1/neighbourhoods/Brook & Fen/caseload", "phm").json()["people"])
    assert caseload["counts"]["unreachable"] == sum(p["status"] == "unreachable" for p in caseload["people"])
    listed = _listed(served, "Alpha Vale")
    assert all(p["list_rank"] == (listed.index(p["person_id"]) + 1 if p["person_id"] in listed else None) for p in caseload["people"])
    assert served.get("/v1/neighbourhoods/Alpha Vale/caseload", "phm").json()["people"] == caseload["people"]
    assert served.get("/v1/neighbourhoods/Alpha Vale/caseload", "brook").status_code == 403
    assert served.get("/v1/neighbourhoods/Nowhere/caseload", "phm").status_code == 404


def test_the_export_is_a_csv_attachment_of_the_list_with_the_current_status(served: Served) -> None:
    listed = _listed(served, "Cedar")
    assert served.act(listed[0], "phm", action="contacted").status_code == 201
    answer = served.get("/v1/neighbourhoods/Cedar/list.csv", "phm")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == f'attachment; filename="list-Cedar-{served.publication.id}.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert [(r["rank"], r["person_id"]) for r in rows] == [(str(i + 1), p) for i, p in enumerate(listed)]
    assert [r["status"] for r in rows] == ["contacted"] + [""] * (len(listed) - 1)
    expected = json.loads(served.publication.lists().set_index("person_id").loc[listed[0], "reasons"])
    assert rows[0]["top_reasons"] == "; ".join(r["text"] for r in expected)
    assert served.get("/v1/neighbourhoods/Cedar/list.csv", "alpha").status_code == 403


def test_every_write_read_and_export_is_audited_with_who_what_and_people_but_never_the_note(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = len(served.audit())
    recorded = served.act("P0000031", "alpha", action="declined", reason="person_declined", note=NOTE).json()
    served.act("P0000031", "alpha", action="phoned", note=NOTE)
    served.get("/v1/people/P0000031/actions", "alpha")
    served.get("/v1/neighbourhoods/Alpha Vale/caseload", "alpha")
    served.get("/v1/neighbourhoods/Alpha Vale/list.csv", "alpha")
    entries = served.audit()[before:]
    alpha = served.token_id("alpha")
    assert [(e.token_id, e.endpoint, e.neighbourhood, e.status) for e in entries] == [
        (alpha, RECORD_ENDPOINT, "Alpha Vale", 201),
        (alpha, RECORD_ENDPOINT, "Alpha Vale", 422),
        (alpha, HISTORY_ENDPOINT, "Alpha Vale", 200),
        (alpha, CASELOAD_ENDPOINT, "Alpha Vale", 200),
        (alpha, EXPORT_ENDPOINT, "Alpha Vale", 200),
    ]
    assert entries[0].detail == {"action": "declined", "action_id": recorded["id"], "reason": "person_declined", "replayed": 0}
    assert entries[0].person_ids == ("P0000031",) and entries[1].detail == {"action": "unknown"}
    assert "P0000031" in entries[3].person_ids
    assert entries[4].person_ids == tuple(_listed(served, "Alpha Vale"))
    assert all(e.time and datetime.fromisoformat(e.time) for e in entries)
    assert NOTE not in json.dumps([e.detail for e in entries]) and NOTE not in caplog.text
    assert "7f3a9c" not in caplog.text


def test_parallel_requests_lose_no_action_and_no_audit_entry(served: Served) -> None:
    people = [f"P{i:07d}" for i in range(37, 61, 3)]  # Alpha Vale people no other test acts for
    before = len(served.audit())
    answers: list[int] = []

    def post(person: str) -> None:
        for action in ("reviewed", "contacted", "unreachable"):
            answers.append(served.act(person, "alpha", action=action).status_code)

    threads = [threading.Thread(target=post, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine = create_database_engine(served.url)
    assert answers == [201] * (3 * len(people))
    assert {p: [r.action for r in history(engine, p)] for p in people} == {p: ["reviewed", "contacted", "unreachable"] for p in people}
    assert len(served.audit()) - before == 3 * len(people)


# --- two worker processes, the database check, the export's cells ---------------------------------------------------

_WORKER = """
import sys, threading
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
from starlette.testclient import TestClient
from features.home import Home
from service_support import fit_model, service_app
home, token, worker = Home(Path(sys.argv[2])), sys.argv[3], sys.argv[4]
people = [f"P{i:07d}" for i in range(1, 61, 3)]
with TestClient(service_app(home, fit_model()), raise_server_exceptions=False) as client:
    codes = []
    def post(person):
        codes.append(client.post(f"/v1/people/{person}/actions", json={"action": "reviewed"},
                                 headers={"Authorization": "Bearer " + token, "Idempotency-Key": f"{worker}-{person}"}).status_code)
    threads = [threading.Thread(target=post, args=(p,)) for p in people]
    [t.start() for t in threads]
    [t.join() for t in threads]
print(sorted(set(codes)), len(codes))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_service_workers_writing_at_once_lose_nothing(backend: str, tmp_path: Path, model: TestModel) -> None:
    for url in fresh_database_url(backend, tmp_path):
        home = Home(tmp_path / "home").ensure()
        write_publication(home, model)
        token = TokenStore(home.tokens).create(neighbourhoods=["Alpha Vale"])[1]
        env = {**os.environ, DATABASE_URL_ENV: url, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
        workers = [
            subprocess.Popen([sys.executable, "-c", _WORKER, str(ROOT), str(home.root), token, name], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("w1", "w2")
        ]
        outputs = [worker.communicate(timeout=300) for worker in workers]
        assert [out.strip().splitlines()[-1] for out, _ in outputs] == ["[201] 20", "[201] 20"], outputs[0][1][-2000:]
        engine = create_database_engine(url)
        people = [f"P{i:07d}" for i in range(1, 61, 3)]
        assert {p: [r.action for r in history(engine, p)] for p in people} == {p: ["reviewed", "reviewed"] for p in people}
        log = AuditLog(url)
        assert sum(e.endpoint == RECORD_ENDPOINT and e.status == 201 for e in log.entries()) == 40
        log.close()
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_service_refuses_an_unmigrated_database_naming_the_command(
    backend: str, tmp_path: Path, model: TestModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in fresh_database_url(backend, tmp_path):
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        home = Home(tmp_path / "home").ensure()
        with pytest.raises(DatabaseNotMigratedError, match="Run: risingrisk db upgrade"):
            LiveState(ServiceConfig(), home, lambda alias, where: model)
        refused = CliRunner().invoke(cli_app, ["serve", "--home", str(home.root)])
        assert refused.exit_code == 2 and "Run: risingrisk db upgrade" in " ".join(refused.output.split())


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_starting_with_a_formula_character_is_kept_as_text(first: str) -> None:
    assert escape_cell(f"{first}HYPERLINK(\"http://x\")") == f"'{first}HYPERLINK(\"http://x\")"
    assert escape_cell(f"a{first}1") == f"a{first}1"
    assert (escape_cell(None), escape_cell(42)) == ("", "42")


def test_the_export_escapes_every_cell_and_names_a_safe_file() -> None:
    person = {"rank": 1, "person_id": "P1", "nhs_number": "9434765919", "age": 71, "sex": "F", "practice": "=cmd|' /C calc'!A0",
              "score": 0.123456, "status": None, "previously_declined": True,
              "reasons": [{"text": "-2 nights in hospital"}, {"text": "@lives alone"}]}
    rows = list(csv.reader(io.StringIO(list_csv([person], {"P1": "contacted"}))))
    assert rows == [list(EXPORT_COLUMNS), ["1", "P1", "9434765919", "71", "F", "'=cmd|' /C calc'!A0", "0.1235", "contacted", "yes",
                                           "'-2 nights in hospital; @lives alone"]]
    assert export_filename('Brook & Fen"\r\n', "20261102T060000Z") == "list-Brook-Fen-20261102T060000Z.csv"
