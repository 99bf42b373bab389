"""The ``risingrisk`` command line: one command per pipeline stage."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="risingrisk",
    help="Predict who is rising risk of high intensity use of urgent care, 6-18 months ahead, "
    "and serve capacity-sized lists to neighbourhood teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Registration: one line per command; the command functions live in their stage's module.
from serving.score import score_command  # noqa: E402
app.command("score")(score_command)
from features.validate import validate_command  # noqa: E402
app.command("validate")(validate_command)
from features.simulation import simulate_command  # noqa: E402
app.command("simulate")(simulate_command)
from training.train import train_command  # noqa: E402
app.command("train")(train_command)
from training.promote import promote_command  # noqa: E402
app.command("promote")(promote_command)
from serving.run import serve_command  # noqa: E402
app.command("serve")(serve_command)
from serving.tokens import tokens_app  # noqa: E402
app.add_typer(tokens_app, name="tokens")
from risingrisk.demo import demo_command  # noqa: E402
app.command("demo")(demo_command)
from features.command import features_command  # noqa: E402
app.command("features")(features_command)
