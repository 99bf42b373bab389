"""Every command of the ``risingrisk`` command line answers ``--help`` and lists in pipeline order."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from risingrisk.cli import app

COMMANDS = ["demo", "simulate", "validate", "features", "train", "promote", "score", "serve", "tokens"]
SUBCOMMANDS = [["tokens", "create"], ["tokens", "list"], ["tokens", "revoke"]]


@pytest.mark.parametrize("argv", [[c] for c in COMMANDS] + SUBCOMMANDS, ids=" ".join)
def test_every_command_answers_help_with_its_usage(argv: list[str]) -> None:
    result = CliRunner().invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: risingrisk {' '.join(argv)}" in " ".join(result.output.split())


def test_top_level_help_lists_the_commands_in_pipeline_order() -> None:
    output = CliRunner().invoke(app, ["--help"]).output
    lines = output[output.index("Commands"):].splitlines()[1:]
    listed = [words[0] for words in (line.strip("│|╭╰─ ").split() for line in lines) if words and words[0] in COMMANDS]
    assert listed == COMMANDS
