"""The ``risingrisk`` command line: one command per pipeline stage."""

from __future__ import annotations

import typer

from risingrisk.commands.db import db_app
from risingrisk.commands.evaluate import evaluate_command
from risingrisk.commands.features import features_command
from risingrisk.commands.importers import import_app
from risingrisk.commands.promote import promote_command
from risingrisk.commands.score import score_command
from risingrisk.commands.serve import serve_command
from risingrisk.commands.simulate import simulate_command
from risingrisk.commands.tokens import tokens_app
from risingrisk.commands.train import train_command
from risingrisk.commands.validate import validate_command
from risingrisk.demo import demo_command

__all__ = ["app"]

app = typer.Typer(
    name="risingrisk",
    help="Predict who is rising risk of high intensity use of urgent care, 6-18 months ahead, "
    "and serve capacity-sized lists to neighbourhood teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# In pipeline order, so --help reads as the product's workflow.
app.command("demo")(demo_command)
app.command("simulate")(simulate_command)
app.add_typer(import_app, name="import")
app.command("validate")(validate_command)
app.command("features")(features_command)
app.command("train")(train_command)
app.command("promote")(promote_command)
app.command("evaluate")(evaluate_command)
app.command("score")(score_command)
app.command("serve")(serve_command)
app.add_typer(tokens_app, name="tokens")
app.add_typer(db_app, name="db")
