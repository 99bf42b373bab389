"""Regression tests of the security findings on the service (issue 18): each replays an attack that worked before."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from features.caseload import record_action
from features.database import database_url
from features.database.engine import create_database_engine, sqlite_url
from features.database.migrate import upgrade
from features.home import Home
from service_support import FEATURES, TestModel, fit_model, service_app, write_publication
from serving.audit import AuditLog
from serving.audit_summary import summarise_audit
from serving.auth import TokenStore
from serving.config import ServiceConfig
from serving.csrf import check_login_csrf, cross_origin_problem, login_csrf
from serving.redaction import PATH_PLACEHOLDER, redact_paths
from serving.security_config import SecurityConfig
from serving.sessions import SessionPolicy, create_session, end_token_sessions, find_session, purge_sessions

BODY_LIMIT = 200_000
CHUNK = b" " * 65_536
#: The attack sent 600 MB; 100 times the limit, pulled lazily from a generator of one reused chunk, shows the same
#: (and stays small enough that the old code, which buffered it all, fails the test without exhausting memory).
ATTACK_BYTES = 100 * BODY_LIMIT
PERSON_ENDPOINT = "GET /v1/people/{person_id}/explanation"


class Site:
    """A running in-process service, its home, tokens and publications."""

    def __init__(self, client: TestClient, home: Home, tokens: dict[str, str], publication: Any) -> None:
        self.client = client
        self.home = home
        self.tokens = tokens
        self.publication = publication

    def headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.client.get(path, headers={**self.headers(token), **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, headers={**self.headers(token), **kwargs.pop("headers", {})}, **kwargs)

    def token_id(self, token: str) -> str:
        return self.tokens[token].split("_")[1]

    def audit(self) -> list[Any]:
        log = AuditLog(database_url(self.home))
        try:
            return log.entries()
        finally:
            log.close()

    def listed(self, neighbourhood: str) -> list[str]:
        lists = self.publication.lists()
        return list(lists[lists["neighbourhood"] == neighbourhood].sort_values("rank")["person_id"])

    def unlisted(self, neighbourhood: str) -> list[str]:
        population = self.publication.population()
        mine = population[(population["neighbourhood"] == neighbourhood) & population["list_rank"].isna()]
        return sorted(mine["person_id"])


def start_site(root: Path, model: TestModel, config: ServiceConfig | None = None, *, earlier_lists: bool = False) -> Iterator[Site]:
    home = Home(root).ensure()
    if earlier_lists:  # a previous publication with lists twice as long: its ranks 3-4 are "recently listed"
        write_publication(home, model, per_thousand=200.0, clock=lambda: datetime(2026, 10, 2, 6, 0, tzinfo=timezone.utc))
    publication = write_publication(home, model)
    store = TokenStore(home.tokens)
    tokens = {
        "alpha": store.create(neighbourhoods=["Alpha Vale"])[1],
        "brook": store.create(neighbourhoods=["Brook & Fen"])[1],
        "phm": store.create(phm=True)[1],
    }
    prometheus = root / "prometheus"
    prometheus.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(prometheus))
        with TestClient(service_app(home, model, config), raise_server_exceptions=False) as client:
            yield Site(client, home, tokens, publication)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> TestModel:
    fitted = fit_model()
    card = tmp_path_factory.mktemp("card") / "model_card.md"
    card.write_text("# Model card\n- Data directory: `/srv/risingrisk/secret-data` (contract v1)\n![AUROC](figures/auroc.png)\n")
    fitted.model_card_path = card
    return fitted


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model: TestModel) -> Iterator[Site]:
    config = ServiceConfig(max_body_bytes=BODY_LIMIT, security=SecurityConfig(rate_per_second=0.0))
    yield from start_site(tmp_path_factory.mktemp("home"), model, config, earlier_lists=True)


def raw_request(client: TestClient, method: str, path: str, headers: dict[str, str], body: Iterator[bytes], *,
                disconnect_after: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Send a request straight to the ASGI app, pulling the body lazily; return the messages sent back and bytes pulled."""
    pulled = 0
    chunks = 0

    async def run() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal pulled, chunks
            if disconnect_after is not None and chunks >= disconnect_after:
                return {"type": "http.disconnect"}
            chunk = next(body, None)
            if chunk is None:
                return {"type": "http.request", "body": b"", "more_body": False}
            pulled += len(chunk)
            chunks += 1
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80), "state": {},
            "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        }
        await client.app(scope, receive, send)
        return sent

    return client.portal.call(run), pulled


