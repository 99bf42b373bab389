"""The clinician pages' routes: sign in (CSRF-checked) to a server-side session, sign out, lists, a list and its CSV, a person and their actions, the model card and its figures."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from features.caseload import caseload, history, status_of
from features.config import FeatureConfig
from serving.card_page import FIGURE_TYPES, card_images, figure_file, render_card
from serving.caseload_models import ActionRequest
from serving.caseload_routes import export_response, record_for_person
from serving.csrf import CSRF_FIELD, LOGIN_COOKIE, SESSION_KEY, check_csrf, check_login_csrf, csrf_token, login_csrf, signing_key
from serving.gate import LOGIN_PATH, session_policy
from serving.list_view import band_labels, list_query, with_statuses
from serving.live import LiveState, current_live, require_principal
from serving.pages import PersonContext
from serving.redaction import redact_paths
from serving.state import ServingState
from serving.sessions import SESSION_COOKIE, Session, create_session, end_session, purge_sessions

__all__ = ["ACTION_ENDPOINT", "EXPORT_ENDPOINT", "FIGURE_PATH", "SIGNING_KEY_FILE", "page_csrf", "router", "safe_next"]

#: Audit endpoint names of the page routes that write or export.
ACTION_ENDPOINT = "POST /pages/people/{person_id}/actions"
EXPORT_ENDPOINT = "GET /pages/neighbourhoods/{neighbourhood}/list.csv"
#: Where the model card page's figures are served from (``/pages/model-card/figures/1`` is the card's first image).
FIGURE_PATH = "/pages/model-card/figures"
_NEXT = re.compile(r"/pages/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*")
_NEXT_MAX = 2000

#: File in the risingrisk home holding the key that signs sign-in form nonces (created on first use).
SIGNING_KEY_FILE = "pages.key"

router = APIRouter(include_in_schema=False)


def page_csrf(request: Request) -> str | None:
    """The CSRF token of the request's page session, for templates (None without a session, e.g. a bearer header)."""
    session = request.scope.get(SESSION_KEY)
    return csrf_token(session) if isinstance(session, Session) else None


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a local page to go to after sign-in (a ``/pages/`` path, no host, no scheme); else None (no open redirect)."""
    if not value or len(value) > _NEXT_MAX or _NEXT.fullmatch(value) is None or "//" in value or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in (LOGIN_PATH, "/pages/logout"):
        return None
    return value


def _outcome_window(state: ServingState) -> tuple[int, int]:
    """Months ahead the model predicts: its feature config's outcome window (the default config's for a model without one)."""
    config = getattr(state.model, "feature_config", None)
    window = (config if isinstance(config, FeatureConfig) else FeatureConfig()).outcome_window
    return int(window[0]), int(window[1])


def _secure(request: Request, live: LiveState) -> bool:
    mode = live.config.security.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def _login_form(
    request: Request, live: LiveState, *, message: str | None = None, status: int = 200, next_path: str | None = None
) -> HTMLResponse:
    nonce, form_token = login_csrf(signing_key(live.state.home.root / SIGNING_KEY_FILE))
    response = HTMLResponse(live.pages.login(form_token=form_token, message=message, next_path=next_path), status_code=status)
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict", secure=_secure(request, live), path=LOGIN_PATH
    )
    return response


@router.get("/pages/login", response_class=HTMLResponse)
def login_form(request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """The sign-in form, with a fresh signed CSRF nonce in a cookie and its signature in the form; ``next`` = the page asked for."""
    return _login_form(request, live, next_path=safe_next(request.query_params.get("next")))


@router.post("/pages/login")
async def login(request: Request, live: LiveState = Depends(current_live)) -> Response:
    """Check the form's CSRF signature and the posted token; open a server-side session (the cookie holds its id only)."""
    state = live.current()
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    key = signing_key(state.home.root / SIGNING_KEY_FILE)
    next_path = safe_next((form.get("next") or [""])[0])
    if not check_login_csrf(key, request.cookies.get(LOGIN_COOKIE), (form.get(CSRF_FIELD) or [""])[0]):
        return _login_form(request, live, message="The sign-in form expired or came from elsewhere; sign in again here.", status=403,
                           next_path=next_path)
    token = (form.get("token") or [""])[0].strip()
    principal = state.tokens.authenticate(f"Bearer {token}")
    if principal is None:
        return _login_form(request, live, message="That token is not valid (or was revoked).", status=401, next_path=next_path)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        end_session(state.audit.engine, previous)  # a new sign-in never reuses an old session id
    policy = session_policy(live.config.security)
    purge_sessions(state.audit.engine, policy)  # sessions abandoned past their expiry
    session_id, _ = create_session(state.audit.engine, principal.token_id, policy)
    response = RedirectResponse(next_path or "/pages/", status_code=303)
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
    """A neighbourhood's ranked list with current statuses, filtered and sorted by the query parameters (audited like the API)."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    data = state.neighbourhood_list(principal, neighbourhood, "GET /pages/neighbourhoods/{neighbourhood}")
    people = with_statuses(data["people"], {p.person_id: p for p in caseload(state.audit.engine, [neighbourhood])})
    query = list_query(dict(request.query_params), band_labels(live.pages.config.band_multiples))
    age = state.staleness()
    page = live.pages.neighbourhood_list(
        {**data, "people": people}, average=state.average_score(), outcome_window=_outcome_window(state), query=query,
        stale=age if age is not None and age.stale else None, csrf=page_csrf(request),
    )
    return HTMLResponse(page)


@router.get("/pages/neighbourhoods/{neighbourhood}/list.csv")
def list_csv_page(neighbourhood: str, request: Request, live: LiveState = Depends(current_live)) -> Response:
    """The list as CSV for a signed-in team (the same export as the API's list.csv; audited)."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    return export_response(state, principal, neighbourhood, EXPORT_ENDPOINT)


def _model_card(state: ServingState) -> tuple[Path, str]:
    """The loaded model's card file and its Markdown with server file paths withheld; 404 without a card."""
    card = getattr(state.model, "model_card_path", None)
    if card is None or not Path(card).exists():
        raise HTTPException(404, "the loaded model has no model card; ask the PHM team to re-run risingrisk train")
    return Path(card), redact_paths(Path(card).read_text(encoding="utf-8", errors="replace"))


@router.get("/pages/model-card", response_class=HTMLResponse)
def model_card_page(request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """The loaded model's card for a signed-in clinician, rendered from its Markdown, with server file paths withheld."""
    state = live.current()
    require_principal(state, request, cookie=True)
    card, text = _model_card(state)
    figures = {source: f"{FIGURE_PATH}/{number}" for number, source in enumerate(card_images(text), 1) if figure_file(card, source)}
    return HTMLResponse(live.pages.model_card(card=render_card(text, figures=figures), csrf=page_csrf(request)))


@router.get(FIGURE_PATH + "/{number}")
def model_card_figure(number: str, request: Request, live: LiveState = Depends(current_live)) -> Response:
    """The card's figure ``number`` (1 = its first image), if it is an image file of the training run; else 404 (any other text too)."""
    state = live.current()
    require_principal(state, request, cookie=True)
    card, text = _model_card(state)
    source = {str(n): s for n, s in enumerate(card_images(text), 1)}.get(number)
    path = figure_file(card, source) if source is not None else None
    if path is None:
        raise HTTPException(404, f"the model card has no figure {number} to show; its figures are numbered from 1 in the card's order")
    return Response(path.read_bytes(), media_type=FIGURE_TYPES[path.suffix.lower()])


def _person_page(request: Request, live: LiveState, person_id: str, *, form_error: str | None = None, status: int = 200,
                 recorded: bool = False) -> HTMLResponse:
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    data = state.explanation(principal, person_id, "GET /pages/people/{person_id}")
    values = state.person_values(person_id)
    average, label = state.average_for_age(values.get("age"), live.pages.config.age_band_years)
    records = history(state.audit.engine, person_id)
    latest = status_of(records)
    context = PersonContext(
        values=values, specs=state.specs, average=average, average_label=label,
        actions=[{"recorded_at": r.recorded_at.isoformat(), "action": r.action, "reason": r.reason, "note": r.note, "token_id": r.token_id}
                 for r in records],
        status=latest.status if latest else None, reasons=state.config.caseload.reasons, outcome_window=_outcome_window(state),
    )
    page = live.pages.person(data, context, csrf=page_csrf(request), form_error=form_error, recorded=recorded)
    return HTMLResponse(page, status_code=status)


@router.get("/pages/people/{person_id}", response_class=HTMLResponse)
def person_page(person_id: str, request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """A person's summary, reasons with evidence, timeline and the team's actions (audited like the API)."""
    return _person_page(request, live, person_id, recorded=request.query_params.get("recorded") == "1")


@router.post("/pages/people/{person_id}/actions")
def record_action_page(
    person_id: str, request: Request, live: LiveState = Depends(current_live), form: dict[str, list[str]] = Depends(check_csrf)
) -> Response:
    """Record an action from the person page's form (CSRF-checked), as the API does; back to the person page."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    field = {name: ((form.get(name) or [""])[0].strip() or None) for name in ("action", "reason", "note")}
    body = ActionRequest.model_construct(action=field["action"] or "", reason=field["reason"], note=field["note"])
    try:
        record_for_person(state, principal, person_id, body, idempotency_key=None, endpoint=ACTION_ENDPOINT)
    except HTTPException as error:
        if error.status_code not in (409, 422):
            raise
        return _person_page(request, live, person_id, form_error=str(error.detail), status=error.status_code)
    return RedirectResponse(f"/pages/people/{quote(person_id)}?recorded=1#actions", status_code=303)
