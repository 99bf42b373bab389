"""The serving state kept current: a newer publication is loaded in the background and swapped in; the audit log checkpointed."""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import time

import bentoml
from fastapi import HTTPException, Request

from features.database import database_url
from features.home import Home
from serving.audit import AuditLog
from serving.auth import PRINCIPAL_KEY, Principal
from serving.config import ServiceConfig
from serving.pages import Pages
from serving.state import ModelLoader, ServingState

__all__ = ["LiveState", "current_live", "require_principal"]

logger = logging.getLogger(__name__)


class LiveState:
    """The state requests are answered from, reloaded when a new publication appears (no restart).

    Parameters
    ----------
    config
        The service's settings.
    home
        risingrisk home holding publications, the model registry, tokens and the audit log.
    load_model
        ``load_model(alias, home)``: the registered model behind an alias.

    The database (``features.database.database_url(home)``: audit log and caseload actions) is opened
    once and kept across reloads; an unmigrated one raises
    :class:`~features.errors.DatabaseNotMigratedError` naming ``risingrisk db upgrade``.
    """

    def __init__(self, config: ServiceConfig, home: Home, load_model: ModelLoader) -> None:
        self.config = config
        self.load_model = load_model
        self.pages = Pages(config.pages)
        self.audit = AuditLog(database_url(home))
        self.state = ServingState.load(home, config, load_model, self.audit)
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
                self.audit.checkpoint()
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
            fresh = ServingState.load(self.state.home, self.config, self.load_model, self.audit)
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


def current_live() -> LiveState:
    """The running service's :class:`LiveState` (a FastAPI dependency of the API and page routes)."""
    return bentoml.get_current_service().live


def require_principal(state: ServingState, request: Request, *, cookie: bool = False) -> Principal:
    """The token holder of ``request`` (bearer header, or a page session when ``cookie``); 401 without a valid token.

    The security gate (serving.gate) authenticated the request from its headers before its body
    was read and left the principal in the scope; a page session counts only when ``cookie``.
    """
    principal = request.scope.get(PRINCIPAL_KEY)
    if principal is not None and not cookie and "authorization" not in request.headers:
        principal = None  # a page session opens pages only
    if principal is None and PRINCIPAL_KEY not in request.scope:
        principal = state.tokens.authenticate(request.headers.get("authorization"))
    if principal is None:
        raise HTTPException(401, "a valid bearer token is required: send Authorization: Bearer <token>")
    return principal
