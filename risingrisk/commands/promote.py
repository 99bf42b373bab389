"""``risingrisk promote``: make a challenger the champion when it is at least as good."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from features.home import home as resolve_home
from risingrisk.console import FittedTable, HomeOption, library_log, new_console
from training.config import OUTCOMES
from training.errors import ModelNotFoundError, PromotionError
from training.promote import PromotionDecision, promote
from training.registry import CHALLENGER

__all__ = ["decision_table", "print_decision", "promote_command"]


def decision_table(decision: PromotionDecision) -> FittedTable:
    """Every promotion check with its result and numbers."""
    return FittedTable(
        f"Promotion of v{decision.challenger_version} (champion: {decision.champion_version or 'none'})",
        ["check", "result", "detail"],
        [[check.name, "[green]pass[/]" if check.passed else "[red]fail[/]", check.detail] for check in decision.checks],
    )


def decision_sentence(decision: PromotionDecision) -> str:
    """One sentence: promoted (and which version it replaces) or refused, with the reasons."""
    if decision.promoted:
        replaced = f", replacing v{decision.champion_version}" if decision.champion_version else ""
        return f"[green]Promoted:[/] v{decision.challenger_version} is now the champion{replaced}."
    kept = f" v{decision.champion_version} stays the champion." if decision.champion_version else " There is no champion."
    return f"[red]Not promoted:[/] v{decision.challenger_version} was refused: {'; '.join(decision.reasons)}.{kept}"


def print_decision(console: Console, decision: PromotionDecision, *, table: bool = True) -> None:
    """Print the decision (with the table of checks when ``table``)."""
    if table:
        console.print(decision_table(decision))
    console.print(decision_sentence(decision))


def promote_command(
    outcome: Annotated[str, typer.Option(metavar="OUTCOME", help=f"Outcome whose model to promote: {', '.join(OUTCOMES)}.")] = "high_intensity_use",
    challenger: Annotated[str, typer.Option(metavar="ALIAS", help="Alias of the candidate version.")] = CHALLENGER,
    own_gates: Annotated[
        bool,
        typer.Option(help="When no fair comparison with the champion can be made (it was trained with the old split, or too few "
                     "outcomes among people neither model was trained on), promote on the challenger's own gates instead of refusing."),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Make the challenger the champion if it is at least as good out-of-time and passes the equity gates (exit 1 if refused)."""
    console = new_console()
    where = resolve_home(home)
    try:
        with library_log(where):
            decision = promote(home=where, outcome=outcome, challenger_alias=challenger, own_gates=own_gates)
    except (ModelNotFoundError, PromotionError) as exc:
        console.print(f"[red]promote failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    print_decision(console, decision)
    if not decision.promoted:
        raise typer.Exit(code=1)
