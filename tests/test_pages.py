"""The clinician pages and the API surface in-process: summary, grouped reasons, list sort/filter, action form, sign-in return, OpenAPI, headers."""

from __future__ import annotations

import csv
import dataclasses
import importlib.metadata
import io
import re
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from starlette.testclient import TestClient

from card_support import HOSTILE, SECRET_DIR, write_card
from features.caseload import PersonStatus, history
from features.database import create_database_engine, database_url, sqlite_url, upgrade
from features.definitions import PREDICTORS
from features.home import Home
from service_support import fit_model, service_app, write_publication
from serving.audit import AuditLog
from serving.auth import TokenStore
from serving.gate import PAGE_CSP
from serving.list_view import ListQuery, band_labels, band_of, in_100, list_query, select_people, with_statuses
from serving.middleware import route_template
from serving.page_routes import ACTION_ENDPOINT, safe_next
from serving.person_view import Factor, factors, group_factors, heat_level, human_date, summary
from serving.rate_limit import TokenBuckets
from serving.redaction import PATH_PLACEHOLDER
from serving.security_config import SecurityConfig
from training.model_card import REQUIRED_SECTIONS

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)""", re.IGNORECASE)


# ---- person page pieces, on hand-built reasons -------------------------------------------------


def _factor(feature: str, family: str, contribution: float, short: str = "x") -> Factor:
    return Factor(feature, feature, "raises" if contribution > 0 else "lowers", contribution, family, None, None, short)


def test_a_factor_carries_the_reasons_own_context_sentence_and_a_reason_without_one_gets_none() -> None:
    context = "Use fell recently; it is the level of GP contacts over the whole period that raises the risk, not the fall."
    reason = {"feature": "gp", "text": "1 GP contact in the last 3 months (4 in the 3 months before)", "direction": "raises",
              "contribution": 0.02, "context": context}
    plain = {"feature": "age", "text": "Aged 80", "direction": "raises", "contribution": 0.01, "context": None}
    values = {"gp_0_3m": 1.0, "gp_3_6m": 4.0, "gp_6_12m": 6.0, "gp_12_24m": 10.0, "age": 80.0}
    gp, age = factors([reason, plain], values, PREDICTORS, timeline=[], as_of=date(2026, 11, 1))
    assert (gp.context, gp.family, gp.short) == (context, "utilisation", "GP contacts")
    assert age.context is None


def test_a_rise_in_use_reads_as_rising_in_the_summary_words_and_a_fall_does_not() -> None:
    reason = {"feature": "ed", "text": "t", "direction": "raises", "contribution": 0.01, "context": None}
    rising, falling = (factors([reason], values, PREDICTORS, timeline=[], as_of=date(2026, 11, 1))[0]
                       for values in ({"ed_0_3m": 1.0, "ed_3_6m": 0.0}, {"ed_0_3m": 0.0, "ed_3_6m": 1.0}))
    assert (rising.short, falling.short) == ("rising A&E attendances", "A&E attendances")


def test_a_settings_evidence_gives_the_last_date_from_days_since_and_the_timeline_total() -> None:
    timeline = [(date(2026, 9, 1), {"ed": 2}), (date(2026, 10, 1), {"ed": 1})]
    reason = {"feature": "ed", "text": "t", "direction": "raises", "contribution": 0.05}
    [factor] = factors([reason], {"ed_0_3m": 3.0, "ed_3_6m": 0.0, "days_since_ed": 10.0}, PREDICTORS, timeline=timeline,
                       as_of=date(2026, 11, 1))
    assert factor.evidence == "Last on 22 October 2026; 3 in the 2 months from September 2026 to October 2026"


def test_needs_and_conditions_come_before_use_of_services_and_cost() -> None:
    shown = [_factor("cost_12m", "cost", 0.03), _factor("ed", "utilisation", 0.2), _factor("ltc_copd", "condition", 0.01),
             _factor("sn_housing", "social_need", 0.02), _factor("ltc_count", "condition", 0.04)]
    groups = group_factors(shown)
    assert [(g.heading, [f.feature for f in g.factors]) for g in groups] == [
        ("Needs", ["sn_housing"]), ("Conditions", ["ltc_count", "ltc_copd"]), ("Use of services", ["ed"]), ("Cost of care", ["cost_12m"]),
    ]


def test_the_summary_states_risk_the_multiple_of_the_age_average_and_the_main_reasons() -> None:
    main = [_factor("ed", "utilisation", 0.05, "rising A&E attendances"), _factor("sn_housing", "social_need", 0.03, "housing insecurity"),
            _factor("ltc_copd", "condition", 0.02, "COPD"), _factor("age", "demographic", 0.02, "aged 80")]
    sentence = summary(0.12, 0.007, "for their age (70–79)", "over the next 6–18 months", main)
    assert sentence == ("Risk 12% over the next 6–18 months, 17× the average for their age (70–79); "
                        "mainly rising A&E attendances, housing insecurity and COPD")
    assert summary(0.03, 0.02, "of everyone scored", "over the next 6–18 months", []) == (
        "Risk 3% over the next 6–18 months, 1.5× the average of everyone scored")


def test_timeline_cells_shade_in_five_steps_of_the_busiest_cell_and_dates_read_as_words() -> None:
    assert [heat_level(c, 10) for c in (0, 1, 2, 3, 5, 9, 10)] == [0, 1, 1, 2, 3, 5, 5]
    assert heat_level(3, 0) == 0
    assert (human_date("2026-11-01"), human_date("2026-11-02T06:00:00+00:00"), human_date(None)) == (
        "1 November 2026", "2 November 2026", "")


# ---- list page pieces ----------------------------------------------------------------------------


def test_risk_reads_as_a_natural_frequency_and_bands_as_multiples_of_the_average() -> None:
    assert [in_100(s) for s in (0.004, 0.006, 0.123, 0.5)] == ["fewer than 1 in 100", "1 in 100", "12 in 100", "50 in 100"]
    assert band_labels([2, 5, 10]) == ["under 2× average", "2–5× average", "5–10× average", "10× average or more"]
    assert [band_of(s, 0.02, [2, 5, 10]) for s in (0.03, 0.04, 0.12, 0.2, 0.5)] == [
        "under 2× average", "2–5× average", "5–10× average", "10× average or more", "10× average or more"]


def test_the_list_filters_by_status_and_practice_and_sorts_with_missing_values_last() -> None:
    people = [
        {"rank": 1, "age": 70, "practice": "B", "status": "contacted", "band": "x", "is_new": False},
        {"rank": 2, "age": None, "practice": "A", "status": None, "band": "x", "is_new": True},
        {"rank": 3, "age": 40, "practice": "A", "status": None, "band": "y", "is_new": False},
    ]
    ranks = lambda q: [p["rank"] for p in select_people(people, q)]  # noqa: E731
    assert ranks(ListQuery()) == [1, 2, 3]
    assert ranks(ListQuery(sort="age")) == [3, 1, 2]
    assert ranks(ListQuery(sort="age", descending=True)) == [1, 3, 2]
    assert ranks(ListQuery(status="none")) == [2, 3]
    assert ranks(ListQuery(status="contacted")) == [1]
    assert ranks(ListQuery(practice="A", band="y")) == [3]
    assert ranks(ListQuery(new_only=True)) == [2]
    assert list_query({"sort": "drop table", "band": "nonsense", "order": "desc"}, ["x"]) == ListQuery(descending=True)


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/pages/neighbourhoods/Alpha%20Vale?status=contacted", True),
        ("/pages/people/P0000001", True),
        ("/pages/", True),
        ("https://evil.example/pages/", False),
        ("//evil.example/pages/", False),
        ("/pages//evil.example", False),
        ("/pages/\\evil", False),
        ("/pages/login", False),
        ("/v1/model", False),
        ("javascript:alert(1)", False),
        ("/pages/people/P1\r\nSet-Cookie: x=1", False),
        ("", False),
    ],
)
def test_only_local_page_paths_are_accepted_as_the_place_to_return_to_after_sign_in(target: str, safe: bool) -> None:
    assert (safe_next(target) == target) is safe
    if not safe:
        assert safe_next(target) is None


def test_the_default_rate_limit_is_20_a_second_with_a_burst_of_40_then_429_after_the_wait(tmp_path: Path) -> None:
    config = SecurityConfig()
    assert (config.rate_per_second, config.rate_burst) == (20.0, 40)
    now = [1_800_000_000.0]
    engine = create_database_engine(sqlite_url(tmp_path / "db.sqlite"))
    upgrade(engine)
    buckets = TokenBuckets(config.rate_per_second, config.rate_burst, database=engine, clock=lambda: now[0])
    assert [buckets.take("t") for _ in range(40)] == [0.0] * 40
    assert buckets.take("t") == pytest.approx(0.05)
    assert TokenBuckets.retry_after(0.05) == "1"
    now[0] += 0.05
    assert buckets.take("t") == 0.0
    engine.dispose()


def test_metrics_route_templates_name_the_caseload_routes_without_ids() -> None:
    assert [route_template(p) for p in (
        "/v1/people/P1/actions", "/v1/neighbourhoods/N/caseload", "/v1/neighbourhoods/N/list.csv", "/v1/neighbourhoods/N/list",
        "/pages/people/P1/actions", "/pages/neighbourhoods/N/list.csv", "/pages/model-card",
    )] == [
        "/v1/people/{person_id}/actions", "/v1/neighbourhoods/{neighbourhood}/caseload", "/v1/neighbourhoods/{neighbourhood}/list.csv",
        "/v1/neighbourhoods/{neighbourhood}/list", "/pages/people/{person_id}/actions", "/pages/neighbourhoods/{neighbourhood}/list.csv",
        "/pages/model-card",
    ]


# ---- the served pages ------------------------------------------------------------------------------


class Site:
    """The in-process service with an Alpha Vale token, a PHM token, its publication and the model's card (Markdown)."""

    def __init__(self, client: TestClient, home: Home, tokens: dict[str, str], publication: Any, card: Path) -> None:
        self.client, self.home, self.tokens, self.publication, self.card = client, home, tokens, publication, card

    def listed(self, neighbourhood: str) -> list[str]:
        lists = self.publication.lists()
        return list(lists[lists["neighbourhood"] == neighbourhood].sort_values("rank")["person_id"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("home")
    home = Home(root).ensure()
    model = dataclasses.replace(fit_model(), model_card_path=write_card(root / "run"))
    publication = write_publication(home, model)
    store = TokenStore(home.tokens)
    tokens = {"alpha": store.create(neighbourhoods=["Alpha Vale"])[1], "phm": store.create(phm=True)[1]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        with TestClient(service_app(home, model), raise_server_exceptions=False) as client:
            yield Site(client, home, tokens, publication, model.model_card_path)


@pytest.fixture
def signed_in(site: Site) -> Iterator[Site]:
    site.client.cookies.clear()
    form = site.client.get("/pages/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    response = site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": form}, follow_redirects=False)
    assert response.status_code == 303
    yield site
    site.client.cookies.clear()


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def test_the_current_caseload_status_replaces_the_status_at_publication_and_keeps_a_past_decline() -> None:
    moment = datetime(2026, 11, 3, tzinfo=timezone.utc)
    current = {"P2": PersonStatus("P2", "N", "contacted", moment, None, 7, None)}
    people = [{"person_id": "P1", "status": "reviewed", "previously_declined": True}, {"person_id": "P2", "status": None, "previously_declined": True}]
    assert with_statuses(people, current) == [
        {"person_id": "P1", "status": "reviewed", "previously_declined": True},
        {"person_id": "P2", "status": "contacted", "previously_declined": True},
    ]


def test_sign_in_returns_to_the_page_asked_for_and_never_to_another_site(site: Site) -> None:
    site.client.cookies.clear()
    asked = site.client.get("/pages/neighbourhoods/Alpha%20Vale?status=none", follow_redirects=False)
    assert asked.headers["location"] == "/pages/login?next=%2Fpages%2Fneighbourhoods%2FAlpha%2520Vale%3Fstatus%3Dnone"
    form = site.client.get(asked.headers["location"]).text
    assert 'name="next" value="/pages/neighbourhoods/Alpha%20Vale?status=none"' in form
    done = site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": _csrf(form),
                                                  "next": "/pages/neighbourhoods/Alpha%20Vale?status=none"}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/pages/neighbourhoods/Alpha%20Vale?status=none")
    site.client.cookies.clear()
    form = site.client.get("/pages/login?next=https://evil.example/").text
    assert 'name="next"' not in form
    done = site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": _csrf(form), "next": "//evil.example/"},
                            follow_redirects=False)
    assert done.headers["location"] == "/pages/"
    site.client.cookies.clear()