def attack_body(total: int = ATTACK_BYTES) -> Iterator[bytes]:
    for _ in range(total // len(CHUNK)):
        yield CHUNK


def status_of(messages: list[dict[str, Any]]) -> int | None:
    starts = [m for m in messages if m["type"] == "http.response.start"]
    return starts[0]["status"] if starts else None


# ---- 1. auth before the body; the body limit counts received bytes -----------------------------


def test_a_chunked_upload_without_a_token_is_refused_before_one_body_byte_is_read(site: Site) -> None:
    headers = {"content-type": "application/json", "transfer-encoding": "chunked"}
    sent, pulled = raw_request(site.client, "POST", "/v1/score", headers, attack_body())
    assert (status_of(sent), pulled) == (401, 0)


def test_a_chunked_upload_to_a_page_without_a_session_is_sent_to_sign_in_before_its_body_is_read(site: Site) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded", "transfer-encoding": "chunked"}
    sent, pulled = raw_request(site.client, "POST", "/pages/logout", headers, attack_body())
    assert (status_of(sent), pulled) == (303, 0)


def test_a_chunked_upload_with_a_token_stops_being_read_just_past_the_limit_with_413(site: Site) -> None:
    headers = {"content-type": "application/json", "transfer-encoding": "chunked", **site.headers("phm")}
    sent, pulled = raw_request(site.client, "POST", "/v1/score", headers, attack_body())
    assert status_of(sent) == 413
    assert BODY_LIMIT < pulled <= BODY_LIMIT + len(CHUNK)


def test_a_chunked_upload_to_the_sign_in_form_is_cut_at_the_small_public_limit(site: Site) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded", "transfer-encoding": "chunked"}
    sent, pulled = raw_request(site.client, "POST", "/pages/login", headers, attack_body())
    assert status_of(sent) == 413
    assert pulled == len(CHUNK)  # one chunk is already past the 16 KiB a token-less body may have


def test_malformed_json_without_a_token_gets_401_not_a_parse_error(site: Site) -> None:
    response = site.post("/v1/score", content=b'{"rows": [', headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert "detail" not in response.json()


def test_a_declared_oversized_body_is_refused_without_reading_it(site: Site) -> None:
    headers = {"content-type": "application/json", "content-length": str(BODY_LIMIT + 1), **site.headers("phm")}
    sent, pulled = raw_request(site.client, "POST", "/v1/score", headers, attack_body())
    assert (status_of(sent), pulled) == (413, 0)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"-------"),  # the 7-byte request that gave a 500 and three tracebacks
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"rows\"\r\n\r\n[]\r\n--x--\r\n"),
        ("text/plain", b'{"rows": []}'),
        ("application/x-www-form-urlencoded", b"rows=1"),
        ("application/jsonx", b'{"rows": []}'),
    ],
)
def test_a_non_json_body_to_the_json_api_gets_415_and_no_traceback_in_the_logs(
    site: Site, content_type: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = site.post("/v1/score", "phm", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert "Content-Type must be application/json" in response.json()["error"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []


def test_a_json_content_type_with_a_charset_is_accepted(site: Site) -> None:
    payload = b'{"rows": [{"features": {' + b", ".join(f'"{f}": 0'.encode() for f in FEATURES) + b"}}]}"
    response = site.post("/v1/score", "phm", content=payload, headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200


def test_a_client_that_drops_its_upload_ends_the_request_quietly_at_info(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    headers = {"content-type": "application/json", "transfer-encoding": "chunked", **site.headers("phm")}
    with caplog.at_level(logging.DEBUG):
        sent, pulled = raw_request(site.client, "POST", "/v1/score", headers, attack_body(), disconnect_after=2)
    assert (sent, pulled) == ([], 2 * len(CHUNK))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []
    assert any(r.levelno == logging.INFO and "went away" in r.getMessage() for r in caplog.records)


# ---- 2. sessions, logout, CSRF ------------------------------------------------------------------


def login_form(client: TestClient) -> str:
    page = client.get("/pages/login")
    assert page.status_code == 200
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


def sign_in(site: Site, token: str = "alpha") -> str:
    """Sign in with the form; return the session cookie's value (the client keeps it)."""
    response = site.client.post("/pages/login", data={"token": site.tokens[token], "csrf_token": login_form(site.client)},
                                follow_redirects=False)
    assert response.status_code == 303
    return site.client.cookies["rr_session"]


def page_csrf(site: Site) -> str:
    return site.client.get("/pages/").text.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.fixture
def signed_out(site: Site) -> Iterator[Site]:
    site.client.cookies.clear()
    yield site
    site.client.cookies.clear()


def test_the_session_cookie_is_a_random_id_not_the_token_and_is_http_only_and_strict(signed_out: Site) -> None:
    site = signed_out
    response = site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": login_form(site.client)},
                                follow_redirects=False)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("rr_session="))
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert site.tokens["alpha"] not in cookie and site.token_id("alpha") not in session_id
    assert {"httponly", "samesite=strict", "path=/pages"} <= {p.strip().lower() for p in cookie.split(";")}
    assert "secure" not in cookie.lower()  # plain http test server; 'auto' marks it Secure over https


def test_after_logout_the_same_cookie_no_longer_opens_a_page(signed_out: Site) -> None:
    site = signed_out
    session_id = sign_in(site)
    person = site.listed("Alpha Vale")[0]
    assert site.client.get(f"/pages/people/{person}").status_code == 200
    out = site.client.post("/pages/logout", data={"csrf_token": page_csrf(site)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/pages/login")
    site.client.cookies.clear()
    replay = site.client.get(f"/pages/people/{person}", cookies={"rr_session": session_id}, follow_redirects=False)
    assert (replay.status_code, replay.headers["location"]) == (303, f"/pages/login?next=%2Fpages%2Fpeople%2F{person}")


def test_logout_is_a_post_with_the_sessions_csrf_token(signed_out: Site) -> None:
    site = signed_out
    sign_in(site)
    assert site.client.get("/pages/logout").status_code == 405
    forged = site.client.post("/pages/logout", data={"csrf_token": "guess"}, follow_redirects=False)
    assert forged.status_code == 403
    assert site.client.get("/pages/", follow_redirects=False).status_code == 200  # still signed in


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}, {"Sec-Fetch-Site": "same-site"}],
)
def test_a_cross_site_sign_in_or_logout_is_refused(signed_out: Site, headers: dict[str, str]) -> None:
    site = signed_out
    login = site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": login_form(site.client)},
                             headers=headers, follow_redirects=False)
    assert login.status_code == 403
    assert "rr_session" not in site.client.cookies
    sign_in(site)
    logout = site.client.post("/pages/logout", data={"csrf_token": page_csrf(site)}, headers=headers, follow_redirects=False)
    assert logout.status_code == 403


def test_a_same_origin_sign_in_from_the_browser_is_accepted(signed_out: Site) -> None:
    site = signed_out
    headers = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": login_form(site.client)},
                                headers=headers, follow_redirects=False)
    assert response.status_code == 303


