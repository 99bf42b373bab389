"""Tests for serving.audit: every recorded request comes back in order with its people, across threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from database_support import database_url  # noqa: F401 - fixture
from features.database import upgrade
from serving.audit import AuditLog

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def log(database_url: str) -> AuditLog:  # noqa: F811
    upgrade(database_url)
    opened = AuditLog(database_url)
    yield opened
    opened.close()


def test_recorded_views_come_back_in_order_with_their_fields(log: AuditLog) -> None:
    log.record(token_id="a1", endpoint="GET /v1/neighbourhoods/{neighbourhood}/list", neighbourhood="Cedar", status=200,
               publication_id="p1", person_ids=["P2", "P1"])
    log.record(token_id="b2", endpoint="GET /v1/people/{person_id}/explanation", neighbourhood=None, status=404, publication_id="p1")
    log.record(token_id="a1", endpoint="POST /v1/people/{person_id}/actions", neighbourhood="Cedar", status=201,
               publication_id="p1", person_ids=["P1"], detail={"action": "declined", "action_id": 7})
    entries = log.entries()
    assert [(e.token_id, e.neighbourhood, e.status, e.publication_id, e.person_ids, e.detail) for e in entries] == [
        ("a1", "Cedar", 200, "p1", ("P2", "P1"), None),
        ("b2", None, 404, "p1", (), None),
        ("a1", "Cedar", 201, "p1", ("P1",), {"action": "declined", "action_id": 7}),
    ]
    assert [e.token_id for e in log.entries(token_id="b2")] == ["b2"]
    assert entries[0].time < entries[1].time < entries[2].time
    assert entries[0].time.endswith("+00:00")


def test_the_audit_log_survives_a_reopen(database_url: str) -> None:  # noqa: F811
    upgrade(database_url)
    first = AuditLog(database_url)
    first.record(token_id="a1", endpoint="e", neighbourhood="Cedar", status=200, publication_id=None, person_ids=["P1"])
    first.close()
    second = AuditLog(database_url)
    assert [e.person_ids for e in second.entries()] == [("P1",)]
    second.close()


def test_concurrent_threads_lose_no_entry(log: AuditLog) -> None:
    def write(worker: int) -> None:
        for i in range(50):
            log.record(token_id=f"t{worker}", endpoint="e", neighbourhood=None, status=200, publication_id=None, person_ids=[f"P{i}"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = log.entries()
    assert log.count() == len(entries) == 400
    assert sorted({e.token_id for e in entries}) == [f"t{w}" for w in range(8)]
    assert all(sorted(e.person_ids[0] for e in entries if e.token_id == f"t{w}") == sorted(f"P{i}" for i in range(50)) for w in range(8))


_WRITER = """
import sys
from serving.audit import AuditLog
log = AuditLog(sys.argv[1])
for i in range(int(sys.argv[3])):
    log.record(token_id=sys.argv[2], endpoint="e", neighbourhood=None, status=200, publication_id=None, person_ids=[f"P{i}"])
log.close()
"""


def test_two_service_processes_writing_at_once_lose_no_entry(log: AuditLog, database_url: str) -> None:  # noqa: F811
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    workers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, database_url, f"proc{w}", "150"], env=env, stderr=subprocess.PIPE, text=True)
        for w in range(2)
    ]
    for i in range(50):  # this process writes too, at the same time
        log.record(token_id="main", endpoint="e", neighbourhood=None, status=200, publication_id=None, person_ids=[f"P{i}"])
    for worker in workers:
        _, errors = worker.communicate(timeout=300)
        assert worker.returncode == 0, errors
    counts = {token: len(log.entries(token_id=token)) for token in ("proc0", "proc1", "main")}
    assert counts == {"proc0": 150, "proc1": 150, "main": 50}
    assert log.count() == 350


def test_a_checkpoint_keeps_every_entry_across_a_reopen(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    for i in range(20):
        log.record(token_id="t", endpoint="e", neighbourhood=None, status=200, publication_id=None, person_ids=[f"P{i}"])
    log.checkpoint()
    assert [e.person_ids for e in log.entries()] == [(f"P{i}",) for i in range(20)]
    log.close()
    reopened = AuditLog(tmp_path / "audit.sqlite")
    assert len(reopened.entries()) == 20
    reopened.close()


def test_a_sqlite_path_is_migrated_on_open(tmp_path: Path) -> None:
    opened = AuditLog(tmp_path / "fresh.sqlite")
    assert opened.count() == 0
    opened.close()
