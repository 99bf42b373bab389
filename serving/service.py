"""The risingrisk BentoML service: neighbourhood lists, explanations, PHM scoring, model info and clinician pages."""

from __future__ import annotations

import gc
import logging
import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import bentoml
import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from features.home import Home, home as default_home
from serving.api_models import (
    ErrorResponse,
    ModelInfo,
    NeighbourhoodList,
    PersonExplanation,
    ScoreResponse,
    ScoreResult,
    ScoreRow,
)
from serving.audit import AuditLog
from serving.auth import Principal, TokenStore
from serving.pages import PageConfig, Pages
from serving.store import PublishedStore, load_store

__all__ = [
    "ServiceConfig",
    "ServingState",
    "RisingRisk",
    "IdentifierRedactor",
    "RouteMetricsMiddleware",
    "BodyLimitMiddleware",
    "install_redaction",
    "cancel_request_timers",
    "load_champion",
    "route_template",
]

logger = logging.getLogger(__name__)

#: Session cookie of the clinician pages (holds the bearer token; HttpOnly, SameSite=Strict).
COOKIE = "rr_token"


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and shapes of the service's answers."""

    max_score_rows: int = 1000
    max_body_bytes: int = 4_000_000
    timeline_months: int = 24
    score_reasons: int = 5
    person_id_pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
    max_neighbourhood_length: int = 100
    model_alias: str = "champion"
    reload_check_seconds: float = 10.0
    unready_retry_seconds: float = 60.0
    warm_batch_rows: int = 512
    audit_checkpoint_seconds: float = 5.0
    pages: PageConfig = field(default_factory=PageConfig)


class IdentifierRedactor(logging.Filter):
    """Replace person ids in URL paths of log records (access logs, errors) by ``<redacted>``."""

    pattern = re.compile(r"(/(?:v1|pages)/people/)[^/\s?#\"')]+")

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            # pydantic puts the offending input (which may hold ids) in its message: log the count only
            record.msg = f"{record.getMessage()} (invalid request body: {error.error_count()} errors; inputs not logged)"
            record.args, record.exc_info, record.exc_text = None, None, None
        if isinstance(record.msg, str) and "/people/" in record.msg:
            record.msg = self.pattern.sub(r"\1<redacted>", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            if any(isinstance(a, str) and "/people/" in a for a in args):
                redacted = tuple(self.pattern.sub(r"\1<redacted>", a) if isinstance(a, str) else a for a in args)
                record.args = redacted if isinstance(record.args, tuple) else redacted[0]
        return True


_REDACTED_LOGGERS = ("bentoml.access", "uvicorn.access", "uvicorn.error", "bentoml", "bentoml.serve", "_bentoml_impl")


def install_redaction() -> None:
    """Attach the redactor to the access/error loggers and to every handler of the root logger."""
    redactor = IdentifierRedactor()
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in _REDACTED_LOGGERS]
    targets += logging.getLogger().handlers
    for name in _REDACTED_LOGGERS:
        targets += logging.getLogger(name).handlers
    for target in targets:
        if not any(isinstance(f, IdentifierRedactor) for f in target.filters):
            target.addFilter(redactor)


def cancel_request_timers() -> None:
    """Make BentoML's per-request timeout timer end with the request.

    BentoML 1.4.40's ``TimeoutMiddleware`` schedules ``loop.call_later(timeout, ...)`` for every
    request and never cancels it, so each request's context (OpenTelemetry span, futures) stays
    alive for the whole timeout: at a few hundred requests a second that is ~10^6 live objects and
    100-400 ms cyclic-GC pauses (measured with benchmarks/bench_service.py). This installs a
    subclass that behaves the same but cancels its timer when the request ends.
    """
    import asyncio

    from bentoml._internal.server.http import traffic

    if getattr(traffic.TimeoutMiddleware, "cancels_timer", False):
        return
    base = traffic.TimeoutMiddleware

    class CancellingTimeoutMiddleware(base):  # type: ignore[misc, valid-type]
        cancels_timer = True

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] not in ("http", "websocket"):
                return await self.app(scope, receive, send)
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

            async def _send(message: Any) -> None:
                if not waiter.done():
                    waiter.set_result(None)
                await send(message)

            fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
            try:
                await waiter
            except asyncio.TimeoutError:
                if fut.cancel():
                    await _error(504, f"the request took longer than {self.timeout} seconds")(scope, receive, send)
            else:
                await fut
            finally:
                timer.cancel()

    traffic.TimeoutMiddleware = CancellingTimeoutMiddleware


