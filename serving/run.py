"""``risingrisk serve``: start the BentoML service (``bentoml serve serving.service:RisingRisk``) on a home."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["SERVICE", "serve_command", "bentoml_argv"]

#: Import path of the BentoML service class.
SERVICE = "serving.service:RisingRisk"


def bentoml_argv(*, host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line this CLI runs."""
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default; put TLS in front for a network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 3000,
    home: Annotated[Path | None, typer.Option(help="risingrisk home (publications, registry, tokens, audit); default $RISINGRISK_HOME or ./.risingrisk.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes; each holds the publication in memory (about 1.5 GB per 1,000,000 people).")] = 1,
) -> None:
    """Serve neighbourhood lists, explanations, PHM scoring and clinician pages (bentoml serve; runs until stopped)."""
    from rich.console import Console
    from rich.table import Table

    from features.home import HOME_ENV, home as resolve_home

    where = resolve_home(home)
    overrides = " ".join(o for o in (os.environ.get("BENTOML_CONFIG_OPTIONS", ""), f"services.risingrisk.workers={workers}") if o)
    env = {**os.environ, HOME_ENV: str(where.root), "BENTOML_CONFIG_OPTIONS": overrides}
    base = f"http://{host}:{port}"
    table = Table(title="risingrisk serve")
    table.add_column("item")
    table.add_column("value")
    for label, value in (
        ("home", str(where.root)),
        ("workers", str(workers)),
        ("current publication", (where.publications / "CURRENT").read_text().strip() if (where.publications / "CURRENT").exists() else "none (readyz will fail)"),
        ("tokens file", f"{where.tokens} ({'present' if where.tokens.exists() else 'absent: risingrisk tokens create'})"),
        ("audit log", str(where.audit_db)),
        ("API docs", f"{base}/  (OpenAPI at {base}/docs.json)"),
        ("clinician pages", f"{base}/pages/login"),
        ("health", f"{base}/livez  {base}/readyz  {base}/metrics"),
    ):
        table.add_row(label, value)
    Console().print(table)
    argv = bentoml_argv(host=host, port=port)
    os.execve(argv[0], argv, env)
