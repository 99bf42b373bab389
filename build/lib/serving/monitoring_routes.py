"""The service's monitoring surface: ``GET /v1/monitoring`` (the latest report, PHM only) and stale lists named on ``/readyz``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from serving.api_models import ErrorResponse
from serving.live import LiveState, current_live, require_principal
from serving.monitoring.report import home_report_dir, read_report
from serving.state import ServingState

__all__ = ["MONITORING_ENDPOINT", "StaleListsNote", "readiness_note", "router"]

MONITORING_ENDPOINT = "GET /v1/monitoring"

router = APIRouter()


@router.get(
    "/v1/monitoring",
    responses={
        401: {"model": ErrorResponse, "description": "No or invalid bearer token."},
        403: {"model": ErrorResponse, "description": "Not a PHM token."},
        404: {"model": ErrorResponse, "description": "No monitoring report written yet."},
    },
    summary="The latest monitoring report (PHM only)",
)
def monitoring_report(request: Request, live: LiveState = Depends(current_live)) -> JSONResponse:
    """``monitor.json`` of the latest scoring or monitoring run: alerts (kind, subject, severity, message), then each check's figures."""
    state = live.current()
    principal = require_principal(state, request)
    if not principal.is_phm:
        raise HTTPException(403, "only PHM tokens may read the monitoring report; ask the PHM team")
    report = read_report(home_report_dir(state.home))
    if report is None:
        raise HTTPException(
            404, "no monitoring report yet: risingrisk score writes one to the home's monitoring folder (or run risingrisk monitor --out HOME/monitoring)"
        )
    return JSONResponse(report)


def readiness_note(state: ServingState) -> str | None:
    """What ``/readyz`` adds while ready: a line naming stale lists, or ``None`` when they are fresh (or absent)."""
    staleness = state.staleness()
    if staleness is None or not staleness.stale:
        return None
    return (
        f"ready; lists stale: publication {staleness.publication_id} has data as of {staleness.as_of}, {staleness.age_days} days old "
        f"(refresh interval {staleness.refresh_days} days): run risingrisk score on a fresh extract\n"
    )


class StaleListsNote:
    """ASGI middleware: a ready ``/readyz`` (200) keeps its status but its body names stale lists."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != "/readyz":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def hold(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            out = bytes(body)
            if start.get("status") == 200:
                note = readiness_note(current_live().current())
                out = note.encode() if note is not None else out
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(out)).encode())]})
            await send({"type": "http.response.body", "body": out})

        await self.app(scope, receive, hold)
