"""Tests for serving.audit: every recorded view comes back in order with its people, across threads."""

from __future__ import annotations

import threading
from pathlib import Path

from serving.audit import AuditLog


def test_recorded_views_come_back_in_order_with_their_fields(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record(token_id="a1", endpoint="GET /v1/neighbourhoods/{neighbourhood}/list", neighbourhood="Cedar", status=200,
               publication_id="p1", person_ids=["P2", "P1"])
    log.record(token_id="b2", endpoint="GET /v1/people/{person_id}/explanation", neighbourhood=None, status=404, publication_id="p1")
    entries = log.entries()
    assert [(e.token_id, e.neighbourhood, e.status, e.publication_id, e.person_ids) for e in entries] == [
        ("a1", "Cedar", 200, "p1", ("P2", "P1")),
        ("b2", None, 404, "p1", ()),
    ]
    assert [e.token_id for e in log.entries(token_id="b2")] == ["b2"]
    assert entries[0].time < entries[1].time
    log.close()


def test_the_audit_log_survives_a_reopen(tmp_path: Path) -> None:
    first = AuditLog(tmp_path / "audit.sqlite")
    first.record(token_id="a1", endpoint="e", neighbourhood="Cedar", status=200, publication_id=None, person_ids=["P1"])
    first.close()
    second = AuditLog(tmp_path / "audit.sqlite")
    assert [e.person_ids for e in second.entries()] == [("P1",)]
    second.close()


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")

    def write(worker: int) -> None:
        for i in range(50):
            log.record(token_id=f"t{worker}", endpoint="e", neighbourhood=None, status=200, publication_id=None, person_ids=[f"P{i}"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = log.entries()
    assert len(entries) == 400
    assert sorted({e.token_id for e in entries}) == [f"t{w}" for w in range(8)]
    log.close()


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