def test_sign_in_without_the_forms_signed_nonce_is_refused_as_login_csrf(signed_out: Site) -> None:
    site = signed_out
    token = login_form(site.client)
    site.client.cookies.clear()  # an attacker's page has the form token but not the victim's nonce cookie
    response = site.client.post("/pages/login", data={"token": site.tokens["alpha"], "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 403
    assert "rr_session" not in response.headers.get("set-cookie", "")
    missing = site.client.post("/pages/login", data={"token": site.tokens["alpha"]}, follow_redirects=False)
    assert missing.status_code == 403


def test_sessions_end_after_the_idle_time_and_after_the_absolute_time(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "db.sqlite")
    upgrade(url)
    engine = create_database_engine(url)
    now = [datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)]
    policy = SessionPolicy(absolute=timedelta(hours=8), idle=timedelta(minutes=30), clock=lambda: now[0])
    idle_id, _ = create_session(engine, "tok1", policy)
    busy_id, session = create_session(engine, "tok1", policy)
    assert session.expires_at == datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)
    for minutes in range(0, 8 * 60 - 20, 20):  # the busy session is used every 20 minutes
        now[0] = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes + 20)
        assert find_session(engine, busy_id, policy) is not None
    assert find_session(engine, idle_id, policy) is None  # idle far longer than 30 minutes
    now[0] = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)
    assert find_session(engine, busy_id, policy) is None  # 8 hours after sign-in, however active
    assert purge_sessions(engine, policy) == 0  # both rows were deleted when found expired
    engine.dispose()


