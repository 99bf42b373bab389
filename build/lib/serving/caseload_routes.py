"""The caseload API's routes: record what a team did for a person, read a history, a team's caseload, export a list as CSV."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from features.caseload import ACTIONS, ActionRecord, RecordedAction, caseload, history, record_action, status_of
from features.errors import ActionValidationError, TransitionConflictError
from serving.api_models import ErrorResponse
from serving.auth import Principal
from serving.caseload_models import ActionHistory, ActionOut, ActionRequest, Caseload, CaseloadEntry
from serving.list_export import export_filename, list_csv
from serving.live import LiveState, current_live, require_principal
from serving.state import ServingState
from serving.store import PersonRecord

__all__ = [
    "RECORD_ENDPOINT", "HISTORY_ENDPOINT", "CASELOAD_ENDPOINT", "EXPORT_ENDPOINT", "export_response", "record_for_person", "router",
]

RECORD_ENDPOINT = "POST /v1/people/{person_id}/actions"
HISTORY_ENDPOINT = "GET /v1/people/{person_id}/actions"
CASELOAD_ENDPOINT = "GET /v1/neighbourhoods/{neighbourhood}/caseload"
EXPORT_ENDPOINT = "GET /v1/neighbourhoods/{neighbourhood}/list.csv"

_AUTH = {
    401: {"model": ErrorResponse, "description": "No or invalid bearer token."},
    422: {"model": ErrorResponse, "description": "Malformed request (the message names the allowed values)."},
    503: {"model": ErrorResponse, "description": "No publication loaded (see /readyz)."},
}
_PERSON = {**_AUTH, 404: {"model": ErrorResponse, "description": "No such person in the current publication for this token."}}
_NEIGHBOURHOOD = {
    **_AUTH,
    403: {"model": ErrorResponse, "description": "Token not scoped to this neighbourhood."},
    404: {"model": ErrorResponse, "description": "Unknown neighbourhood."},
}

router = APIRouter()


def _person_in_scope(state: ServingState, principal: Principal, person_id: str, endpoint: str) -> PersonRecord:
    """The person of the current publication, or 404 exactly as the explanation route answers (audited)."""
    if re.fullmatch(state.config.person_id_pattern, person_id) is None:
        raise HTTPException(422, f"person_id must match {state.config.person_id_pattern}; fix the id in the request path")
    store = state.require_store()
    row = store.find(person_id)
    record = store.person(row) if row is not None else None
    if record is None or record.neighbourhood is None or not principal.may_see(record.neighbourhood):
        state.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=None, status=404, publication_id=store.publication_id)
        raise HTTPException(404, "no such person in the current publication for this token")
    return record


def _out(record: ActionRecord) -> ActionOut:
    return ActionOut(
        id=record.id, person_id=record.person_id, neighbourhood=record.neighbourhood, action=record.action, reason=record.reason,
        note=record.note, token_id=record.token_id, recorded_at=record.recorded_at.isoformat(),
    )


def record_for_person(
    state: ServingState, principal: Principal, person_id: str, body: ActionRequest, *, idempotency_key: str | None, endpoint: str
) -> RecordedAction:
    """Record ``body`` for a person in the token's scope through ``features.caseload.record_action``, audited under ``endpoint``.

    404 outside scope, 422 for an unknown action or a missing reason, 409 for a transition that makes
    no sense; every outcome is audited with who, when and what (never the note). The API and the
    person page's form both record through here.

    Parameters
    ----------
    state, principal
        The serving state and the token holder.
    person_id, body
        Whom the action is for and what it is.
    idempotency_key, endpoint
        The retry key (None: none) and the endpoint name the audit log records.
    """
    person = _person_in_scope(state, principal, person_id, endpoint)
    store = state.require_store()
    # listed in the current publication: a new listing when it was published after the person's latest action
    listed_at = datetime.fromisoformat(str(store.metadata["created_at"])) if person.list_rank is not None else None
    known = body.action if body.action in ACTIONS else "unknown"

    def audit(status: int, detail: dict[str, str | int | None], people: list[str]) -> None:
        state.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=person.neighbourhood, status=status,
                           publication_id=store.publication_id, person_ids=people, detail=detail)

    try:
        recorded = record_action(
            state.audit.engine, person_id=person.person_id, neighbourhood=str(person.neighbourhood), action=body.action,
            token_id=principal.token_id, reason=body.reason, note=body.note, idempotency_key=idempotency_key,
            listed_at=listed_at, config=state.config.caseload, now=datetime.now(timezone.utc),
        )
    except ActionValidationError as error:
        audit(422, {"action": known}, [])
        raise HTTPException(422, str(error)) from None
    except TransitionConflictError as error:
        audit(409, {"action": known}, [])
        raise HTTPException(409, str(error)) from None
    record = recorded.record
    audit(201, {"action": record.action, "action_id": record.id, "reason": record.reason, "replayed": int(recorded.replayed)},
          [record.person_id])
    return recorded


def export_response(state: ServingState, principal: Principal, neighbourhood: str, endpoint: str) -> Response:
    """The neighbourhood's list as a CSV attachment with current statuses (403 / 404 as the list; audited under ``endpoint``)."""
    data = state.neighbourhood_list(principal, neighbourhood, endpoint)
    current = {p.person_id: p.status for p in caseload(state.audit.engine, [neighbourhood])}
    filename = export_filename(neighbourhood, str(data["publication_id"]))
    return Response(
        list_csv(data["people"], current),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post(
    "/v1/people/{person_id}/actions",
    status_code=201,
    response_model=ActionOut,
    responses={**_PERSON, 409: {"model": ErrorResponse, "description": "The action makes no sense after the person's history."}},
    summary="Record what the team did for a person",
)
def record_person_action(
    person_id: str,
    body: ActionRequest,
    request: Request,
    idempotency_key: str | None = Header(
        default=None, alias="Idempotency-Key", description="A retry with the same key returns the first result, not a second record."
    ),
    live: LiveState = Depends(current_live),
) -> Response:
    """Store one action (reviewed, contacted, enrolled, declined, not_appropriate, unreachable, closed); audited without the note."""
    state = live.current()
    principal = require_principal(state, request)
    recorded = record_for_person(state, principal, person_id, body, idempotency_key=idempotency_key, endpoint=RECORD_ENDPOINT)
    record = recorded.record
    headers = {"Location": f"/v1/people/{record.person_id}/actions", "Idempotent-Replayed": "true" if recorded.replayed else "false"}
    return JSONResponse(_out(record).model_dump(), status_code=201, headers=headers)


@router.get("/v1/people/{person_id}/actions", response_model=ActionHistory, responses=_PERSON, summary="A person's actions")
def person_actions(person_id: str, request: Request, live: LiveState = Depends(current_live)) -> ActionHistory:
    """Every action recorded for the person, oldest first, and their current status (audited)."""
    state = live.current()
    principal = require_principal(state, request)
    person = _person_in_scope(state, principal, person_id, HISTORY_ENDPOINT)
    records = history(state.audit.engine, person.person_id)
    state.audit.record(token_id=principal.token_id, endpoint=HISTORY_ENDPOINT, neighbourhood=person.neighbourhood, status=200,
                       publication_id=state.publication_id, person_ids=[person.person_id], detail={"actions": len(records)})
    latest = status_of(records)
    return ActionHistory(person_id=person.person_id, status=latest.status if latest else None, actions=[_out(r) for r in records])


def _neighbourhood_in_scope(state: ServingState, principal: Principal, neighbourhood: str, endpoint: str) -> str:
    """The publication id when the token may see ``neighbourhood`` and someone lives there; 403 / 404 otherwise (audited)."""
    state.check_neighbourhood(neighbourhood)
    if not principal.may_see(neighbourhood):
        state.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=neighbourhood, status=403, publication_id=None)
        raise HTTPException(403, "this token may not see that neighbourhood's list; ask the PHM team for a token of that neighbourhood")
    store = state.require_store()
    if store.list_of(neighbourhood) is None:
        state.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=neighbourhood, status=404,
                           publication_id=store.publication_id)
        raise HTTPException(404, "unknown neighbourhood: no one in the current publication lives there")
    return store.publication_id


