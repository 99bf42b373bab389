"""A running service picks up a newly published set of lists without a restart."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from features.home import Home
from serving.auth import TokenStore
from serving.config import ServiceConfig
from service_support import fit_model, service_app, write_publication


def test_a_new_publication_is_served_after_the_next_check_without_a_restart(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    model = fit_model()
    first = write_publication(home, model, people=30)
    token = TokenStore(home.tokens).create(phm=True)[1]
    headers = {"Authorization": f"Bearer {token}"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        with TestClient(service_app(home, model, ServiceConfig(reload_check_seconds=0.0))) as client:
            assert client.get("/v1/neighbourhoods/Cedar/list", headers=headers).json()["publication_id"] == first.id
            second = write_publication(
                home, model, people=90, clock=lambda: datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                body = client.get("/v1/neighbourhoods/Cedar/list", headers=headers).json()
                if body["publication_id"] == second.id:
                    break
                time.sleep(0.1)
            assert body["publication_id"] == second.id
            lists = second.lists()
            assert [p["person_id"] for p in body["people"]] == list(lists[lists["neighbourhood"] == "Cedar"].sort_values("rank")["person_id"])
            assert client.get("/v1/people/P0000090/explanation", headers=headers).status_code == 200
            assert client.get("/readyz").status_code == 200
