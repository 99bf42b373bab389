"""The JSON API's routes: neighbourhood lists, person explanations, model info and card, metrics, and JSON 404/405s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from serving.api_models import ErrorResponse, ModelInfo, NeighbourhoodList, PersonExplanation
from serving.bentoml_patches import prometheus_exposition
from serving.live import LiveState, current_live, require_principal
from serving.middleware import FIXED_ROUTES, route_template
from serving.redaction import redact_paths
from serving.responses import error_response

__all__ = ["AUTH_RESPONSES", "router"]

#: Error answers every authenticated endpoint may give (documented in the OpenAPI schema).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No or invalid bearer token."},
    422: {"model": ErrorResponse, "description": "Malformed request."},
    503: {"model": ErrorResponse, "description": "Model or lists missing (see /readyz)."},
}

router = APIRouter()


@router.get(
    "/v1/neighbourhoods/{neighbourhood}/list",
    response_model=NeighbourhoodList,
    responses={**AUTH_RESPONSES, 403: {"model": ErrorResponse, "description": "Token not scoped to this neighbourhood."},
               404: {"model": ErrorResponse, "description": "Unknown neighbourhood."}},
    summary="A neighbourhood's ranked list",
)
async def neighbourhood_list(neighbourhood: str, request: Request, live: LiveState = Depends(current_live)) -> Response:
    """Ranked list with score, percentiles, band, top reasons, is_new, model version and as_of."""
    state = live.current()
    principal = require_principal(state, request)
    data = state.neighbourhood_list(principal, neighbourhood, "GET /v1/neighbourhoods/{neighbourhood}/list")
    body = state.list_bodies.get(neighbourhood)
    if body is None:
        # a list never changes within a publication: validate and serialise it once
        body = state.list_bodies[neighbourhood] = NeighbourhoodList.model_validate(data).model_dump_json().encode()
    return Response(body, media_type="application/json")


@router.get(
    "/v1/people/{person_id}/explanation",
    response_model=PersonExplanation,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorResponse, "description": "No such person for this token."}},
    summary="Why a person has their score, and their service use",
)
async def person_explanation(person_id: str, request: Request, live: LiveState = Depends(current_live)) -> Response:
    """Every reason with its contribution, and month-by-month contacts over the last 24 months."""
    state = live.current()
    principal = require_principal(state, request)
    data = state.explanation(principal, person_id, "GET /v1/people/{person_id}/explanation")
    return Response(PersonExplanation.model_validate(data).model_dump_json(), media_type="application/json")


@router.get("/v1/model", response_model=ModelInfo, responses=AUTH_RESPONSES, summary="The model behind the lists")
def model_info(request: Request, live: LiveState = Depends(current_live)) -> ModelInfo:
    """Model version, training window, headline metrics and a link to the model card."""
    state = live.current()
    require_principal(state, request)
    return state.model_info()


@router.get(
    "/v1/model/card",
    responses={**AUTH_RESPONSES, 404: {"model": ErrorResponse, "description": "The loaded model has no model card."},
               200: {"content": {"text/markdown": {}, "text/html": {}}, "description": "The model card (Markdown or HTML)."}},
    summary="The model card",
    response_class=Response,
)
def model_card(request: Request, live: LiveState = Depends(current_live)) -> Response:
    """The model card of the loaded model (Markdown), with server file paths withheld."""
    state = live.current()
    require_principal(state, request)
    card = getattr(state.model, "model_card_path", None)
    if card is None or not Path(card).exists():
        raise HTTPException(404, "the loaded model has no model card; re-run risingrisk train to write one")
    text = redact_paths(Path(card).read_text(encoding="utf-8", errors="replace"))
    media_type = "text/html" if Path(card).suffix.lower() in (".html", ".htm") else "text/markdown"
    return Response(text, media_type=f"{media_type}; charset=utf-8")


@router.get(
    "/metrics",
    include_in_schema=True,
    summary="Prometheus metrics (PHM token)",
    response_class=Response,
    responses={**AUTH_RESPONSES, 403: {"model": ErrorResponse, "description": "Not a PHM token."}},
)
def metrics(request: Request, live: LiveState = Depends(current_live)) -> Response:
    """Prometheus exposition of every worker's metrics (request counts and latency by route template); PHM tokens only.

    Point Prometheus at it with ``authorization: {credentials: <PHM token>}`` in the scrape config.
    """
    principal = require_principal(live.current(), request)
    if not principal.is_phm:
        raise HTTPException(403, "only PHM tokens may read the metrics; configure the scraper with a PHM token")
    body, media_type = prometheus_exposition()
    return Response(body, media_type=media_type)


@router.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_api(path: str, request: Request) -> Response:
    """Any other /v1 request: a JSON 404 (or 405 for a known path with the wrong method), never HTML."""
    if f"/v1/{path}" in FIXED_ROUTES or route_template(f"/v1/{path}") != "other":
        return error_response(405, f"{request.method} is not allowed here; see the API documentation at /docs.json")
    return error_response(404, "no such endpoint; see the API documentation at /docs.json")
