"""The clinician pages' routes: sign in (CSRF-checked) to a server-side session, sign out, the lists a token may see, a list, a person."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.csrf import CSRF_FIELD, LOGIN_COOKIE, SESSION_KEY, check_csrf, check_login_csrf, csrf_token, login_csrf, signing_key
from serving.gate import LOGIN_PATH, session_policy
from serving.live import LiveState, current_live, require_principal
from serving.sessions import SESSION_COOKIE, Session, create_session, end_session, purge_sessions

__all__ = ["SIGNING_KEY_FILE", "page_csrf", "router"]

#: File in the risingrisk home holding the key that signs sign-in form nonces (created on first use).
SIGNING_KEY_FILE = "pages.key"

router = APIRouter(include_in_schema=False)


def page_csrf(request: Request) -> str | None:
    """The CSRF token of the request's page session, for templates (None without a session, e.g. a bearer header)."""
    session = request.scope.get(SESSION_KEY)
    return csrf_token(session) if isinstance(session, Session) else None


def _secure(request: Request, live: LiveState) -> bool:
    mode = live.config.security.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def _login_form(request: Request, live: LiveState, *, message: str | None = None, status: int = 200) -> HTMLResponse:
    nonce, form_token = login_csrf(signing_key(live.state.home.root / SIGNING_KEY_FILE))
    response = HTMLResponse(live.pages.login(form_token=form_token, message=message), status_code=status)
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict", secure=_secure(request, live), path=LOGIN_PATH
    )
    return response


@router.get("/pages/login", response_class=HTMLResponse)
def login_form(request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """The sign-in form, with a fresh signed CSRF nonce in a cookie and its signature in the form."""
    return _login_form(request, live)


@router.post("/pages/login")
async def login(request: Request, live: LiveState = Depends(current_live)) -> Response:
    """Check the form's CSRF signature and the posted token; open a server-side session (the cookie holds its id only)."""
    state = live.current()
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    key = signing_key(state.home.root / SIGNING_KEY_FILE)
    if not check_login_csrf(key, request.cookies.get(LOGIN_COOKIE), (form.get(CSRF_FIELD) or [""])[0]):
        return _login_form(request, live, message="The sign-in form expired or came from elsewhere; sign in again here.", status=403)
    token = (form.get("token") or [""])[0].strip()
    principal = state.tokens.authenticate(f"Bearer {token}")
    if principal is None:
        return _login_form(request, live, message="That token is not valid (or was revoked).", status=401)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        end_session(state.audit.engine, previous)  # a new sign-in never reuses an old session id
    policy = session_policy(live.config.security)
    purge_sessions(state.audit.engine, policy)  # sessions abandoned past their expiry
    session_id, _ = create_session(state.audit.engine, principal.token_id, policy)
    response = RedirectResponse("/pages/", status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict", secure=_secure(request, live), path="/pages")
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/pages/logout")
def logout(request: Request, live: LiveState = Depends(current_live), _form: dict[str, list[str]] = Depends(check_csrf)) -> Response:
    """End the page session (CSRF-checked) and go back to the sign-in form."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        end_session(live.current().audit.engine, session_id)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/pages")
    return response


@router.get("/pages/", response_class=HTMLResponse)
def pages_index(request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """The neighbourhoods whose lists the token may see."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    store = state.require_store()
    names = sorted(n for n in set(store.lists) | set(store.neighbourhoods) if principal.may_see(n))
    return HTMLResponse(live.pages.index(neighbourhoods=names, scope=principal.scope_label, csrf=page_csrf(request)))


@router.get("/pages/neighbourhoods/{neighbourhood}", response_class=HTMLResponse)
def list_page(neighbourhood: str, request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """A neighbourhood's ranked list (audited like the API)."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    data = state.neighbourhood_list(principal, neighbourhood, "GET /pages/neighbourhoods/{neighbourhood}")
    return HTMLResponse(live.pages.neighbourhood_list(data, csrf=page_csrf(request)))


@router.get("/pages/people/{person_id}", response_class=HTMLResponse)
def person_page(person_id: str, request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """A person's reasons chart, timeline and data freshness (audited like the API)."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    data = state.explanation(principal, person_id, "GET /pages/people/{person_id}")
    return HTMLResponse(live.pages.person(data, csrf=page_csrf(request)))
