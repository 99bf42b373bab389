"""The service's JSON error body (``ErrorResponse``), shared by routes, middleware and the BentoML API."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from serving.api_models import ErrorResponse

__all__ = ["error_response"]


def error_response(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> JSONResponse:
    """A JSON ``{"error": message, "detail": ...}`` response with ``status``."""
    return JSONResponse(ErrorResponse(error=message, detail=detail).model_dump(exclude_none=True), status_code=status)
