"""The clinician pages in a real headless browser: Debian's Chromium driven by playwright, against the served app."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from features.home import Home
from service_support import fit_model, service_app, write_publication
from serving.auth import TokenStore

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (run .ci/browser-deps)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[test]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The service's ASGI app under uvicorn on a loopback port, with a publication and an Alpha Vale token."""
    root = tmp_path_factory.mktemp("home")
    home = Home(root).ensure()
    model = fit_model()
    publication = write_publication(home, model)
    token = TokenStore(home.tokens).create(neighbourhoods=["Alpha Vale"])[1]
    port = _free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        server = uvicorn.Server(uvicorn.Config(service_app(home, model), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        try:
            yield {"base": f"http://127.0.0.1:{port}", "token": token, "publication": publication}
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(site: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()


def test_a_clinician_signs_in_reads_the_list_and_a_persons_reasons_and_timeline(site: dict[str, Any], page: Any, tmp_path: Path) -> None:
    lists = site["publication"].lists()
    expected = list(lists[lists["neighbourhood"] == "Alpha Vale"].sort_values("rank")["person_id"])

    page.goto(site["base"] + "/pages/neighbourhoods/Alpha%20Vale")
    assert page.url.endswith("/pages/login")
    page.fill("#token", site["token"])
    page.click("button[type=submit]")
    page.wait_for_url("**/pages/")
    with page.expect_navigation():
        page.click("main a:has-text('Alpha Vale')")
    assert page.url == site["base"] + "/pages/neighbourhoods/Alpha%20Vale"
    assert page.locator("#people a.person").all_inner_texts() == expected
    assert "Scored as of 2026-11-01" in page.inner_text("#freshness")

    with page.expect_navigation():
        page.click(f"#people a.person:has-text('{expected[0]}')")
    assert page.url == site["base"] + f"/pages/people/{expected[0]}"
    bars = page.locator("#reasons-chart rect")
    assert bars.count() == min(page.locator("#reasons li").count(), 10) > 0
    assert page.locator("#reasons-chart rect").first.bounding_box()["width"] > 1
    headers = page.locator("#timeline thead th").all_inner_texts()
    assert headers[0] == "Setting" and headers[1] == "2024-11" and headers[-1] == "2026-10" and len(headers) == 25
    assert "data up to 2026-10-31" in page.inner_text("#freshness")
    page.screenshot(path=str(tmp_path / "person.png"), full_page=True)


def test_another_neighbourhoods_list_and_people_are_refused_in_the_browser(site: dict[str, Any], page: Any) -> None:
    if not page.url.startswith(site["base"] + "/pages/") or page.url.endswith("/login"):
        page.goto(site["base"] + "/pages/login")
        page.fill("#token", site["token"])
        page.click("button[type=submit]")
        page.wait_for_url("**/pages/")
    response = page.goto(site["base"] + "/pages/neighbourhoods/Cedar")
    assert response.status == 403
    assert "may not see" in page.inner_text("#error-message")
    assert page.locator("#people").count() == 0
    response = page.goto(site["base"] + "/pages/people/P0000002")  # lives in Brook & Fen
    assert response.status == 404
    assert "P0000002" not in page.inner_text("main").replace("/pages/people/P0000002", "")


def test_signing_out_posts_the_form_and_the_old_session_cookie_no_longer_opens_a_page(site: dict[str, Any], page: Any) -> None:
    if not page.url.startswith(site["base"] + "/pages/") or page.url.endswith("/login"):
        page.goto(site["base"] + "/pages/login")
        page.fill("#token", site["token"])
        page.click("button[type=submit]")
        page.wait_for_url("**/pages/")
    page.goto(site["base"] + "/pages/")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["rr_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert site["token"] not in session["value"]
    with page.expect_navigation():
        page.click("#sign-out button[type=submit]")
    assert page.url == site["base"] + "/pages/login"
    assert "rr_session" not in {c["name"] for c in page.context.cookies()}
    page.context.add_cookies([session])  # replay the ended session's cookie
    page.goto(site["base"] + "/pages/neighbourhoods/Alpha%20Vale")
    assert page.url == site["base"] + "/pages/login"
