"""ASGI middleware of the service: request metrics labelled by route template (the security gate is serving.gate)."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import bentoml


__all__ = ["replay_body", "FIXED_ROUTES", "RouteMetricsMiddleware", "route_template"]

_REQUESTS = bentoml.metrics.Counter(
    name="risingrisk_http_requests_total",
    documentation="HTTP requests by route template (never a raw path: paths hold person ids), method and status.",
    labelnames=["route", "method", "status"],
)
_LATENCY = bentoml.metrics.Histogram(
    name="risingrisk_http_request_duration_seconds",
    documentation="HTTP request latency by route template and method.",
    labelnames=["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
#: Route templates for metric labels; anything else is counted as "other" (bounded label values).
#: First match wins: longer templates before the ones they extend (``…/list.csv`` before ``…/list``).
_TEMPLATES = [
    (re.compile(r"/v1/people/[^/]+/explanation"), "/v1/people/{person_id}/explanation"),
    (re.compile(r"/v1/people/[^/]+/actions"), "/v1/people/{person_id}/actions"),
    (re.compile(r"/v1/neighbourhoods/[^/]+/caseload"), "/v1/neighbourhoods/{neighbourhood}/caseload"),
    (re.compile(r"/v1/neighbourhoods/[^/]+/list\.csv"), "/v1/neighbourhoods/{neighbourhood}/list.csv"),
    (re.compile(r"/v1/neighbourhoods/[^/]+/list"), "/v1/neighbourhoods/{neighbourhood}/list"),
    (re.compile(r"/pages/people/[^/]+/actions"), "/pages/people/{person_id}/actions"),
    (re.compile(r"/pages/people/[^/]+"), "/pages/people/{person_id}"),
    (re.compile(r"/pages/neighbourhoods/[^/]+/list\.csv"), "/pages/neighbourhoods/{neighbourhood}/list.csv"),
    (re.compile(r"/pages/neighbourhoods/[^/]+"), "/pages/neighbourhoods/{neighbourhood}"),
]
#: Paths without parameters: their own label.
FIXED_ROUTES = frozenset(
    {"/", "/v1/score", "/v1/model", "/v1/model/card", "/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/schema.json",
     "/pages/", "/pages/login", "/pages/logout", "/pages/model-card"}
)


def route_template(path: str) -> str:
    """The route template a path belongs to (``/v1/people/{person_id}/explanation``), or ``other``."""
    if path in FIXED_ROUTES:
        return path
    for pattern, template in _TEMPLATES:
        if pattern.fullmatch(path):
            return template
    return "other"


class RouteMetricsMiddleware:
    """ASGI middleware counting requests and latency per route template (BentoML's own labels by raw path)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route, method = route_template(scope["path"]), scope.get("method", "")
            _REQUESTS.labels(route=route, method=method, status=str(status)).inc()
            _LATENCY.labels(route=route, method=method).observe(time.perf_counter() - started)


def replay_body(body: bytes, receive: Callable[[], Awaitable[dict[str, Any]]]) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI ``receive`` that hands the app a body already read by a middleware, then the connection's own messages."""
    delivered = False

    async def replay() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
