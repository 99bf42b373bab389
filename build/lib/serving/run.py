"""How ``risingrisk serve`` starts the BentoML service (``bentoml serve serving.service:RisingRisk``) on a home."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from features.database import DATABASE_URL_ENV, display_url, sqlite_url
from features.home import HOME_ENV, Home
from serving.publish import CURRENT

__all__ = ["SERVICE", "ServeLaunch", "bentoml_argv", "serve_launch"]

#: Import path of the BentoML service class.
SERVICE = "serving.service:RisingRisk"


def bentoml_argv(*, host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line this CLI runs."""
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]


@dataclass(frozen=True)
class ServeLaunch:
    """The ``bentoml serve`` process to start: its command line, environment, and what it will serve (label, value)."""

    argv: list[str]
    env: dict[str, str]
    facts: list[tuple[str, str]]


def serve_launch(where: Home, *, host: str, port: int, workers: int, environ: Mapping[str, str] = os.environ) -> ServeLaunch:
    """The command line and environment that serve ``where`` on ``host:port`` with ``workers`` worker processes.

    Parameters
    ----------
    where
        risingrisk home (publications, registry, tokens, audit log); passed to the service as ``$RISINGRISK_HOME``.
    host, port
        Address and TCP port to listen on.
    workers
        Worker processes; each holds the publication in memory.
    environ
        The environment to extend (BentoML config overrides already set there are kept).
    """
    overrides = " ".join(o for o in (environ.get("BENTOML_CONFIG_OPTIONS", ""), f"services.risingrisk.workers={workers}") if o)
    env = {**environ, HOME_ENV: str(where.root), "BENTOML_CONFIG_OPTIONS": overrides}
    base = f"http://{host}:{port}"
    pointer = where.publications / CURRENT
    facts = [
        ("home", str(where.root)),
        ("service settings", str(where.service_config) if where.service_config.exists() else f"defaults (write {where.service_config} to change them)"),
        ("workers", str(workers)),
        ("current publication", pointer.read_text().strip() if pointer.exists() else "none (readyz will fail)"),
        ("tokens file", f"{where.tokens} ({'present' if where.tokens.exists() else 'absent: risingrisk tokens create'})"),
        ("database (actions, audit log)", display_url(environ.get(DATABASE_URL_ENV, "").strip() or sqlite_url(where.database))),
        ("API docs", f"{base}/  (OpenAPI at {base}/docs.json)"),
        ("clinician pages", f"{base}/pages/login"),
        ("health", f"{base}/livez  {base}/readyz  {base}/metrics"),
    ]
    return ServeLaunch(argv=bentoml_argv(host=host, port=port), env=env, facts=facts)