def test_the_database_keeps_only_the_hash_of_a_session_id(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "db.sqlite")
    upgrade(url)
    engine = create_database_engine(url)
    session_id, session = create_session(engine, "tok1", SessionPolicy(timedelta(hours=1), timedelta(minutes=5)))
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id_hash, token_id FROM sessions").all()
    assert rows == [(session.id_hash, "tok1")]
    assert session_id not in str(rows) and len(session.id_hash) == 64
    engine.dispose()


def test_the_sign_in_nonce_signature_checks_out_only_with_its_own_nonce_and_key() -> None:
    key, other = b"k" * 32, b"o" * 32
    nonce, token = login_csrf(key)
    assert check_login_csrf(key, nonce, token)
    assert not check_login_csrf(other, nonce, token)
    assert not check_login_csrf(key, login_csrf(key)[0], token)
    assert not check_login_csrf(key, None, token)


def test_cross_origin_checks_accept_same_origin_and_missing_headers_only() -> None:
    assert cross_origin_problem({}, "rr.example:3000") is None
    assert cross_origin_problem({"origin": "https://rr.example:3000", "sec-fetch-site": "same-origin"}, "rr.example:3000") is None
    assert cross_origin_problem({"sec-fetch-site": "none"}, "rr.example:3000") is None
    assert cross_origin_problem({"origin": "null", "sec-fetch-site": "same-origin"}, "rr.example:3000") is None
    assert "Origin" in str(cross_origin_problem({"origin": "null"}, "rr.example:3000"))
    assert "Origin" in str(cross_origin_problem({"origin": "https://rr.example"}, "rr.example:3000"))
    assert "Sec-Fetch-Site" in str(cross_origin_problem({"sec-fetch-site": "cross-site"}, "rr.example:3000"))


# ---- 3. need-to-know, audit of lookups, rate limits -----------------------------------------------


def test_an_unlisted_resident_looks_exactly_like_a_person_who_does_not_exist(site: Site) -> None:
    unlisted = site.unlisted("Alpha Vale")[-1]
    hidden = site.get(f"/v1/people/{unlisted}/explanation", "alpha")
    missing = site.get("/v1/people/P9999999/explanation", "alpha")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert site.get(f"/pages/people/{unlisted}", "alpha").status_code == 404
    assert site.get(f"/v1/people/{unlisted}/explanation", "phm").status_code == 200


def test_people_on_the_current_and_recent_lists_are_open_to_their_team(site: Site) -> None:
    current = site.listed("Alpha Vale")
    earlier = [p for p in site.home.publications.iterdir() if p.is_dir() and p.name != site.publication.id]
    from serving.publish import load_publication

    previous = load_publication(site.home, earlier[0].name).lists()
    recent = sorted(set(previous[previous["neighbourhood"] == "Alpha Vale"]["person_id"]) - set(current))
    assert len(current) == 2 and len(recent) == 2
    for person in current + recent:
        assert site.get(f"/v1/people/{person}/explanation", "alpha").status_code == 200
    reasons = [e.detail["lookup"] for e in site.audit()[-4:]]
    assert reasons == ["listed", "listed", "recently_listed", "recently_listed"]


def test_a_person_on_the_teams_caseload_is_open_to_it(site: Site) -> None:
    person = [p for p in site.unlisted("Alpha Vale") if p not in set(site.publication.lists()["person_id"])][-2]
    assert site.get(f"/v1/people/{person}/explanation", "alpha").status_code == 404
    log = AuditLog(database_url(site.home))
    record_action(log.engine, person_id=person, neighbourhood="Alpha Vale", action="reviewed", token_id=site.token_id("alpha"))
    log.close()
    assert site.get(f"/v1/people/{person}/explanation", "alpha").status_code == 200
    assert site.audit()[-1].detail == {"lookup": "caseload"}


def test_refused_person_lookups_are_audited_with_the_id_that_was_asked_for(site: Site) -> None:
    unlisted = site.unlisted("Alpha Vale")[0]
    brook = site.listed("Brook & Fen")[0]
    for person in (unlisted, brook, "P9999999"):
        site.get(f"/v1/people/{person}/explanation", "alpha")
    entries = site.audit()[-3:]
    assert [(e.token_id, e.endpoint, e.status, e.person_ids, e.detail) for e in entries] == [
        (site.token_id("alpha"), PERSON_ENDPOINT, 404, (), {"refused": "not_listed", "requested_person_id": unlisted}),
        (site.token_id("alpha"), PERSON_ENDPOINT, 404, (), {"refused": "out_of_scope", "requested_person_id": brook}),
        (site.token_id("alpha"), PERSON_ENDPOINT, 404, (), {"refused": "not_found", "requested_person_id": "P9999999"}),
    ]


