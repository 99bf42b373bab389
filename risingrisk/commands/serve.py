"""``risingrisk serve``: start the BentoML service on a home (runs until stopped)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from features.database import database_url, require_up_to_date
from features.errors import ConfigError, DatabaseNotMigratedError
from features.home import home as resolve_home
from risingrisk.console import FittedTable, HomeOption, new_console
from serving.config import service_config
from serving.run import serve_launch

__all__ = ["serve_command"]


def serve_command(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on (loopback by default; put TLS in front for a network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port.")] = 3000,
    home: HomeOption = None,
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Worker processes; each holds the publication in memory (about 1.5 GB per 1,000,000 people).")] = 1,
) -> None:
    """Serve neighbourhood lists, explanations, PHM scoring and clinician pages (bentoml serve; runs until stopped)."""
    where = resolve_home(home)
    console = new_console()
    try:
        require_up_to_date(database_url(where))
        service_config(where)  # a malformed service.toml stops here, with the key and the fix, not inside a worker
    except (DatabaseNotMigratedError, ConfigError) as error:
        console.print(f"[red]{error}[/red]", soft_wrap=True)  # one line: the command to run must copy whole
        raise typer.Exit(2) from None
    launch = serve_launch(where, host=host, port=port, workers=workers)
    console.print(FittedTable("risingrisk serve", ["item", "value"], [list(fact) for fact in launch.facts]))
    os.execve(launch.argv[0], launch.argv, launch.env)
