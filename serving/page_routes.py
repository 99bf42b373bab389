"""The clinician pages' routes: sign in and out with a token, the lists a token may see, a list, a person."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.live import COOKIE, LiveState, current_live, require_principal

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/pages/login", response_class=HTMLResponse)
def login_form(live: LiveState = Depends(current_live)) -> HTMLResponse:
    """The sign-in form."""
    return HTMLResponse(live.pages.login())


@router.post("/pages/login")
async def login(request: Request, live: LiveState = Depends(current_live)) -> Response:
    """Check the posted token and keep it in the session cookie."""
    state = live.current()
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    if state.tokens.authenticate(f"Bearer {token}") is None:
        return HTMLResponse(live.pages.login(message="That token is not valid (or was revoked)."), status_code=401)
    response = RedirectResponse("/pages/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.get("/pages/logout")
def logout() -> Response:
    """Forget the session cookie and go back to the sign-in form."""
    response = RedirectResponse("/pages/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/pages/", response_class=HTMLResponse)
def pages_index(request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """The neighbourhoods whose lists the token may see."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    store = state.require_store()
    names = sorted(n for n in set(store.lists) | set(store.neighbourhoods) if principal.may_see(n))
    return HTMLResponse(live.pages.index(neighbourhoods=names, scope=principal.scope_label))


@router.get("/pages/neighbourhoods/{neighbourhood}", response_class=HTMLResponse)
def list_page(neighbourhood: str, request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """A neighbourhood's ranked list (audited like the API)."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    data = state.neighbourhood_list(principal, neighbourhood, "GET /pages/neighbourhoods/{neighbourhood}")
    return HTMLResponse(live.pages.neighbourhood_list(data))


@router.get("/pages/people/{person_id}", response_class=HTMLResponse)
def person_page(person_id: str, request: Request, live: LiveState = Depends(current_live)) -> HTMLResponse:
    """A person's reasons chart, timeline and data freshness (audited like the API)."""
    state = live.current()
    principal = require_principal(state, request, cookie=True)
    data = state.explanation(principal, person_id, "GET /pages/people/{person_id}")
    return HTMLResponse(live.pages.person(data))
