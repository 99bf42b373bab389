"""The clinician pages in a real headless browser: Debian's Chromium driven by playwright, against the served app."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from card_support import HOSTILE, write_card
from features.caseload import record_action
from features.database import create_database_engine, database_url
from features.home import Home
from service_support import fit_model, free_port, service_app, serving_on_loopback, write_publication
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



@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The service's ASGI app under uvicorn on a loopback port, with a publication, a model card and an Alpha Vale token."""
    root = tmp_path_factory.mktemp("home")
    home = Home(root).ensure()
    model = dataclasses.replace(fit_model(), model_card_path=write_card(root / "run"))
    publication = write_publication(home, model)
    token = TokenStore(home.tokens).create(neighbourhoods=["Alpha Vale"])[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        with serving_on_loopback(service_app(home, model)) as base:
            yield {"base": base, "token": token, "publication": publication, "home": home}


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_a_clinician_signs_in_reads_the_list_and_a_persons_reasons_and_timeline(site: dict[str, Any], page: Any, tmp_path: Path) -> None:
    lists = site["publication"].lists()
    expected = list(lists[lists["neighbourhood"] == "Alpha Vale"].sort_values("rank")["person_id"])

    page.goto(site["base"] + "/pages/neighbourhoods/Alpha%20Vale")
    assert page.url == site["base"] + "/pages/login?next=%2Fpages%2Fneighbourhoods%2FAlpha%2520Vale"
    assert page.locator("#sign-out").count() == 0 and page.locator("#nav-lists").count() == 0
    page.fill("#token", site["token"])
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == site["base"] + "/pages/neighbourhoods/Alpha%20Vale"  # back to the page asked for
    assert page.locator("#sign-out").count() == 1 and page.locator("#nav-lists").count() == 1
    assert page.locator("#people a.person").all_inner_texts() == expected
    assert "Scored as of 1 November 2026" in page.inner_text("#freshness")

    with page.expect_navigation():
        page.click(f"#people a.person:has-text('{expected[0]}')")
    assert page.url == site["base"] + f"/pages/people/{expected[0]}"
    bars = page.locator("#reasons-chart rect")
    assert bars.count() == page.locator("li.rr-factor").count() > 0
    assert page.locator("#reasons-chart rect").first.bounding_box()["width"] > 1
    headers = page.locator("#timeline thead tr:last-child th").all_inner_texts()
    months = page.locator("#timeline thead abbr").evaluate_all("nodes => nodes.map(n => n.title)")
    assert headers[0] == "Setting" and headers[1] == "Nov" and headers[-1] == "Oct" and len(headers) == 25
    assert months[0] == "November 2024" and months[-1] == "October 2026"
    assert "data up to 31 October 2026" in page.inner_text("#freshness")
    page.screenshot(path=str(tmp_path / "person.png"), full_page=True)


def test_another_neighbourhoods_list_and_people_are_refused_in_the_browser(site: dict[str, Any], page: Any) -> None:
    if not page.url.startswith(site["base"] + "/pages/") or "/pages/login" in page.url:
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
    if not page.url.startswith(site["base"] + "/pages/") or "/pages/login" in page.url:
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
    assert page.url == site["base"] + "/pages/login?next=%2Fpages%2Fneighbourhoods%2FAlpha%2520Vale"


# ---- NHS look, accessibility, keyboard, layout at 1280 px, the action form ------------------------

AXE = Path(__file__).resolve().parent / "assets" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDTH = 1280


def _signed_in(browser: Any, site: dict[str, Any], *, bypass_csp: bool = False) -> Any:
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, bypass_csp=bypass_csp)
    page = context.new_page()
    page.goto(site["base"] + "/pages/login")
    page.fill("#token", site["token"])
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def _serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.2 A/AA violations on the current page (axe injected by playwright)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, targets: v.nodes.map(n => n.target.join(' '))}));
        }""",
        WCAG_TAGS,
    )


def _first_listed(site: dict[str, Any]) -> str:
    lists = site["publication"].lists()
    return str(lists[lists["neighbourhood"] == "Alpha Vale"].sort_values("rank")["person_id"].iloc[0])


def test_every_page_has_no_serious_or_critical_wcag_22_aa_violations(site: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, bypass_csp=True)  # to inject axe only
    page = context.new_page()
    page.goto(site["base"] + "/pages/login")
    assert _serious_violations(page) == []
    page.fill("#token", site["token"])
    with page.expect_navigation():
        page.click("button[type=submit]")
    for path in ["/pages/", "/pages/neighbourhoods/Alpha%20Vale", f"/pages/people/{_first_listed(site)}", "/pages/neighbourhoods/Cedar",
                 "/pages/model-card"]:
        page.goto(site["base"] + path)
        assert _serious_violations(page) == [], path
    context.close()


def test_the_list_person_and_model_card_pages_fit_1280_px_without_horizontal_scrolling(site: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    page = _signed_in(browser, site)
    for name, path in [("model-card", "/pages/model-card"), ("list", "/pages/neighbourhoods/Alpha%20Vale"),
                       ("person", f"/pages/people/{_first_listed(site)}")]:
        page.goto(site["base"] + path)
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, name
        # the NHS.UK stylesheet applied (served by the app, nothing from elsewhere): the header is NHS blue
        assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == "rgb(0, 94, 184)"
    timeline = page.locator("#timeline").bounding_box()
    assert timeline["x"] + timeline["width"] <= WIDTH
    page.emulate_media(media="print")  # the print stylesheet leaves out navigation and forms
    assert not page.locator("#sign-out").is_visible() and not page.locator("#action-form").is_visible()
    assert page.locator("#timeline").is_visible() and page.locator("#summary").is_visible()
    page.context.close()


def test_the_model_card_reads_as_a_page_with_styled_tables_its_figures_and_run_data_as_text(site: dict[str, Any], browser: Any) -> None:
    requested: list[str] = []
    page = _signed_in(browser, site)
    page.on("request", lambda request: requested.append(request.url))
    page.goto(site["base"] + "/pages/model-card")
    assert page.inner_text("h1") == "Model card — risingrisk-high-intensity-use version 3"
    assert page.locator("#card-sections a").count() == page.locator("#model-card h2").count() == 13
    # headings and tables take the pages' styles: NHS blue rule under a section, NHS.UK table cells, numbers right-aligned
    assert page.evaluate("getComputedStyle(document.querySelector('#model-card h2')).borderBottomColor") == "rgb(0, 94, 184)"
    numeric = page.locator("#model-card td.nhsuk-table__cell--numeric").first
    assert numeric.evaluate("cell => getComputedStyle(cell).textAlign") == "right"
    widths = page.locator("#model-card img.rr-card-figure").evaluate_all("images => images.map(i => i.naturalWidth)")
    assert len(widths) == 2 and all(w > 0 for w in widths)  # both figures load from the pages
    assert "Figure not available here: Subgroup chart" in page.inner_text("#model-card")
    assert HOSTILE in page.inner_text("#model-card")  # shown as text, not run
    assert page.locator("#model-card script, #model-card img[src='x']").count() == 0
    # a table too wide for the page scrolls inside its own labelled region, which a keyboard user can focus to scroll
    regions = page.locator("#model-card .rr-card-table")
    assert regions.count() == page.locator("#model-card table").count() > 0
    assert regions.evaluate_all("rs => rs.every(r => r.tabIndex === 0 && r.getAttribute('role') === 'region' "
                                "&& r.getAttribute('aria-label').startsWith('Table ') && getComputedStyle(r).overflowX === 'auto')")
    assert {url.split("/")[2] for url in requested} == {site["base"].split("/")[2]}
    page.context.close()


def test_a_keyboard_user_tabs_to_the_list_opens_a_person_with_enter_and_goes_back(site: dict[str, Any], browser: Any) -> None:
    page = _signed_in(browser, site)
    person = _first_listed(site)

    def tab_to(check: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(check):
                return
        raise AssertionError(f"Tab never reached: {check}")

    tab_to("document.activeElement.textContent.trim() === 'Alpha Vale'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == site["base"] + "/pages/neighbourhoods/Alpha%20Vale"
    tab_to(f"document.activeElement.textContent.trim() === '{person}'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == site["base"] + f"/pages/people/{person}"
    tab_to("document.activeElement.id === 'back-to-list'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == site["base"] + "/pages/neighbourhoods/Alpha%20Vale"
    page.context.close()


def test_an_action_recorded_through_the_form_shows_in_the_history_and_a_forged_cross_site_post_is_refused(
    site: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    person = _first_listed(site)
    page = _signed_in(browser, site)
    page.goto(site["base"] + f"/pages/people/{person}")
    page.select_option("#action", "reviewed")
    page.fill("#note", "called, will ring back")
    with page.expect_navigation():
        page.click("#record-action")
    assert page.url == site["base"] + f"/pages/people/{person}?recorded=1#actions"
    assert page.inner_text("#current-status") == "Reviewed"
    assert "called, will ring back" in page.inner_text("#action-history")
    rows = page.locator("#action-history tbody tr").count()

    # another site's page posting to the form's URL with the clinician's browser
    port = free_port()
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    (attacker / "index.html").write_text(
        f'<!doctype html><form method="post" action="{site["base"]}/pages/people/{person}/actions">'
        '<input name="action" value="closed"><input name="csrf_token" value="guess"><button id="go">Win a prize</button></form>'
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(attacker))
    server = http.server.ThreadingHTTPServer(("localhost", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        evil = page.context.new_page()
        evil.goto(f"http://localhost:{port}/index.html")
        with evil.expect_navigation():
            evil.click("#go")
        assert "/pages/people/" not in evil.url or "recorded=1" not in evil.url
    finally:
        server.shutdown()
    page.goto(site["base"] + f"/pages/people/{person}")
    assert page.locator("#action-history tbody tr").count() == rows
    assert page.inner_text("#current-status") == "Reviewed"
    page.context.close()


def test_the_list_filters_by_status_without_javascript_and_offers_the_csv(site: dict[str, Any], browser: Any) -> None:
    lists = site["publication"].lists()
    second = str(lists[lists["neighbourhood"] == "Alpha Vale"].sort_values("rank")["person_id"].iloc[1])
    record_action(create_database_engine(database_url(site["home"])), person_id=second, neighbourhood="Alpha Vale",
                  action="contacted", token_id="browser-test")
    page = _signed_in(browser, site)
    page.goto(site["base"] + "/pages/neighbourhoods/Alpha%20Vale")
    page.select_option("#status", "none")
    with page.expect_navigation():
        page.click("#apply")
    assert "status=none" in page.url
    assert second not in page.locator("#people a.person").all_inner_texts()  # contacted: has a status
    with page.expect_download() as download:
        page.click("#download-csv")
    assert download.value.suggested_filename.startswith("list-Alpha-Vale-")
    page.context.close()


def test_the_axe_check_finds_a_violation_planted_in_a_page(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(site["base"] + "/pages/login")
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/static/nhsuk/images/nhsuk-icon-cross.svg\">')")
    assert [v["id"] for v in _serious_violations(page)] == ["image-alt"]
    context.close()