def load_champion(alias: str, home: Home) -> Any:
    """The registered model behind ``alias`` (``training.registry.load_model``)."""
    from training.registry import load_model

    return load_model(alias, home=home)


def _reason_groups(feature_names: list[str]) -> list[Any]:
    from models.reasons import group_features

    return group_features(feature_names)


@dataclass
class ServingState:
    """What the service answers from: the current publication in memory, the model, tokens and the audit log.

    ``problems`` lists why the service is not ready (no publication, no model, a mismatch); the
    process keeps running and ``/readyz`` reports them.
    """

    home: Home
    config: ServiceConfig
    tokens: TokenStore
    audit: AuditLog
    store: PublishedStore | None = None
    model: Any = None
    groups: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    list_bodies: dict[str, bytes] = field(default_factory=dict)
    explained: dict[int, tuple[float | None, list[dict[str, Any]]]] = field(default_factory=dict)

    @classmethod
    def load(cls, where: Home, config: ServiceConfig | None = None) -> "ServingState":
        """Load the current publication and the champion model; record problems instead of failing."""
        from serving.publish import current_publication

        config = config or ServiceConfig()
        state = cls(where, config, TokenStore(where.tokens), AuditLog(where.audit_db))
        started = time.perf_counter()
        try:
            publication = current_publication(where)
            if publication is None:
                state.problems.append("no publication: run risingrisk score to publish lists")
            else:
                state.store = load_store(publication, timeline_length=config.timeline_months)
        except Exception as error:  # noqa: BLE001 - any failure must leave the process up and say why
            state.problems.append(f"publication unreadable: {type(error).__name__}: {error}")
        try:
            state.model = load_champion(config.model_alias, where)
        except Exception as error:  # noqa: BLE001
            state.problems.append(f"model {config.model_alias!r} not loaded: {type(error).__name__}: {error}")
        if state.model is not None:
            state.groups = _reason_groups(list(state.model.feature_names))
        if state.model is not None and state.store is not None:
            published = str(state.store.metadata.get("model_version"))
            if published != str(state.model.version):
                state.problems.append(
                    f"model version {state.model.version} ({config.model_alias}) is not the version {published} "
                    "that scored the current publication: run risingrisk score to re-publish"
                )
            missing = [n for n in state.model.feature_names if n not in state.store.feature_names]
            if missing:
                state.problems.append(f"the publication's features lack model features {missing[:5]}: re-publish")
        logger.info(
            "service state loaded in %.1f s: %s people, ready=%s",
            time.perf_counter() - started,
            state.store.size if state.store is not None else 0,
            not state.problems,
        )
        return state

    @property
    def ready(self) -> bool:
        return not self.problems

    @property
    def publication_id(self) -> str | None:
        return self.store.publication_id if self.store is not None else None

    def current_pointer(self) -> str | None:
        """The id the publications' CURRENT pointer names now (None if nothing is published)."""
        from serving.publish import CURRENT

        try:
            return (self.home.publications / CURRENT).read_text().strip() or None
        except FileNotFoundError:
            return None

    def freshness(self) -> dict[str, Any]:
        store = self._require_store()
        meta = store.metadata
        return {
            "publication_id": store.publication_id,
            "model_version": str(meta.get("model_version")),
            "as_of": store.as_of.isoformat(),
            "extract_date": None if meta.get("extract_date") is None else str(meta.get("extract_date")),
            "published_at": str(meta.get("created_at")),
        }

    def _require_store(self) -> PublishedStore:
        if self.store is None or not self.ready:
            raise HTTPException(503, "service not ready: " + "; ".join(self.problems))
        return self.store

    def neighbourhood_list(self, principal: Principal, neighbourhood: str, endpoint: str) -> dict[str, Any]:
        """The list as a dict (NeighbourhoodList fields); 403 outside scope, 404 unknown. Audited."""
        self.check_neighbourhood(neighbourhood)
        if not principal.may_see(neighbourhood):
            self.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=neighbourhood, status=403, publication_id=None)
            raise HTTPException(403, "this token may not see that neighbourhood's list; ask the PHM team for a token of that neighbourhood")
        store = self._require_store()
        people = store.list_of(neighbourhood)
        if people is None:
            self.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=neighbourhood, status=404, publication_id=store.publication_id)
            raise HTTPException(404, "unknown neighbourhood: no one in the current publication lives there")
        self.audit.record(
            token_id=principal.token_id,
            endpoint=endpoint,
            neighbourhood=neighbourhood,
            status=200,
            publication_id=store.publication_id,
            person_ids=[p["person_id"] for p in people],
        )
        return {"neighbourhood": neighbourhood, **self.freshness(), "people": people}

    def explanation(self, principal: Principal, person_id: str, endpoint: str) -> dict[str, Any]:
        """The person's explanation and timeline (PersonExplanation fields); 404 if absent or out of scope. Audited."""
        if re.fullmatch(self.config.person_id_pattern, person_id) is None:
            raise HTTPException(422, f"person_id must match {self.config.person_id_pattern}; fix the id in the request path")
        store = self._require_store()
        row = store.find(person_id)
        record = store.person(row) if row is not None else None
        if record is None or record.neighbourhood is None or not principal.may_see(record.neighbourhood):
            self.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=None, status=404, publication_id=store.publication_id)
            raise HTTPException(404, "no such person in the current publication for this token")
        base_score, reasons = self.reasons_of(record.row)
        self.audit.record(
            token_id=principal.token_id,
            endpoint=endpoint,
            neighbourhood=record.neighbourhood,
            status=200,
            publication_id=store.publication_id,
            person_ids=[record.person_id],
        )
        return {
            "person_id": record.person_id,
            "neighbourhood": record.neighbourhood,
            **self.freshness(),
            "excluded_reason": record.excluded_reason,
            "score": record.score,
            "base_score": base_score,
            "percentile_neighbourhood": record.percentile_neighbourhood,
            "percentile_overall": record.percentile_overall,
            "risk_band": record.risk_band,
            "list_rank": record.list_rank,
            "explanation_space": str(store.metadata.get("explanation_space", "probability")),
            "reasons": reasons,
            "settings": store.settings,
            "timeline": [{"month": m.strftime("%Y-%m"), "counts": c} for m, c in store.timeline(record.row)],
        }

    def reasons_of(self, row: int) -> tuple[float | None, list[dict[str, Any]]]:
        """Base score and every reason of a person (explained on demand unless warmed); (None, []) if not scored."""
        cached = self.explained.get(row)
        if cached is not None:
            return cached
        store = self._require_store()
        features = store.features_of(row)
        if features is None:
            return None, []
        from models.explain import explain_rows

        explained = explain_rows(self.model.model, features, as_of=store.as_of, groups=self.groups)[0]
        return explained.base_score, [r.to_dict() for r in explained.reasons]

    def warm_listed(self) -> int:
        """Explain everyone on a list ahead of time, in batches (the people clinicians open); returns how many."""
        if self.store is None or not self.ready:
            return 0
        from models.explain import explain_rows

        store = self.store
        rows = [row for entries in store.lists.values() for p in entries if (row := store.find(p["person_id"])) is not None]
        rows = [row for row in rows if store.feature_row[row] >= 0]
        size = self.config.warm_batch_rows
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            X = pd.DataFrame(store.feature_matrix[store.feature_row[chunk]], columns=store.feature_names)
            for row, explained in zip(chunk, explain_rows(self.model.model, X, as_of=store.as_of, groups=self.groups)):
                self.explained[row] = (explained.base_score, [r.to_dict() for r in explained.reasons])
        return len(rows)

    def check_neighbourhood(self, neighbourhood: str) -> None:
        if not neighbourhood.strip() or len(neighbourhood) > self.config.max_neighbourhood_length or not neighbourhood.isprintable():
            raise HTTPException(
                422,
                f"neighbourhood must be a printable name of at most {self.config.max_neighbourhood_length} characters; "
                "use a name from the publication's list_sizes",
            )

    def score_rows(self, rows: list[ScoreRow]) -> ScoreResponse:
        """Score PHM-supplied rows; 413 if too many, 422 if a row's features do not match the model."""
        if self.model is None:
            raise HTTPException(503, "service not ready: " + "; ".join(self.problems))
        if not rows:
            raise HTTPException(422, "rows must hold at least one feature row; got an empty list")
        if len(rows) > self.config.max_score_rows:
            raise HTTPException(
                413, f"rows must hold at most {self.config.max_score_rows} rows per request; got {len(rows)}. Split the batch."
            )
        names = list(self.model.feature_names)
        expected = set(names)
        for i, row in enumerate(rows):
            missing = [n for n in names if n not in row.features]
            unknown = sorted(set(row.features) - expected)
            if missing or unknown:
                raise HTTPException(
                    422,
                    f"row {i} features must be exactly the model's features (GET /v1/model feature_names); "
                    f"missing {missing[:10]}, unknown {unknown[:10]}",
                )
            bad = _type_problems(row.features)
            if bad:
                raise HTTPException(422, f"row {i} has values of the wrong type: {'; '.join(bad[:10])}")
        X = pd.DataFrame(
            [[np.nan if row.features[n] is None else row.features[n] for n in names] for row in rows],
            columns=names,
            dtype="float64",
        )
        from models.explain import EXPLANATION_SPACE, explain_rows

        explained = explain_rows(self.model.model, X, top=self.config.score_reasons, groups=self.groups)
        return ScoreResponse(
            model_version=str(self.model.version),
            explanation_space=EXPLANATION_SPACE,
            results=[
                ScoreResult(row_id=row.row_id, score=e.score, base_score=e.base_score, reasons=[r.to_dict() for r in e.reasons])
                for row, e in zip(rows, explained)
            ],
        )

    def model_info(self) -> ModelInfo:
        if self.model is None:
            raise HTTPException(503, "service not ready: " + "; ".join(self.problems))
        m = self.model
        card = getattr(m, "model_card_path", None)
        return ModelInfo(
            name=str(m.name),
            version=str(m.version),
            alias=str(m.alias),
            outcome=str(m.outcome),
            training_window={str(k): [str(v) for v in vs] for k, vs in dict(m.training_window).items()},
            metrics={str(k): float(v) for k, v in dict(m.metrics).items()},
            feature_names=list(m.feature_names),
            model_card_url="/v1/model/card" if card is not None and Path(card).exists() else None,
            publication_id=self.store.publication_id if self.store is not None else None,
            publication_model_version=str(self.store.metadata.get("model_version")) if self.store is not None else None,
        )