@router.get(
    "/v1/neighbourhoods/{neighbourhood}/caseload", response_model=Caseload, responses=_NEIGHBOURHOOD, summary="A team's caseload"
)
def neighbourhood_caseload(neighbourhood: str, request: Request, live: LiveState = Depends(current_live)) -> Caseload:
    """Everyone whose latest action was recorded for this neighbourhood, with their current status (audited)."""
    state = live.current()
    principal = require_principal(state, request)
    publication_id = _neighbourhood_in_scope(state, principal, neighbourhood, CASELOAD_ENDPOINT)
    store = state.require_store()
    ranks = {p["person_id"]: p["rank"] for p in store.list_of(neighbourhood) or []}
    people = caseload(state.audit.engine, [neighbourhood])
    state.audit.record(token_id=principal.token_id, endpoint=CASELOAD_ENDPOINT, neighbourhood=neighbourhood, status=200,
                       publication_id=publication_id, person_ids=[p.person_id for p in people])
    return Caseload(
        neighbourhood=neighbourhood,
        publication_id=publication_id,
        counts=dict(sorted(Counter(p.status for p in people).items())),
        people=[
            CaseloadEntry(person_id=p.person_id, status=p.status, since=p.since.isoformat(), reason=p.reason,
                          previously_declined=p.previously_declined, list_rank=ranks.get(p.person_id))
            for p in people
        ],
    )


@router.get(
    "/v1/neighbourhoods/{neighbourhood}/list.csv",
    response_class=Response,
    responses={**_NEIGHBOURHOOD, 200: {"content": {"text/csv": {}}, "description": "The list as CSV (an attachment)."}},
    summary="A neighbourhood's list as CSV",
)
def neighbourhood_list_csv(neighbourhood: str, request: Request, live: LiveState = Depends(current_live)) -> Response:
    """Rank, person id, NHS number, age, sex, practice, score, current status and top reasons; cells safe for spreadsheets (audited)."""
    state = live.current()
    principal = require_principal(state, request)
    return export_response(state, principal, neighbourhood, EXPORT_ENDPOINT)
