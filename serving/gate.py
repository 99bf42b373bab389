"""The security gate in front of every route: host, token or session, rate limit, origin, content type, then the body.

FastAPI parses a body before a route's dependencies run, so authentication in a route comes too
late to protect memory: this ASGI middleware decides from the headers alone, then reads the body
itself, counting the bytes actually received (chunked included), and hands the route a replay.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from serving.auth import PRINCIPAL_KEY, Principal
from serving.csrf import SESSION_KEY, cross_origin_problem
from serving.live import LiveState, current_live
from serving.middleware import replay_body, route_template
from serving.rate_limit import TokenBuckets
from serving.responses import error_response
from serving.security_config import SecurityConfig
from serving.sessions import SESSION_COOKIE, Session, SessionPolicy, end_token_sessions, find_session

__all__ = ["LOGIN_PATH", "PAGE_CSP", "SecurityGateMiddleware", "host_name", "login_redirect", "session_policy"]

logger = logging.getLogger(__name__)

#: The sign-in form: the only page reached without a token or session.
LOGIN_PATH = "/pages/login"

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
_PRIVATE_HEADERS = [(b"cache-control", b"no-store")]
#: Pages load only the service's own stylesheets and images: no script at all, no inline style, nothing from elsewhere.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_PAGE_HEADERS = [(b"content-security-policy", PAGE_CSP.encode())]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def session_policy(config: SecurityConfig) -> SessionPolicy:
    """The session lifetimes of ``config``."""
    return SessionPolicy(absolute=timedelta(minutes=config.session_absolute_minutes), idle=timedelta(minutes=config.session_idle_minutes))


def host_name(host: str) -> str:
    """The name of a ``Host`` header without its port (``[::1]:3000`` -> ``::1``), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def login_redirect(scope: dict[str, Any]) -> str:
    """The sign-in form's URL, naming the requested page as ``next`` for a GET (sign-in returns there)."""
    if scope.get("method", "GET") != "GET" or scope["path"] in ("/pages", "/pages/"):
        return LOGIN_PATH
    path = (scope.get("raw_path") or quote(scope["path"]).encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{LOGIN_PATH}?next={quote(path + (f'?{query}' if query else ''), safe='')}"


def _protected(path: str) -> bool:
    return path == "/metrics" or path in ("/v1", "/pages") or path.startswith(("/v1/", "/pages/"))


def _cookie(raw: str | None, name: str) -> str | None:
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class SecurityGateMiddleware:
    """Refuse a request from its headers before any body byte is read, then read the body within its limit.

    In order: a printable path (400); trusted ``Host`` (400); one ``Authorization`` header at most (400); a valid bearer
    token, or a page session cookie on ``/pages`` (401, or a redirect to sign-in); the token's rate
    limit, shared by every worker through the database (429 with ``Retry-After``, audited; 503 if the database
    cannot count); same-origin state-changing page requests (403); JSON
    bodies on ``/v1`` and form bodies on ``/pages`` (415); then the body, counted as it arrives
    (413 past ``max_body_bytes``, or ``public_body_bytes`` without a token). A client that goes away
    mid-body ends the request quietly (INFO). Responses lose ``Server`` banners, get relative
    redirects and security headers. The principal and session are left in the ASGI scope
    (:data:`~serving.auth.PRINCIPAL_KEY`, :data:`~serving.csrf.SESSION_KEY`).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._buckets: dict[tuple[float, int, Engine], TokenBuckets] = {}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        live = current_live()
        refused = self._check(scope, live)
        if refused is not None:
            await self._respond(refused, scope, receive, send)
            return
        body = await self._read_body(scope, receive, send, live)
        if body is None:
            return
        await self.app(scope, replay_body(body, receive), self._guard_send(scope, send))

    # ---- decisions from the headers --------------------------------------------------------

    def _check(self, scope: dict[str, Any], live: LiveState) -> Response | None:
        config = live.config.security
        path, method = scope["path"], scope.get("method", "GET")
        page = path == "/pages" or path.startswith("/pages/")
        headers: dict[str, str] = {}
        authorizations = 0
        for name, value in scope.get("headers") or []:
            key = name.decode("latin-1").lower()
            authorizations += key == "authorization"
            headers.setdefault(key, value.decode("latin-1"))
        host = headers.get("host", "")
        if not path.isprintable():
            # the router cannot match such a path (BentoML would answer a bare text 404): refuse it in the API's shape
            return self._refusal(live, page, 400, "the path must not contain control characters; percent-encode only printable text")
        if "*" not in config.trusted_hosts and host_name(host) not in {h.lower() for h in config.trusted_hosts}:
            return error_response(400, "the Host header must name this service (see security.trusted_hosts); address it by its published name")
        if authorizations > 1:
            return error_response(400, f"a request must carry one Authorization header; got {authorizations}. Send the bearer token once")
        principal: Principal | None = None
        session: Session | None = None
        state = live.current()
        if "authorization" in headers:
            principal = state.tokens.authenticate(headers["authorization"])
        elif page:
            session_id = _cookie(headers.get("cookie"), SESSION_COOKIE)
            if session_id:
                session = find_session(state.audit.engine, session_id, session_policy(config))
                principal = state.tokens.principal_of(session.token_id) if session is not None else None
                if session is not None and principal is None:
                    end_token_sessions(state.audit.engine, session.token_id)  # its token was revoked
                    session = None
        public = not _protected(path) or (page and path == LOGIN_PATH)
        if principal is None and not public:
            if page:
                return RedirectResponse(login_redirect(scope), status_code=303)
            return error_response(401, "a valid bearer token is required: send Authorization: Bearer <token>")
        if principal is not None:
            try:
                wait = self._bucket(config, principal.is_phm, state.audit.engine).take(principal.token_id)
            except SQLAlchemyError as error:
                logger.warning("rate limit check failed, request refused with 503: %s", type(error).__name__)
                return self._refusal(live, page, 503, "the service's database is unavailable, so requests cannot be counted; try again shortly")
            if wait > 0:
                endpoint = f"{method} {route_template(path)}"
                state.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=None, status=429, publication_id=state.publication_id)
                response = self._refusal(live, page, 429, f"too many requests from this token; wait {TokenBuckets.retry_after(wait)} s and try again")
                response.headers["retry-after"] = TokenBuckets.retry_after(wait)
                return response
        if page and method in _UNSAFE_METHODS:
            problem = cross_origin_problem(headers, host)
            if problem is not None:
                return self._refusal(live, page, 403, problem)
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")
        if method in _BODY_METHODS and (has_body or "content-type" in headers):
            wanted = _FORM if page else _JSON
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media != wanted:
                return self._refusal(live, page, 415, f"Content-Type must be {wanted}; got {media or 'none'}. Send the body as {wanted}")
        limit = live.config.max_body_bytes if principal is not None else config.public_body_bytes
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return self._refusal(live, page, 413, f"request bodies must be at most {limit} bytes; got {length[:20]}. Split the batch.")
        scope[PRINCIPAL_KEY] = principal
        scope[SESSION_KEY] = session
        scope["risingrisk.body_limit"] = limit
        return None

    def _bucket(self, config: SecurityConfig, phm: bool, database: Engine) -> TokenBuckets:
        rate = config.phm_rate_per_second if phm else config.rate_per_second
        key = (rate, config.rate_burst, database)
        if key not in self._buckets:
            self._buckets[key] = TokenBuckets(rate, config.rate_burst, database=database)
        return self._buckets[key]

    @staticmethod
    def _refusal(live: LiveState, page: bool, status: int, message: str) -> Response:
        if page:
            return HTMLResponse(live.pages.error(status=status, message=message), status_code=status)
        return error_response(status, message)

    # ---- the body ----------------------------------------------------------------------------

    async def _read_body(self, scope: dict[str, Any], receive: Receive, send: Send, live: LiveState) -> bytes | None:
        limit = int(scope["risingrisk.body_limit"])
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                logger.info("client went away while sending %s %s; request dropped", scope.get("method"), route_template(scope["path"]))
                return None
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                page = scope["path"].startswith("/pages")
                refusal = self._refusal(live, page, 413, f"request bodies must be at most {limit} bytes; got more than that. Split the batch.")
                await self._respond(refusal, scope, receive, send)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # ---- responses -------------------------------------------------------------------------

    async def _respond(self, response: Response, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await response(scope, receive, self._guard_send(scope, send))

    @staticmethod
    def _guard_send(scope: dict[str, Any], send: Send) -> Send:
        path = scope["path"]
        extra = list(_COMMON_HEADERS)
        if _protected(path):
            extra += _PRIVATE_HEADERS
        if path.startswith("/pages"):
            extra += _PAGE_HEADERS

        async def guarded(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers") or []:
                    lowered = name.lower()
                    if lowered == b"server":
                        continue  # no server or version banners
                    if lowered == b"location":
                        value = _relative(value)
                    headers.append((name, value))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        return guarded


def _relative(location: bytes) -> bytes:
    """A redirect target without scheme and host: redirects never name a host taken from the request."""
    parts = urlsplit(location.decode("latin-1"))
    if not parts.scheme and not parts.netloc:
        return location
    # one leading slash: "//evil.example" would be another host again
    return ("/" + parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