def _type_problems(features: dict[str, float | None]) -> list[str]:
    """Values that break a feature's registered kind (flags 0/1, counts whole and >= 0, all finite)."""
    from features.definitions import PREDICTORS

    problems = []
    for name, value in features.items():
        if value is None:
            continue
        if not math.isfinite(value):
            problems.append(f"{name} must be finite or null; got {value}")
            continue
        kind = PREDICTORS[name].kind if name in PREDICTORS else None
        if kind == "flag" and value not in (0.0, 1.0):
            problems.append(f"{name} must be 0 or 1; got {value}")
        elif kind == "count" and (value < 0 or value != int(value)):
            problems.append(f"{name} must be a whole number >= 0; got {value}")
    return problems


def _error(status: int, message: str, detail: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=message, detail=detail).model_dump(exclude_none=True), status_code=status)


def _wants_html(request: Request) -> bool:
    return request.url.path.startswith("/pages/")


app = FastAPI(
    title="risingrisk",
    description="Neighbourhood lists of people at rising risk of high intensity use, with reasons. "
    "Every request needs `Authorization: Bearer <token>` (risingrisk tokens create).",
)
PAGES = Pages(ServiceConfig().pages)
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No or invalid bearer token."},
    422: {"model": ErrorResponse, "description": "Malformed request."},
    503: {"model": ErrorResponse, "description": "Model or lists missing (see /readyz)."},
}


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    if _wants_html(request):
        if exc.status_code == 401:
            return RedirectResponse("/pages/login", status_code=303)
        return HTMLResponse(PAGES.error(status=exc.status_code, message=str(exc.detail)), status_code=exc.status_code)
    return _error(exc.status_code, str(exc.detail))


