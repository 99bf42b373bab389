"""``risingrisk tokens``: create, list and revoke the service's bearer tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from features.home import home as resolve_home
from risingrisk.console import FittedTable, HomeOption, new_console, print_raw
from serving.auth import TokenRecord
from serving.errors import TokenError
from serving.tokens import create_token, list_tokens, revoke_token

__all__ = ["tokens_app", "create_command", "list_command", "revoke_command"]

tokens_app = typer.Typer(help="Bearer tokens of the service: one per neighbourhood team, or the PHM team.", no_args_is_help=True)

def _scope(record: TokenRecord) -> str:
    return "phm" if record.scope == "phm" else ", ".join(record.scope)


@tokens_app.command("create")
def create_command(
    neighbourhood: Annotated[list[str] | None, typer.Option("--neighbourhood", "-n", metavar="NAME", help="Neighbourhood the token may see (repeat for several).")] = None,
    phm: Annotated[bool, typer.Option("--phm", help="PHM scope: every neighbourhood, every person, POST /v1/score.")] = False,
    label: Annotated[str, typer.Option(metavar="TEXT", help="Who holds the token (team name); no patient data.")] = "",
    home: HomeOption = None,
) -> None:
    """Create a token and print it once; only its SHA-256 hash is stored."""
    console = new_console()
    try:
        created = create_token(resolve_home(home), neighbourhoods=neighbourhood or [], phm=phm, label=label)
    except TokenError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    console.print(FittedTable("Token created", ["item", "value"], [
        ["id", created.record.id],
        ["scope", _scope(created.record)],
        ["label", created.record.label],
        ["checked against", "current publication" if created.checked_against_publication else "nothing published yet (names not checked)"],
        ["hash stored in", str(created.tokens_file)],
    ]))
    console.print("Token (shown once: only its hash is stored; keep it now and send it as 'Authorization: Bearer <token>'):", markup=False)
    print_raw(console, created.token)


@tokens_app.command("list")
def list_command(home: HomeOption = None) -> None:
    """List tokens (ids, scopes, labels, dates); secrets are never shown."""
    where = resolve_home(home)
    rows = [[r.id, _scope(r), r.label, r.created_at, r.revoked_at or ""] for r in list_tokens(where)]
    new_console().print(FittedTable(f"Tokens in {where.tokens}", ["id", "scope", "label", "created", "revoked"], rows))


@tokens_app.command("revoke")
def revoke_command(token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id (from risingrisk tokens list).")], home: HomeOption = None) -> None:
    """Revoke a token; the running service refuses it from the next request on."""
    console = new_console()
    try:
        record = revoke_token(resolve_home(home), token_id)
    except TokenError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    console.print(FittedTable("Token revoked", ["id", "revoked at"], [[record.id, str(record.revoked_at)]]))
