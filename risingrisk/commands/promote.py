"""``risingrisk promote``: make a challenger the champion when it is at least as good."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from training.config import OUTCOMES
from training.errors import ModelNotFoundError, PromotionError
from training.promote import PromotionDecision, promote
from training.registry import CHALLENGER

__all__ = ["promote_command", "decision_table"]


def decision_table(decision: PromotionDecision) -> Table:
    """Every promotion check with its result and numbers."""
    table = Table(title=f"Promotion of v{decision.challenger_version} (champion: {decision.champion_version or 'none'})")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in decision.checks:
        table.add_row(check.name, "[green]pass[/]" if check.passed else "[red]fail[/]", check.detail)
    return table


def promote_command(
    outcome: Annotated[str, typer.Option(help=f"Outcome whose model to promote: {', '.join(OUTCOMES)}.")] = "high_intensity_use",
    challenger: Annotated[str, typer.Option(help="Alias of the candidate version.")] = CHALLENGER,
) -> None:
    """Make the challenger the champion if it is at least as good out-of-time and passes the equity gates (exit 1 if refused)."""
    console = Console()
    try:
        decision = promote(outcome=outcome, challenger_alias=challenger)
    except (ModelNotFoundError, PromotionError) as exc:
        console.print(f"[red]promote failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    console.print(decision_table(decision))
    if decision.promoted:
        console.print(f"[green]v{decision.challenger_version} is now the champion.[/]")
        return
    console.print(f"[red]Refused:[/] {'; '.join(decision.reasons)}")
    raise typer.Exit(code=1)
