"""The ``risingrisk`` command line: one command per pipeline stage."""

from __future__ import annotations

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandInfo, DefaultPlaceholder, TyperInfo

from risingrisk import __version__
from risingrisk.commands.audit import audit_app
from risingrisk.commands.db import db_app
from risingrisk.commands.evaluate import evaluate_command
from risingrisk.commands.features import features_command
from risingrisk.commands.impact import impact_command
from risingrisk.commands.importers import import_app
from risingrisk.commands.learning_curve import learning_curve_command
from risingrisk.commands.monitor import monitor_command
from risingrisk.commands.promote import promote_command
from risingrisk.commands.score import score_command
from risingrisk.commands.serve import serve_command
from risingrisk.commands.simulate import simulate_command
from risingrisk.commands.tokens import tokens_app
from risingrisk.commands.train import train_command
from risingrisk.commands.validate import validate_command
from risingrisk.demo import demo_command

__all__ = ["app", "help_types"]

#: How option types read in ``--help`` when an option sets no ``metavar`` (typer shows ``<bool>``, ``<list[str]>``).
PLAIN_TYPES = {"bool": "", "int": "INTEGER", "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER",
               "str": "TEXT", "path": "PATH", "file": "FILE", "directory": "DIR", "%Y-%m-%d": "YYYY-MM-DD",
               "datetime": "DATE-TIME"}


def _plain(option: TyperOption, ctx: typer.Context) -> None:
    if option.metavar is not None:
        return
    label = option.display_type(ctx).strip("<>")
    element = label.removeprefix("list[").removesuffix("]")
    option.metavar = PLAIN_TYPES.get(element, element.upper())  # a repeatable option takes one value each time


class _NamedArgument(TyperArgument):
    """An argument whose help shows only its name (``SRC``), not a second ``<path>`` type column."""

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return None


class _PlainTypes:
    """Help that names option types as people write them: flags show no type, text ``TEXT``, dates ``YYYY-MM-DD``."""

    def get_params(self, ctx: typer.Context) -> list:  # type: ignore[type-arg]
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperOption):
                _plain(param, ctx)
            elif type(param) is TyperArgument:
                param.__class__ = _NamedArgument
        return params


class PlainTypesCommand(_PlainTypes, TyperCommand):
    """A command whose ``--help`` shows plain option types."""


class PlainTypesGroup(_PlainTypes, TyperGroup):
    """A command group whose ``--help`` shows plain option types."""


def _stock(cls: object, default: type) -> bool:
    """True when ``cls`` is typer's default class (unset, a placeholder, or ``default`` itself), not one a module chose."""
    return cls is None or cls is default or isinstance(cls, DefaultPlaceholder)


def help_types(typer_app: typer.Typer) -> typer.Typer:
    """Give every command and group of ``typer_app`` (recursively) plain option types in ``--help``; return it."""
    if _stock(typer_app.info.cls, TyperGroup):
        typer_app.info.cls = PlainTypesGroup
    command: CommandInfo
    for command in typer_app.registered_commands:
        if _stock(command.cls, TyperCommand):
            command.cls = PlainTypesCommand
    group: TyperInfo
    for group in typer_app.registered_groups:
        if _stock(group.cls, TyperGroup):
            group.cls = PlainTypesGroup
        if group.typer_instance is not None:
            help_types(group.typer_instance)
    return typer_app


def _version(value: bool) -> None:
    if value:
        typer.echo(f"risingrisk {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="risingrisk",
    help="Predict who is rising risk of high intensity use of urgent care, 6-18 months ahead, "
    "and serve capacity-sized lists to neighbourhood teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Predict who is rising risk of high intensity use of urgent care, 6-18 months ahead."""


# In pipeline order, so --help reads as the product's workflow.
app.command("demo")(demo_command)
app.command("simulate")(simulate_command)
app.add_typer(import_app, name="import")
app.command("validate")(validate_command)
app.command("features")(features_command)
app.command("train")(train_command)
app.command("promote")(promote_command)
app.command("evaluate")(evaluate_command)
app.command("learning-curve")(learning_curve_command)
app.command("score")(score_command)
app.command("serve")(serve_command)
app.command("monitor")(monitor_command)
app.command("impact")(impact_command)
app.add_typer(tokens_app, name="tokens")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
help_types(app)
