"""Checks the body of ``POST /v1/score`` before BentoML does: a bad body gets the service's own 400/422, not BentoML's text and an ERROR log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from serving.api_models import ScoreRequest
from serving.middleware import replay_body
from serving.responses import error_response

__all__ = ["SCORE_PATH", "ScoreBodyMiddleware", "score_body_problems"]

logger = logging.getLogger(__name__)

#: The BentoML API route whose body this middleware checks.
SCORE_PATH = "/v1/score"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def score_body_problems(body: bytes) -> list[dict[str, Any]]:
    """Where and why ``body`` is not a :class:`~serving.api_models.ScoreRequest` (``loc``, ``msg``, ``type``; never the input); [] if it is."""
    try:
        ScoreRequest.model_validate_json(body or b"")
    except ValidationError as error:
        return [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in error.errors(include_input=False, include_url=False)
        ]
    return []


class ScoreBodyMiddleware:
    """ASGI middleware answering a malformed ``POST /v1/score`` body in the service's error shape: 400 if not JSON, else 422 (INFO log, no values).

    It sits inside the security gate, which has already authenticated the request and read the
    body within its limit; a valid body is handed on unchanged.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != SCORE_PATH or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problems = score_body_problems(body)
        if problems:
            logger.info("POST /v1/score refused: %d problem(s) in the body (values not logged)", len(problems))
            if problems[0]["type"] == "json_invalid":
                response = error_response(400, "the body must be valid JSON; see detail for where it breaks", problems)
            else:
                response = error_response(422, "the body must be {\"rows\": [{\"row_id\": ..., \"features\": {...}}]}; see detail", problems)
            await response(scope, receive, send)
            return
        await self.app(scope, replay_body(body, receive), send)
