"""The commands' config options: one --config for every command that reads an experiment, and usage errors (exit 2)
that name the file, the key path and the fix for a bad experiment, capacity or monitoring file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from risingrisk.cli import app
from risingrisk.console import EXPERIMENT_HELP

#: Each command that reads an experiment, with the other options it requires.
EXPERIMENT_COMMANDS = {
    "train": ["--data", "{tmp}/data"],
    "learning-curve": ["--data", "{tmp}/data"],
    "evaluate": ["--data", "{tmp}/data", "--as-of", "2024-01-01"],
    "features": ["--data", "{tmp}/data", "--out", "{tmp}/f.parquet"],
    "score": ["--data", "{tmp}/data"],
    "impact": ["--data", "{tmp}/data", "--out", "{tmp}/impact"],
}
WIDE = {"COLUMNS": "250"}


def _run(tmp_path: Path, command: str, *extra: str):
    argv = [command, *(a.replace("{tmp}", str(tmp_path)) for a in EXPERIMENT_COMMANDS.get(command, [])), *extra]
    return CliRunner().invoke(app, [*argv, "--home", str(tmp_path / "home")] if command != "features" else argv, env=WIDE)


def _said(output: str) -> str:
    """The output as one line of words (rich's error panel wraps long messages and draws a border)."""
    return " ".join(output.replace("│", " ").split())


@pytest.mark.parametrize("command", list(EXPERIMENT_COMMANDS))
def test_every_command_that_reads_an_experiment_shows_the_same_config_option(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    shown = re.search(r"--config\s+FILE\s+(.+?)\s*│", result.output)
    assert shown is not None and shown.group(1) == EXPERIMENT_HELP


@pytest.mark.parametrize("command", list(EXPERIMENT_COMMANDS))
def test_an_unknown_experiment_key_exits_2_naming_the_file_the_key_path_and_the_fix(tmp_path: Path, command: str) -> None:
    experiment = tmp_path / "exp.toml"
    experiment.write_text("[evaluation]\ncapacity_per_100 = 6\n")
    result = _run(tmp_path, command, "--config", str(experiment))
    assert result.exit_code == 2, result.output
    assert (
        f"Invalid value for '--config': {experiment} key 'evaluation.capacity_per_100' is not a setting; "
        "did you mean 'capacity_per_1000'? Remove or rename it."
    ) in _said(result.output)
    assert not (tmp_path / "home").exists() and not (tmp_path / "f.parquet").exists()


@pytest.mark.parametrize("command", ["train", "evaluate", "score"])
def test_an_experiment_value_out_of_range_or_a_missing_file_exits_2_with_the_fix(tmp_path: Path, command: str) -> None:
    experiment = tmp_path / "exp.toml"
    experiment.write_text("[evaluation]\ncapacity_per_1000 = 0\n")
    result = _run(tmp_path, command, "--config", str(experiment))
    assert result.exit_code == 2, result.output
    assert f"{experiment} evaluation.capacity_per_1000 must be in (0, 1000); got 0.0. Use e.g. 6." in _said(result.output)
    missing = _run(tmp_path, command, "--config", str(tmp_path / "none.toml"))
    assert missing.exit_code == 2, missing.output
    assert f"experiment config file must exist; got {tmp_path / 'none.toml'}. Check the path or omit --config." in _said(missing.output)


def test_evaluate_refuses_an_unknown_outcome_as_a_usage_error(tmp_path: Path) -> None:
    result = _run(tmp_path, "evaluate", "--outcome", "falls")
    assert result.exit_code == 2, result.output
    assert (
        "Invalid value for '--outcome': must be one of ['high_intensity_use', 'emergency_admission']; got 'falls'. "
        "Name one of them, or omit --outcome for the experiment's."
    ) in _said(result.output)


def test_features_refuses_a_data_end_that_is_not_a_date_naming_the_option(tmp_path: Path) -> None:
    result = _run(tmp_path, "features", "--data-end", "2024-13-01")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--data-end': [features] data_end input should be a valid date" in _said(result.output)
    assert "got '2024-13-01'. Fix the value of 'data_end'." in _said(result.output)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--capacity-per-thousand", "0"],
            "Invalid value for '--capacity-per-thousand': [capacity] per_thousand must be a number in (0, 1000] "
            "(list places per 1,000 registered people); got 0.0. Use e.g. 6 (Tier 2).",
        ),
        (
            ["--capacity-rule", "tier2"],
            "Invalid value for '--capacity-rule': [capacity] rule input should be 'per_population' or 'allocation'; got 'tier2'.",
        ),
        (
            ["--capacity-file", "{tmp}/teams.toml"],
            "Invalid value for '--capacity-file': {tmp}/teams.toml key 'capacity.overide' is not a setting; did you mean 'overrides'? "
            "Remove or rename it.",
        ),
        (
            ["--capacity-file", "{tmp}/none.toml"],
            "Invalid value for '--capacity-file': config file must exist; got {tmp}/none.toml. Check the path or omit --capacity-file.",
        ),
        (
            ["--monitor-config", "{tmp}/teams.toml"],
            "Invalid value for '--monitor-config': {tmp}/teams.toml [monitor] drop_ratio input should be less than 1; got 2.",
        ),
    ],
    ids=["per thousand", "rule", "capacity file key", "capacity file missing", "monitor file"],
)
def test_bad_capacity_or_monitoring_settings_stop_score_before_any_work_with_the_key_and_fix(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    (tmp_path / "teams.toml").write_text("[capacity]\noveride = { Ely = 40 }\n\n[monitor]\ndrop_ratio = 2\n")
    result = _run(tmp_path, "score", *(a.replace("{tmp}", str(tmp_path)) for a in extra))
    assert result.exit_code == 2, result.output
    assert message.replace("{tmp}", str(tmp_path)) in _said(result.output)
    assert not (tmp_path / "home").exists()
