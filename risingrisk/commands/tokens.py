"""``risingrisk tokens``: create, list and revoke the service's bearer tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.home import home as resolve_home
from serving.auth import TokenRecord
from serving.errors import TokenError
from serving.tokens import create_token, list_tokens, revoke_token

__all__ = ["tokens_app", "create_command", "list_command", "revoke_command"]

tokens_app = typer.Typer(help="Bearer tokens of the service: one per neighbourhood team, or the PHM team.", no_args_is_help=True)

HomeOption = Annotated[Path | None, typer.Option(help="risingrisk home; default $RISINGRISK_HOME or ./.risingrisk.")]


def _scope(record: TokenRecord) -> str:
    return "phm" if record.scope == "phm" else ", ".join(record.scope)


@tokens_app.command("create")
def create_command(
    neighbourhood: Annotated[list[str] | None, typer.Option("--neighbourhood", "-n", help="Neighbourhood the token may see (repeat for several).")] = None,
    phm: Annotated[bool, typer.Option("--phm", help="PHM scope: every neighbourhood, every person, POST /v1/score.")] = False,
    label: Annotated[str, typer.Option(help="Who holds the token (team name); no patient data.")] = "",
    home: HomeOption = None,
) -> None:
    """Create a token and print it once; only its SHA-256 hash is stored."""
    console = Console()
    try:
        created = create_token(resolve_home(home), neighbourhoods=neighbourhood or [], phm=phm, label=label)
    except TokenError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    table = Table(title="Token created")
    table.add_column("item")
    table.add_column("value")
    table.add_row("id", created.record.id)
    table.add_row("scope", _scope(created.record))
    table.add_row("label", created.record.label)
    table.add_row("checked against", "current publication" if created.checked_against_publication else "nothing published yet (names not checked)")
    table.add_row("stored in", str(created.tokens_file))
    console.print(table)
    console.print("Token (shown once, store it now; send it as 'Authorization: Bearer <token>'):")
    print(created.token)


@tokens_app.command("list")
def list_command(home: HomeOption = None) -> None:
    """List tokens (ids, scopes, labels, dates); secrets are never shown."""
    where = resolve_home(home)
    table = Table(title=f"Tokens in {where.tokens}")
    for column in ("id", "scope", "label", "created", "revoked"):
        table.add_column(column)
    for r in list_tokens(where):
        table.add_row(r.id, _scope(r), r.label, r.created_at, r.revoked_at or "")
    Console().print(table)


@tokens_app.command("revoke")
def revoke_command(token_id: Annotated[str, typer.Argument(help="Token id (from risingrisk tokens list).")], home: HomeOption = None) -> None:
    """Revoke a token; the running service refuses it from the next request on."""
    console = Console()
    try:
        record = revoke_token(resolve_home(home), token_id)
    except TokenError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    table = Table(title="Token revoked")
    table.add_column("id")
    table.add_column("revoked at")
    table.add_row(record.id, str(record.revoked_at))
    console.print(table)
