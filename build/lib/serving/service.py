"""The risingrisk BentoML service: one class wiring the serving state, middleware, API routes and clinician pages."""

from __future__ import annotations

import logging
from typing import Any

import bentoml
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.errors import DatabaseNotMigratedError
from features.home import Home, home as default_home
from serving import api_routes, caseload_routes, monitoring_routes, page_routes
from serving.api_models import ScoreRequest, ScoreResponse, ScoreRow
from serving.bentoml_patches import cancel_request_timers
from serving.config import ServiceConfig, service_config
from serving.live import LiveState, current_live
from serving.gate import SecurityGateMiddleware, login_redirect
from serving.middleware import RouteMetricsMiddleware
from serving.openapi import DESCRIPTION, TITLE, package_version, product_openapi
from serving.redaction import install_redaction
from serving.responses import error_response
from serving.score_body import ScoreBodyMiddleware
from serving.state import ModelLoader, load_champion

__all__ = ["PERSON_PATHS", "RisingRisk", "app", "configured_service"]

logger = logging.getLogger(__name__)

#: Paths BentoML's access log must not print: their URLs carry person ids (views are in the audit log).
PERSON_PATHS = ["/v1/people/", "/pages/people/"]

_SERVICE_OPTIONS: dict[str, Any] = {
    "name": "risingrisk",
    "traffic": {"timeout": 60},
    "logging": {"access": {"skip_paths": PERSON_PATHS}},
    # BentoML's request metrics label by raw path (person ids); RouteMetricsMiddleware and /metrics replace them
    "metrics": {"enabled": False},
}

# no FastAPI /docs, /redoc or /openapi.json: they load scripts from a CDN; /docs.json is the product's own description
app = FastAPI(title=TITLE, description=DESCRIPTION, version=package_version(), docs_url=None, redoc_url=None, openapi_url=None)
# before api_routes: its catch-all /v1/{path} answers every /v1 path not matched earlier
app.include_router(caseload_routes.router)
app.include_router(monitoring_routes.router)
app.include_router(api_routes.router)
app.include_router(page_routes.router)
# the pages' stylesheets (NHS.UK frontend and our own), shipped in the package: nothing is fetched from elsewhere
app.mount("/static", StaticFiles(packages=[("serving", "static")]), name="static")


@app.get("/", include_in_schema=False)
def _home() -> Response:
    """The service's own front door (BentoML's page here loads Google Tag Manager): the clinician pages."""
    return RedirectResponse("/pages/", status_code=303)


@app.get("/docs.json", include_in_schema=False)
def _openapi() -> Response:
    """The product's OpenAPI description (BentoML's generated one, rewritten by serving.openapi)."""
    service = bentoml.get_current_service().bento_service
    return JSONResponse(product_openapi(service.openapi_spec.asdict()))


@app.exception_handler(StarletteHTTPException)  # FastAPI's own (e.g. a body it cannot parse) included
async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if request.url.path.startswith("/pages/"):
        if exc.status_code == 401:
            return RedirectResponse(login_redirect(request.scope), status_code=303)
        return HTMLResponse(current_live().pages.error(status=exc.status_code, message=str(exc.detail)), status_code=exc.status_code)
    return error_response(exc.status_code, str(exc.detail))


@app.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
    return error_response(422, "the request does not match the API: see detail", detail)


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unexpected %s while answering a request", type(exc).__name__)
    return error_response(500, "internal error; the service log has the error type (no identifiers)")


@bentoml.service(**_SERVICE_OPTIONS)
@bentoml.asgi_app(app, path="/")
class RisingRisk:
    """Lists, explanations and scores for neighbourhood teams and the PHM team (one process, state in memory).

    ``bentoml serve serving.service:RisingRisk`` constructs it without arguments: default settings
    and the home named by ``$RISINGRISK_HOME``. Tests and the demo build a service with their own
    settings, home and model loader with :func:`configured_service`.
    """

    def __init__(self) -> None:
        where = default_home()
        self.start(service_config(where), where, load_champion)

    def start(self, config: ServiceConfig, home: Home, load_model: ModelLoader) -> None:
        """Load the state to serve from ``home`` with ``config``; the routes reach it as ``self.live``."""
        install_redaction()
        self.config = config
        try:
            self.live = LiveState(config, home, load_model)
        except DatabaseNotMigratedError as error:
            # the worker fails to start (bentoml serve restarts it, logging this each time): nothing is served
            logger.critical("risingrisk cannot start: %s", error)
            raise

    def __is_ready__(self) -> bool:
        state = self.live.current()
        if not state.ready:
            raise StarletteHTTPException(503, "not ready: " + "; ".join(state.problems) + "\n")
        return True

    @bentoml.api(route="/v1/score", input_spec=ScoreRequest)  # the body's model: unknown keys refused
    def score(self, rows: list[ScoreRow], ctx: bentoml.Context) -> ScoreResponse:
        """Score feature rows supplied by the PHM team (PHM token only); at most 1,000 rows a request."""
        state = self.live.current()
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
            return error_response(error.status_code, str(error.detail))


def _add_middleware(service: bentoml.Service[Any]) -> None:
    # the first added is the outermost: metrics, then the gate, then the score body check (after authentication)
    service.add_asgi_middleware(RouteMetricsMiddleware)
    # in front of every route: host, token or session, rate limit, origin, content type, body limit (reads config at request time)
    service.add_asgi_middleware(SecurityGateMiddleware)
    service.add_asgi_middleware(monitoring_routes.StaleListsNote)
    service.add_asgi_middleware(ScoreBodyMiddleware)


def configured_service(config: ServiceConfig, *, home: Home, load_model: ModelLoader = load_champion) -> bentoml.Service[Any]:
    """The service answering from ``home`` with ``config`` (tests, benchmarks; ``.to_asgi()`` gives its ASGI app).

    Parameters
    ----------
    config
        The service's settings.
    home
        risingrisk home holding publications, the model registry, tokens and the audit log.
    load_model
        ``load_model(alias, home)``: the registered model behind an alias; the MLflow registry by default.
    """

    class Configured(RisingRisk.inner):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.start(config, home, load_model)

    service = bentoml.service(**_SERVICE_OPTIONS)(bentoml.asgi_app(app, path="/")(Configured))
    _add_middleware(service)
    return service


install_redaction()
cancel_request_timers()
_add_middleware(RisingRisk)