def test_the_header_shows_lists_and_sign_out_only_when_signed_in(site: Site) -> None:
    site.client.cookies.clear()
    login = site.client.get("/pages/login").text
    assert 'id="nav-lists"' not in login and "Sign out" not in login
    form = _csrf(login)
    site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": form})
    index = site.client.get("/pages/").text
    assert 'id="nav-lists"' in index and "Sign out" in index
    site.client.cookies.clear()


def test_the_person_page_has_a_summary_no_zero_point_lines_and_no_cut_labels(signed_in: Site) -> None:
    person = signed_in.listed("Alpha Vale")[0]
    page = signed_in.client.get(f"/pages/people/{person}").text
    summary_text = page.split('id="summary">')[1].split("</p>")[0]
    assert re.fullmatch(r"Risk \d+% over the next 6–18 months, [\d.]+× the average (for their age \(\d+–\d+\)|of everyone scored)"
                        r"(; mainly .+)?\.", summary_text.replace("&amp;", "&"))
    assert "+0.0 pts" not in page and "-0.0 pts" not in page and "±0.0" not in page
    assert "…" not in page and "..." not in page
    assert 'href="#all-factors"' in page and 'id="all-factors"' in page
    assert "style=" not in page  # CSP allows no inline style


def test_the_action_form_records_through_the_domain_function_with_the_same_audit_and_shows_the_history(signed_in: Site) -> None:
    client = signed_in.client
    person = signed_in.listed("Alpha Vale")[1]
    page = client.get(f"/pages/people/{person}").text
    assert 'id="action-form"' in page and "Do not write clinical detail" in page and 'maxlength="500"' in page
    done = client.post(f"/pages/people/{person}/actions", data={"csrf_token": _csrf(page), "action": "contacted", "note": "left a message"},
                       follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, f"/pages/people/{person}?recorded=1#actions")
    [record] = history(_engine(signed_in), person)
    assert (record.action, record.note, record.person_id) == ("contacted", "left a message", person)
    shown = client.get(f"/pages/people/{person}?recorded=1").text
    assert 'id="recorded"' in shown and "left a message" in shown and 'id="current-status">Contacted<' in shown
    api = client.get(f"/v1/people/{person}/actions", headers={"Authorization": f"Bearer {signed_in.tokens['alpha']}"}).json()
    assert [a["action"] for a in api["actions"]] == ["contacted"]
    audit = [e for e in AuditLog(_engine(signed_in)).entries() if e.endpoint == ACTION_ENDPOINT]
    assert [(e.status, e.person_ids, e.detail["action"], e.detail["action_id"]) for e in audit] == [(201, (person,), "contacted", record.id)]
    assert "left a message" not in repr(audit)
    listed = client.get("/pages/neighbourhoods/Alpha%20Vale?status=contacted").text
    assert re.findall(r'class="person" href="/pages/people/(P\d+)"', listed) == [person]


