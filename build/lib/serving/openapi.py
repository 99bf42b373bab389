"""The service's own OpenAPI description: product title, package version, bearer security on protected routes, documented errors."""

from __future__ import annotations

import copy
import importlib.metadata
from typing import Any

from serving.api_models import ErrorResponse

__all__ = ["DESCRIPTION", "ERROR_RESPONSES", "TITLE", "product_openapi", "package_version"]

TITLE = "risingrisk"
DESCRIPTION = (
    "Neighbourhood lists of people at rising risk of high intensity use of urgent care, with the reasons behind each score, "
    "a team's caseload actions and the model behind the lists.\n\n"
    "Every `/v1` route and `/metrics` needs `Authorization: Bearer <token>` (`risingrisk tokens create`); a neighbourhood "
    "token sees its own neighbourhoods only, a PHM token sees all and may score rows. Every error has the body "
    "`{\"error\": \"what was wrong and how to fix it\", \"detail\": [...]}`. Each token has a request rate limit "
    "(429 with `Retry-After`). Person views and exports are audited."
)
#: Errors any protected route may answer, with what they mean.
ERROR_RESPONSES: dict[str, str] = {
    "400": "The request is malformed (bad Host, more than one Authorization header, body not JSON).",
    "401": "No bearer token, or an invalid or revoked one.",
    "413": "The request body is larger than the service accepts.",
    "415": "The body is not application/json.",
    "422": "The request does not match the API (the message and detail name the problem).",
    "429": "Too many requests from this token; wait the Retry-After seconds.",
    "503": "The service has no publication or model loaded (see /readyz).",
}
#: Errors particular to one route that BentoML's generated description does not know.
_ROUTE_ERRORS: dict[str, dict[str, str]] = {"/v1/score": {"403": "Only PHM tokens may score rows."}}
_PUBLIC = ("/livez", "/readyz", "/healthz")
_METHODS = ("get", "post", "put", "patch", "delete")


def package_version() -> str:
    """The installed risingrisk package's version ("0+unknown" when running from a tree that is not installed)."""
    try:
        return importlib.metadata.version("risingrisk")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


def product_openapi(generated: dict[str, Any]) -> dict[str, Any]:
    """BentoML's generated description (``service.openapi_spec.asdict()``) rewritten as the product's own.

    Title, version (the package's), description; no vendor contact or tags; a ``bearerAuth``
    scheme required by every ``/v1`` route and ``/metrics``; each of their operations documents
    the errors every protected route may give (and keeps its own), all with the ``ErrorResponse`` body.
    """
    spec = copy.deepcopy(generated)
    spec["info"] = {"title": TITLE, "version": package_version(), "description": DESCRIPTION}
    spec.pop("tags", None)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("ErrorResponse", ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}"))
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A risingrisk access token (risingrisk tokens create)."}
    }
    for path, item in spec.get("paths", {}).items():
        protected = path.startswith("/v1/") or path == "/metrics"
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operation.pop("tags", None)
            if not protected or path in _PUBLIC:
                continue
            operation["security"] = [{"bearerAuth": []}]
            # FastAPI routes may declare int status keys; JSON (and OpenAPI) keys are strings
            responses = operation["responses"] = {str(k): v for k, v in operation.get("responses", {}).items()}
            for status, meaning in {**ERROR_RESPONSES, **_ROUTE_ERRORS.get(path, {})}.items():
                if status == "415" and method == "get":
                    continue
                responses.setdefault(status, {"description": meaning})
            for status, response in responses.items():
                if status[:1] in ("4", "5"):
                    # BentoML documents its own error objects; every error of this service has the ErrorResponse body
                    response["content"] = _error_content()
    return spec