def test_repeated_404s_from_one_token_raise_a_warning_in_the_audit_summary(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    for i in range(5):
        log.record(token_id="t-enum", endpoint=PERSON_ENDPOINT, neighbourhood=None, status=404, publication_id="p",
                   detail={"refused": "not_listed", "requested_person_id": f"P{i}"})
    log.record(token_id="t-enum", endpoint="GET /v1/neighbourhoods/{neighbourhood}/list", neighbourhood="A", status=404, publication_id="p")
    for _ in range(2):
        log.record(token_id="t-ok", endpoint=PERSON_ENDPOINT, neighbourhood="A", status=200, publication_id="p", person_ids=["P1"],
                   detail={"lookup": "outside_list"})
    log.record(token_id="t-ok", endpoint=PERSON_ENDPOINT, neighbourhood=None, status=429, publication_id="p")
    summary = summarise_audit(log, not_found_warning=5)
    log.close()
    by_token = {a.token_id: a for a in summary.tokens}
    assert [a.token_id for a in summary.tokens] == ["t-enum", "t-ok"]
    enum, ok = by_token["t-enum"], by_token["t-ok"]
    assert (enum.requests, enum.person_lookups, enum.not_found, enum.refused, enum.outside_list) == (6, 5, 5, 6, 0)
    assert (ok.requests, ok.person_lookups, ok.outside_list, ok.rate_limited) == (3, 3, 2, 1)
    assert len(summary.warnings) == 2
    assert summary.warnings[0].startswith("token t-enum: 5 person lookups answered 404")
    assert summary.warnings[1].startswith("token t-ok: rate limited 1 times")


# ---- 5. small leaks -----------------------------------------------------------------------------


def test_a_foreign_host_header_is_refused(site: Site) -> None:
    response = site.get("/v1/model", "phm", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert site.get("/livez", headers={"Host": "evil.example"}).status_code == 400


def test_metrics_need_a_phm_token(site: Site) -> None:
    assert [site.get("/metrics", t).status_code for t in (None, "alpha", "phm")] == [401, 403, 200]


def test_the_model_card_shows_no_server_paths(site: Site) -> None:
    card = site.get("/v1/model/card", "alpha")
    assert card.status_code == 200
    assert "/srv/risingrisk" not in card.text
    assert f"- Data directory: `{PATH_PLACEHOLDER}` (contract v1)" in card.text
    assert "![AUROC](figures/auroc.png)" in card.text


def test_server_paths_are_withheld_but_urls_and_relative_paths_kept() -> None:
    text = "data `/srv/x/data`, C:\\Users\\me\\data, file:///srv/a/b, ~/x/y; see https://example.org/a/b and figures/a.png, 3/4"
    assert redact_paths(text) == (
        f"data `{PATH_PLACEHOLDER}`, {PATH_PLACEHOLDER}, {PATH_PLACEHOLDER}, {PATH_PLACEHOLDER}; "
        "see https://example.org/a/b and figures/a.png, 3/4"
    )


def test_two_authorization_headers_are_refused_with_400(site: Site) -> None:
    headers = [(b"authorization", f"Bearer {site.tokens['alpha']}".encode()), (b"authorization", f"Bearer {site.tokens['phm']}".encode())]
    response = site.client.get("/v1/model", headers=headers)
    assert response.status_code == 400
    assert "one Authorization header" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"rows": [{"features": {**{f: 0.0 for f in FEATURES}, "sn_lives_alone": True}}]},
        {"rows": [{"features": {**{f: 0.0 for f in FEATURES}, "age": "42"}}]},
        {"rows": [{"features": {f: 0.0 for f in FEATURES}}], "debug": True},
        {"rows": [{"features": {f: 0.0 for f in FEATURES}, "weight": 2}]},
        {"rows": [{"row_id": 7, "features": {f: 0.0 for f in FEATURES}}]},
    ],
)
def test_score_rows_refuse_booleans_strings_for_numbers_and_unknown_keys(site: Site, body: dict[str, Any]) -> None:
    response = site.post("/v1/score", "phm", json=body)
    assert response.status_code in (400, 422)
    assert response.json()["error"]


@pytest.mark.parametrize("path", ["/v1/model", "/v1/score", "/livez", "/pages/login", "/v1/nothing"])
def test_no_response_advertises_the_server_or_its_version(site: Site, path: str) -> None:
    response = site.get(path, "phm")
    assert "server" not in {k.lower() for k in response.headers}
    assert "bentoml" not in str(response.headers).lower()
    assert response.headers["x-content-type-options"] == "nosniff"