def test_a_declined_action_without_a_reason_is_refused_on_the_page_naming_the_reasons(signed_in: Site) -> None:
    client = signed_in.client
    person = signed_in.listed("Alpha Vale")[0]
    page = client.get(f"/pages/people/{person}").text
    refused = client.post(f"/pages/people/{person}/actions", data={"csrf_token": _csrf(page), "action": "declined"})
    assert refused.status_code == 422
    assert "person_declined" in refused.text.split('id="form-error">')[1].split("</p>")[0]


def test_a_forged_cross_site_post_or_one_without_the_csrf_token_records_nothing(signed_in: Site) -> None:
    client = signed_in.client
    person = signed_in.listed("Alpha Vale")[0]
    before = len(history(_engine(signed_in), person))
    page = client.get(f"/pages/people/{person}").text
    cross = client.post(f"/pages/people/{person}/actions", data={"csrf_token": _csrf(page), "action": "reviewed"},
                        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
    missing = client.post(f"/pages/people/{person}/actions", data={"action": "reviewed"})
    wrong = client.post(f"/pages/people/{person}/actions", data={"csrf_token": "forged", "action": "reviewed"})
    assert (cross.status_code, missing.status_code, wrong.status_code) == (403, 403, 403)
    assert len(history(_engine(signed_in), person)) == before


def test_the_list_shows_people_as_n_in_100_with_bands_and_a_csv_download_that_works_with_the_session(signed_in: Site) -> None:
    client = signed_in.client
    page = client.get("/pages/neighbourhoods/Alpha%20Vale").text
    assert re.findall(r'class="person" href="/pages/people/(P\d+)"', page) == signed_in.listed("Alpha Vale")
    assert re.search(r"\d+ in 100", page) and "× average" in page and "1 November 2026" in page
    assert 'href="/pages/neighbourhoods/Alpha%20Vale/list.csv"' in page and 'id="stale"' not in page
    export = client.get("/pages/neighbourhoods/Alpha%20Vale/list.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["person_id"] for r in rows] == signed_in.listed("Alpha Vale")
    assert client.get("/pages/neighbourhoods/Cedar/list.csv").status_code == 403


def test_the_model_card_opens_with_the_session_cookie(signed_in: Site) -> None:
    page = signed_in.client.get("/pages/model-card")
    assert page.status_code == 200 and "The six months after T are skipped" in page.text
    assert 'href="/pages/model-card"' in signed_in.client.get("/pages/neighbourhoods/Alpha%20Vale").text


def test_the_model_card_page_renders_the_markdown_as_headings_contents_and_nhs_styled_tables(signed_in: Site) -> None:
    page = signed_in.client.get("/pages/model-card").text
    markdown = signed_in.card.read_text()
    assert re.findall(r"<h1[^>]*>(.*?)</h1>", page) == ["Model card — risingrisk-high-intensity-use version 3"]
    headings = re.findall(r'<h2 id="(card-[a-z0-9-]+)">(.*?)</h2>', page)
    assert [h for _, h in headings] == re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)
    assert [h for _, h in headings] == list(REQUIRED_SECTIONS)
    contents = re.findall(r'<a class="nhsuk-contents-list__link" href="#(card-[a-z0-9-]+)">(.*?)</a>', page)
    assert contents == headings
    assert page.count('<table class="nhsuk-table">') == len(re.findall(r"^\|---", markdown, flags=re.MULTILINE)) > 0
    assert page.count('<div class="nhsuk-table-container rr-card-table" tabindex="0" role="region" aria-label="Table ') == page.count("<table")
    assert '<th class="nhsuk-table__header nhsuk-table__header--numeric" scope="col">rows</th>' in page
    assert "<pre" not in page and "\n## " not in page and "|---|" not in page and "**" not in page
    assert "<strong>FAILED</strong>" in page
    assert "style=" not in page  # the pages' CSP allows no inline style


def test_run_data_in_the_model_card_shows_as_text_never_as_markup_and_server_paths_stay_withheld(signed_in: Site) -> None:
    page = signed_in.client.get("/pages/model-card").text
    assert HOSTILE in signed_in.card.read_text()
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;card&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert SECRET_DIR not in page and "/srv/" not in page
    assert "<code>&lt;server path withheld&gt;</code>" in page


def test_the_model_card_figures_are_served_to_the_page_and_a_missing_one_is_named_in_words(signed_in: Site) -> None:
    client = signed_in.client
    page = client.get("/pages/model-card").text
    assert re.findall(r'<img class="rr-card-figure" src="([^"]+)" alt="([^"]+)">', page) == [
        ("/pages/model-card/figures/1", "ROC and precision-recall curves"), ("/pages/model-card/figures/2", "Calibration plot")]
    assert '<span class="rr-card-missing">Figure not available here: Subgroup chart</span>' in page
    figures = signed_in.card.parent.parent / "figures"
    first, second = client.get("/pages/model-card/figures/1"), client.get("/pages/model-card/figures/2")
    assert (first.status_code, first.headers["content-type"], first.content) == (200, "image/png", (figures / "roc_pr.png").read_bytes())
    assert second.content == (figures / "calibration.png").read_bytes()
    missing = [client.get(f"/pages/model-card/figures/{n}") for n in ("0", "3", "4", "01", "x", "1.png")]
    assert [(r.status_code, r.headers["content-type"]) for r in missing] == [(404, "text/html; charset=utf-8")] * len(missing)
    assert "the model card has no figure 3 to show" in missing[1].text
    client.cookies.clear()
    signed_out = client.get("/pages/model-card/figures/1", follow_redirects=False)
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/pages/login?next=%2Fpages%2Fmodel-card%2Ffigures%2F1")


def test_the_apis_model_card_is_still_the_markdown_source_with_paths_withheld(site: Site) -> None:
    card = site.client.get("/v1/model/card", headers={"Authorization": f"Bearer {site.tokens['alpha']}"})
    assert (card.status_code, card.headers["content-type"]) == (200, "text/markdown; charset=utf-8")
    assert card.text == site.card.read_text().replace(SECRET_DIR, PATH_PLACEHOLDER)


def test_no_served_page_loads_anything_from_outside_the_service(signed_in: Site) -> None:
    client = signed_in.client
    person = signed_in.listed("Alpha Vale")[0]
    pages = ["/", "/pages/", "/pages/neighbourhoods/Alpha%20Vale", f"/pages/people/{person}", "/pages/model-card",
             "/pages/neighbourhoods/Cedar", "/pages/people/P9999999"]
    for path in pages:
        response = client.get(path)
        assert response.headers["content-type"].startswith("text/html"), path
        assert EXTERNAL.findall(response.text) == [], path
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text):
            assert client.get(asset).status_code == 200, asset
    signed_in.client.cookies.clear()
    assert EXTERNAL.findall(client.get("/pages/login").text) == []
    css = Path(__file__).resolve().parents[1] / "serving" / "static"
    assert [p.name for p in css.rglob("*.css") if re.search(r"url\((['\"]?)(https?:)?//", p.read_text())] == []


