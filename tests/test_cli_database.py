"""Commands that read the home's database refuse an out-of-date one before any long work, with the command to run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.database import database_url, head_revision, upgrade
from features.home import Home
from risingrisk.cli import app


def _home_behind(root: Path) -> Home:
    """A home whose database was migrated, then marked one revision older (as after upgrading the code, not the database)."""
    home = Home(root)
    upgrade(database_url(home))
    with sqlite3.connect(root / "risingrisk.sqlite") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    return home


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "--data", "DATA"],
        ["train", "--data", "DATA"],
        ["learning-curve", "--data", "DATA"],
        ["impact", "--data", "DATA", "--out", "DATA"],
    ],
)
def test_a_database_behind_the_code_stops_the_command_with_the_upgrade_command_and_exit_2(tmp_path: Path, argv: list[str]) -> None:
    _home_behind(tmp_path / "home")
    data = tmp_path / "data"
    data.mkdir()
    result = CliRunner().invoke(app, [*[str(data) if a == "DATA" else a for a in argv], "--home", str(tmp_path / "home")])
    assert result.exit_code == 2, result.output
    assert f"must be at migration {head_revision()}; got 0001" in result.output
    assert "Run: risingrisk db upgrade" in result.output
    assert "Traceback" not in result.output


def test_a_home_without_a_database_is_not_refused_for_its_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = CliRunner().invoke(app, ["score", "--data", str(data), "--home", str(tmp_path / "home")])
    assert "db upgrade" not in result.output
    assert not (tmp_path / "home" / "risingrisk.sqlite").exists()
