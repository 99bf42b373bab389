"""CSRF defences of the clinician pages: same-origin checks, the session's synchronizer token, the sign-in form's signed cookie."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException, Request

from serving.errors import SessionError
from serving.sessions import Session

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "SESSION_KEY",
    "check_csrf",
    "check_login_csrf",
    "cross_origin_problem",
    "csrf_token",
    "login_csrf",
    "signing_key",
]

#: Form field (hidden input) carrying the CSRF token of a page form.
CSRF_FIELD = "csrf_token"
#: Header a script may send the CSRF token in instead of the form field.
CSRF_HEADER = "x-csrf-token"
#: Cookie of the sign-in form's nonce (signed double submit: the form holds its HMAC).
LOGIN_COOKIE = "rr_login_csrf"
#: ASGI scope key under which the security gate leaves the request's page :class:`~serving.sessions.Session`.
SESSION_KEY = "risingrisk.session"

_KEY_BYTES = 32
_SAFE_FETCH_SITES = frozenset({"same-origin", "none"})


def csrf_token(session: Session) -> str:
    """The CSRF token every form of ``session``'s pages must post back (field :data:`CSRF_FIELD`)."""
    return session.csrf_secret


def cross_origin_problem(headers: Mapping[str, str], host: str) -> str | None:
    """Why a state-changing page request looks cross-site (``Sec-Fetch-Site``/``Origin`` against ``host``); None if it does not.

    ``Sec-Fetch-Site`` decides when present (browsers set it; scripts cannot); otherwise ``Origin``
    must name ``host``. A request with neither (a script or an old browser) is left to the CSRF token.
    """
    site = headers.get("sec-fetch-site")
    if site is not None:
        # set by the browser itself (scripts cannot forge it); trusted over Origin, which is "null" under no-referrer policies
        if site.lower() in _SAFE_FETCH_SITES:
            return None
        return f"Sec-Fetch-Site must be same-origin; got {site!r}. Submit the form from this service's own pages."
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc.lower() != host.lower():
            return f"Origin must be this service ({host}); got {origin!r}. Submit the form from this service's own pages."
    return None


def _form(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


async def check_csrf(request: Request) -> dict[str, list[str]]:
    """FastAPI dependency of every page form: 403 unless its CSRF token matches the session's; returns the parsed form.

    The token comes from the form field :data:`CSRF_FIELD` (``application/x-www-form-urlencoded``)
    or the header :data:`CSRF_HEADER`; the session is the one the security gate found for the
    request's cookie (401, i.e. back to sign-in, without one). Origin and ``Sec-Fetch-Site`` were
    already checked by the gate.
    """
    session = request.scope.get(SESSION_KEY)
    if not isinstance(session, Session):
        raise HTTPException(401, "sign in first: this form needs a page session")
    form = _form(await request.body())
    sent = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) or [""])[0]
    if not hmac.compare_digest(sent.encode(), csrf_token(session).encode()):
        raise HTTPException(403, "the form's CSRF token must match your session; reload the page and submit it again")
    return form


def signing_key(path: Path) -> bytes:
    """The key signing sign-in form nonces, kept in ``path`` (created once, mode 0600, shared by every worker)."""
    if not path.exists():
        # write aside, then link into place: a worker racing us reads a complete key, never a half-written one
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(_KEY_BYTES))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_bytes()
    if len(key) < _KEY_BYTES:
        raise SessionError(
            f"the pages' signing key {path} must hold at least {_KEY_BYTES} bytes; got {len(key)}. Delete it; the service recreates it."
        )
    return key


def _sign(key: bytes, nonce: str) -> str:
    return hmac.new(key, f"login:{nonce}".encode(), hashlib.sha256).hexdigest()


def login_csrf(key: bytes) -> tuple[str, str]:
    """A fresh (cookie nonce, form token) pair for the sign-in form: the token is the nonce's HMAC under ``key``."""
    nonce = secrets.token_urlsafe(_KEY_BYTES)
    return nonce, _sign(key, nonce)


def check_login_csrf(key: bytes, nonce: str | None, form_token: str) -> bool:
    """True when the sign-in form's token is the HMAC of the nonce in its cookie (signed double submit)."""
    if not nonce or len(nonce) > 200:
        return False
    return hmac.compare_digest(_sign(key, nonce).encode(), form_token.encode("utf-8", errors="replace"))