def test_pages_and_person_data_carry_the_security_headers(signed_in: Site) -> None:
    person = signed_in.listed("Alpha Vale")[0]
    page = signed_in.client.get(f"/pages/people/{person}")
    api = signed_in.client.get(f"/v1/people/{person}/explanation", headers={"Authorization": f"Bearer {signed_in.tokens['alpha']}"})
    assert page.headers["content-security-policy"] == PAGE_CSP
    assert "unsafe-inline" not in PAGE_CSP and "script-src" not in PAGE_CSP and "default-src 'none'" in PAGE_CSP
    for response in (page, api):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"


def test_the_front_door_redirects_to_the_pages_instead_of_bentomls_page(site: Site) -> None:
    response = site.client.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/pages/")
    assert site.client.get("/docs", follow_redirects=False).status_code == 404


def test_the_openapi_has_the_products_title_version_and_bearer_security_with_error_bodies(site: Site) -> None:
    spec = site.client.get("/docs.json").json()
    assert spec["info"]["title"] == "risingrisk"
    assert spec["info"]["version"] == importlib.metadata.version("risingrisk")
    assert "contact" not in spec["info"] and "BentoML" not in spec["info"]["description"]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "A risingrisk access token (risingrisk tokens create)."}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1/") or path == "/metrics":
                assert operation["security"] == [{"bearerAuth": []}], (path, method)
                assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorResponse"}, (path, method)
                assert operation["responses"]["429"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorResponse"}, (path, method)
            else:
                assert "security" not in operation, (path, method)
    fields = spec["components"]["schemas"]["ListEntry"]["properties"]
    assert {"status", "previously_declined", "nhs_number", "age", "sex", "practice"} <= set(fields)


def test_the_list_json_carries_the_new_list_fields_and_wrong_methods_on_caseload_paths_get_405(site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.tokens['alpha']}"}
    entry = site.client.get("/v1/neighbourhoods/Alpha%20Vale/list", headers=auth).json()["people"][0]
    assert {"status", "previously_declined", "nhs_number", "age", "sex", "practice"} <= set(entry)
    person = site.listed("Alpha Vale")[0]
    for method, path in [("DELETE", f"/v1/people/{person}/actions"), ("PUT", "/v1/neighbourhoods/Alpha%20Vale/caseload"),
                         ("POST", "/v1/neighbourhoods/Alpha%20Vale/list.csv"), ("PATCH", "/v1/neighbourhoods/Alpha%20Vale/caseload")]:
        response = site.client.request(method, path, headers=auth)
        assert response.status_code == 405, (method, path)
        assert "is not allowed here" in response.json()["error"]


def test_score_errors_use_the_products_error_shape_without_input_values_and_are_not_logged_at_error(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    auth = {"Authorization": f"Bearer {site.tokens['phm']}"}
    with caplog.at_level("INFO"):
        bad = site.client.post("/v1/score", json={"rows": [{"features": {"ed_0_3m": "SECRET-VALUE"}}]}, headers=auth)
        broken = site.client.post("/v1/score", content=b'{"rows": [', headers={**auth, "Content-Type": "application/json"})
    assert bad.status_code == 422
    assert bad.json() == {"error": 'the body must be {"rows": [{"row_id": ..., "features": {...}}]}; see detail',
                          "detail": [{"loc": ["rows", "0", "features", "ed_0_3m"], "msg": "Input should be a valid number",
                                      "type": "float_type"}]}
    assert broken.status_code == 400 and broken.json()["detail"][0]["type"] == "json_invalid"
    assert "SECRET-VALUE" not in caplog.text
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []


def _engine(site: Site) -> Engine:
    return create_engine(database_url(site.home))


def test_a_path_with_control_characters_gets_the_apis_400_not_a_bare_text_404(site: Site) -> None:
    response = site.client.get("/v1/people/P1%0A/actions", headers={"Authorization": f"Bearer {site.tokens['alpha']}"})
    assert response.status_code == 400
    assert response.json() == {"error": "the path must not contain control characters; percent-encode only printable text"}