@app.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
    return _error(422, "the request does not match the API: see detail", detail)


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unexpected %s while answering a request", type(exc).__name__)
    return _error(500, "internal error; the service log has the error type (no identifiers)")


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
_TEMPLATES = [
    (re.compile(r"/v1/people/[^/]+/explanation"), "/v1/people/{person_id}/explanation"),
    (re.compile(r"/v1/neighbourhoods/[^/]+/list"), "/v1/neighbourhoods/{neighbourhood}/list"),
    (re.compile(r"/pages/people/[^/]+"), "/pages/people/{person_id}"),
    (re.compile(r"/pages/neighbourhoods/[^/]+"), "/pages/neighbourhoods/{neighbourhood}"),
]
_FIXED_ROUTES = frozenset(
    {"/", "/v1/score", "/v1/model", "/v1/model/card", "/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/schema.json",
     "/pages/", "/pages/login", "/pages/logout"}
)


class BodyLimitMiddleware:
    """Refuse request bodies declared larger than ``max_body_bytes`` with 413, before they are read."""

    def __init__(self, app: Any, max_body_bytes: int = ServiceConfig().max_body_bytes) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                response = _error(
                    413, f"request bodies must be at most {self.max_body_bytes} bytes; got {length.decode(errors='replace')}. Split the batch."
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def route_template(path: str) -> str:
    """The route template a path belongs to (``/v1/people/{person_id}/explanation``), or ``other``."""
    if path in _FIXED_ROUTES:
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


def _principal(state: ServingState, request: Request, *, cookie: bool = False) -> Principal:
    header = request.headers.get("authorization")
    if header is None and cookie and request.cookies.get(COOKIE):
        header = f"Bearer {request.cookies[COOKIE]}"
    principal = state.tokens.authenticate(header)
    if principal is None:
        raise HTTPException(401, "a valid bearer token is required: send Authorization: Bearer <token>")
    return principal


#: Paths BentoML's access log must not print: their URLs carry person ids (views are in the audit log).
PERSON_PATHS = ["/v1/people/", "/pages/people/"]


@bentoml.service(
    name="risingrisk",
    traffic={"timeout": 60},
    logging={"access": {"skip_paths": PERSON_PATHS}},
    # BentoML's request metrics label by raw path (person ids); RouteMetricsMiddleware and /metrics replace them
    metrics={"enabled": False},
)
@bentoml.asgi_app(app, path="/")
class RisingRisk:
    """Lists, explanations and scores for neighbourhood teams and the PHM team (one process, state in memory)."""

    def __init__(self) -> None:
        install_redaction()
        self.config = ServiceConfig()
        self.state = ServingState.load(default_home(), self.config)
        self._warm(self.state)
        threading.Thread(target=self._checkpoint_audit, name="risingrisk-audit-checkpoint", daemon=True).start()
        self._reloading = threading.Lock()
        self._last_check = self._loaded_at = time.monotonic()
        self._refused: str | None = None

    @staticmethod
    def _warm(state: ServingState) -> None:
        def work() -> None:
            state.warm_listed()
            # the loaded publication lives as long as the state: keep the cyclic GC from rescanning it
            gc.freeze()

        threading.Thread(target=work, name="risingrisk-warm", daemon=True).start()

    def _checkpoint_audit(self) -> None:
        while True:
            time.sleep(self.config.audit_checkpoint_seconds)
            try:
                self.state.audit.checkpoint()
            except sqlite3.Error as error:
                logger.warning("audit checkpoint failed: %s", error)

    def current(self) -> ServingState:
        """The state to answer a request from; a newer publication is loaded in the background, then swapped in."""
        now = time.monotonic()
        if now - self._last_check >= self.config.reload_check_seconds:
            self._last_check = now
            pointer = self.state.current_pointer()
            changed = pointer not in (self.state.publication_id, self._refused)
            retry = not self.state.ready and now - self._loaded_at >= self.config.unready_retry_seconds
            if (changed or retry) and self._reloading.acquire(blocking=False):
                threading.Thread(target=self._reload, args=(pointer,), name="risingrisk-reload", daemon=True).start()
        return self.state

    def _reload(self, pointer: str | None) -> None:
        try:
            fresh = ServingState.load(self.state.home, self.config)
            self._loaded_at = time.monotonic()
            if fresh.publication_id != pointer:
                self._refused = pointer
            if fresh.ready or not self.state.ready:
                fresh.warm_listed()
                self.state = fresh
                gc.collect()
                gc.freeze()
                logger.info("now serving publication %s (ready=%s)", fresh.publication_id, fresh.ready)
            else:
                self._refused = pointer
                logger.warning("kept the previous publication: the new one is not servable (%s)", "; ".join(fresh.problems))
        finally:
            self._reloading.release()

    def __is_ready__(self) -> bool:
        self.current()
        if not self.state.ready:
            from starlette.exceptions import HTTPException as StarletteHTTPException

            raise StarletteHTTPException(503, "not ready: " + "; ".join(self.state.problems) + "\n")
        return True

    @app.get(
        "/v1/neighbourhoods/{neighbourhood}/list",
        response_model=NeighbourhoodList,
        responses={**AUTH_RESPONSES, 403: {"model": ErrorResponse, "description": "Token not scoped to this neighbourhood."},
                   404: {"model": ErrorResponse, "description": "Unknown neighbourhood."}},
        summary="A neighbourhood's ranked list",
    )
    async def neighbourhood_list(self, neighbourhood: str, request: Request) -> Response:
        """Ranked list with score, percentiles, band, top reasons, is_new, model version and as_of."""
        state = self.current()
        principal = _principal(state, request)
        data = state.neighbourhood_list(principal, neighbourhood, "GET /v1/neighbourhoods/{neighbourhood}/list")
        body = state.list_bodies.get(neighbourhood)
        if body is None:
            # a list never changes within a publication: validate and serialise it once
            body = state.list_bodies[neighbourhood] = NeighbourhoodList.model_validate(data).model_dump_json().encode()
        return Response(body, media_type="application/json")

    @app.get(
        "/v1/people/{person_id}/explanation",
        response_model=PersonExplanation,
        responses={**AUTH_RESPONSES, 404: {"model": ErrorResponse, "description": "No such person for this token."}},
        summary="Why a person has their score, and their service use",
    )
    async def person_explanation(self, person_id: str, request: Request) -> Response:
        """Every reason with its contribution, and month-by-month contacts over the last 24 months."""
        state = self.current()
        principal = _principal(state, request)
        data = state.explanation(principal, person_id, "GET /v1/people/{person_id}/explanation")
        return Response(PersonExplanation.model_validate(data).model_dump_json(), media_type="application/json")

    @app.get("/v1/model", response_model=ModelInfo, responses=AUTH_RESPONSES, summary="The model behind the lists")
    def model_info(self, request: Request) -> ModelInfo:
        """Model version, training window, headline metrics and a link to the model card."""
        state = self.current()
        _principal(state, request)
        return state.model_info()

    @app.get("/v1/model/card", responses=AUTH_RESPONSES, summary="The model card")
    def model_card(self, request: Request) -> Response:
        """The model card file of the loaded model."""
        state = self.current()
        _principal(state, request)
        card = getattr(state.model, "model_card_path", None)
        if card is None or not Path(card).exists():
            raise HTTPException(404, "the loaded model has no model card; re-run risingrisk train to write one")
        return FileResponse(card)

    @bentoml.api(route="/v1/score")
    def score(self, rows: list[ScoreRow], ctx: bentoml.Context) -> ScoreResponse:
        """Score feature rows supplied by the PHM team (PHM token only); at most 1,000 rows a request."""
        state = self.current()
        principal = state.tokens.authenticate(ctx.request.headers.get("authorization"))
        try:
            if principal is None:
                raise HTTPException(401, "a valid bearer token is required: send Authorization: Bearer <token>")
            if not principal.is_phm:
                raise HTTPException(403, "only PHM tokens may score rows")
            return state.score_rows(rows)
        except HTTPException as error:
            # BentoML copies ctx.response.status_code onto whatever the API returns
            ctx.response.status_code = error.status_code
            return _error(error.status_code, str(error.detail))

    @app.get("/metrics", include_in_schema=True, summary="Prometheus metrics", response_class=Response)
    def metrics(self) -> Response:
        """Prometheus exposition of every worker's metrics (request counts and latency by route template)."""
        from bentoml._internal.configuration.containers import BentoMLContainer

        client = BentoMLContainer.metrics_client.get()
        return Response(client.generate_latest(), media_type=client.CONTENT_TYPE_LATEST)

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown_api(self, path: str, request: Request) -> Response:
        """Any other /v1 request: a JSON 404 (or 405 for a known path with the wrong method), never HTML."""
        if f"/v1/{path}" in _FIXED_ROUTES or route_template(f"/v1/{path}") != "other":
            return _error(405, f"{request.method} is not allowed here; see the API documentation at /docs.json")
        return _error(404, "no such endpoint; see the API documentation at /docs.json")

    # ---- clinician pages -------------------------------------------------------------------

    @app.get("/pages/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(self) -> HTMLResponse:
        return HTMLResponse(PAGES.login())

    @app.post("/pages/login", include_in_schema=False)
    async def login(self, request: Request) -> Response:
        state = self.current()
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        token = (form.get("token") or [""])[0].strip()
        if state.tokens.authenticate(f"Bearer {token}") is None:
            return HTMLResponse(PAGES.login(message="That token is not valid (or was revoked)."), status_code=401)
        response = RedirectResponse("/pages/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
        return response

    @app.get("/pages/logout", include_in_schema=False)
    def logout(self) -> Response:
        response = RedirectResponse("/pages/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/pages/", response_class=HTMLResponse, include_in_schema=False)
    def pages_index(self, request: Request) -> HTMLResponse:
        state = self.current()
        principal = _principal(state, request, cookie=True)
        store = state._require_store()
        names = sorted(n for n in set(store.lists) | set(store.neighbourhoods) if principal.may_see(n))
        return HTMLResponse(PAGES.index(neighbourhoods=names, scope=principal.scope_label))

    @app.get("/pages/neighbourhoods/{neighbourhood}", response_class=HTMLResponse, include_in_schema=False)
    def list_page(self, neighbourhood: str, request: Request) -> HTMLResponse:
        state = self.current()
        principal = _principal(state, request, cookie=True)
        data = state.neighbourhood_list(principal, neighbourhood, "GET /pages/neighbourhoods/{neighbourhood}")
        return HTMLResponse(PAGES.neighbourhood_list(data))

    @app.get("/pages/people/{person_id}", response_class=HTMLResponse, include_in_schema=False)
    def person_page(self, person_id: str, request: Request) -> HTMLResponse:
        state = self.current()
        principal = _principal(state, request, cookie=True)
        data = state.explanation(principal, person_id, "GET /pages/people/{person_id}")
        return HTMLResponse(PAGES.person(data))


install_redaction()
cancel_request_timers()

RisingRisk.add_asgi_middleware(RouteMetricsMiddleware)
RisingRisk.add_asgi_middleware(BodyLimitMiddleware)
