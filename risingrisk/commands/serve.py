"""``risingrisk serve``: start the BentoML service on a home (runs until stopped)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.database import database_url, require_up_to_date
from features.errors import DatabaseNotMigratedError, DatabaseUrlError
from features.home import home as resolve_home
from serving.run import serve_launch

__all__ = ["serve_command"]


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default; put TLS in front for a network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 3000,
    home: Annotated[Path | None, typer.Option(help="risingrisk home (publications, registry, tokens, audit); default $RISINGRISK_HOME or ./.risingrisk.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes; each holds the publication in memory (about 1.5 GB per 1,000,000 people).")] = 1,
) -> None:
    """Serve neighbourhood lists, explanations, PHM scoring and clinician pages (bentoml serve; runs until stopped)."""
    where = resolve_home(home)
    try:
        require_up_to_date(database_url(where))
    except (DatabaseNotMigratedError, DatabaseUrlError) as error:
        Console().print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    launch = serve_launch(where, host=host, port=port, workers=workers)
    table = Table(title="risingrisk serve")
    table.add_column("item")
    table.add_column("value")
    for label, value in launch.facts:
        table.add_row(label, value)
    Console().print(table)
    os.execve(launch.argv[0], launch.argv, launch.env)