# ---- separately configured services, kept last: BentoML's current service is process-wide, so a ----
# ---- service started here would answer the module's `site` requests if they came after it ---------


def test_revoking_a_token_ends_its_page_sessions(tmp_path: Path, model: TestModel) -> None:
    for site in start_site(tmp_path, model):
        sign_in(site)
        assert site.client.get("/pages/", follow_redirects=False).status_code == 200
        TokenStore(site.home.tokens).revoke(site.token_id("alpha"))
        response = site.client.get("/pages/", follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/pages/login")
        log = AuditLog(database_url(site.home))
        assert end_token_sessions(log.engine, site.token_id("alpha")) == 0  # already ended
        log.close()


def test_the_wider_lookup_switch_opens_residents_and_audits_each_lookup_as_outside_the_list(tmp_path: Path, model: TestModel) -> None:
    config = ServiceConfig(security=SecurityConfig(lookup="neighbourhood", rate_per_second=0.0))
    for site in start_site(tmp_path, model, config):
        unlisted = site.unlisted("Alpha Vale")[-1]
        assert site.get(f"/v1/people/{unlisted}/explanation", "alpha").status_code == 200
        assert site.get(f"/v1/people/{site.listed('Brook & Fen')[0]}/explanation", "alpha").status_code == 404
        entries = site.audit()
        assert [(e.status, e.person_ids, e.detail) for e in entries[-2:]] == [
            (200, (unlisted,), {"lookup": "outside_list"}),
            (404, (), {"refused": "out_of_scope", "requested_person_id": site.listed("Brook & Fen")[0]}),
        ]


def test_a_token_over_its_rate_gets_429_with_retry_after_and_the_refusal_is_audited(tmp_path: Path, model: TestModel) -> None:
    config = ServiceConfig(security=SecurityConfig(rate_per_second=0.01, rate_burst=3))
    for site in start_site(tmp_path, model, config):
        statuses = [site.get(f"/v1/people/P{i:07d}/explanation", "alpha").status_code for i in range(1, 6)]
        assert statuses[3:] == [429, 429]
        limited = site.get("/v1/model", "alpha")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "100")
        assert site.get("/v1/model", "brook").status_code == 200  # buckets are per token
        assert sum(e.status == 429 for e in site.audit()) == 3


def test_a_token_limit_is_shared_by_two_service_workers_on_one_database(tmp_path: Path, model: TestModel) -> None:
    config = ServiceConfig(security=SecurityConfig(rate_per_second=0.01, rate_burst=3))
    for site in start_site(tmp_path, model, config):
        headers = site.headers("alpha")
        with TestClient(service_app(site.home, model, config), raise_server_exceptions=False) as second_worker:
            statuses = [(site.client if i % 2 == 0 else second_worker).get("/v1/model", headers=headers).status_code for i in range(5)]
        assert statuses == [200, 200, 200, 429, 429]


def test_a_rate_limit_the_database_cannot_count_answers_503_not_500(tmp_path: Path, model: TestModel, caplog: pytest.LogCaptureFixture) -> None:
    config = ServiceConfig(security=SecurityConfig(rate_per_second=1.0, rate_burst=3))
    for site in start_site(tmp_path, model, config):
        engine = create_database_engine(database_url(site.home))
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE rate_buckets")
        engine.dispose()
        with caplog.at_level(logging.WARNING, logger="serving.gate"):
            response = site.get("/v1/model", "alpha")
        assert (response.status_code, response.json()["error"]) == (
            503, "the service's database is unavailable, so requests cannot be counted; try again shortly")
        assert [r.getMessage() for r in caplog.records if r.name == "serving.gate"] == [
            "rate limit check failed, request refused with 503: OperationalError"]
        assert site.get("/v1/model", "phm").status_code == 200  # PHM tokens are not limited by default


def test_trailing_slash_redirects_never_name_the_client_supplied_host(tmp_path: Path, model: TestModel) -> None:
    config = ServiceConfig(security=SecurityConfig(trusted_hosts=["*"], rate_per_second=0.0))
    for site in start_site(tmp_path, model, config):
        response = site.get("/pages", "phm", headers={"Host": "evil.example"}, follow_redirects=False)
        assert response.status_code in (301, 307, 308)
        assert response.headers["location"] == "/pages/"
