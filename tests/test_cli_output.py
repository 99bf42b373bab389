"""What the commands print reads well at 80 columns and in a log file: whole figures, one line per stage, no library chatter, plain option types."""

from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from features.home import Home
from features.simulation.calibration import CalibrationRow
from risingrisk.cli import app
from risingrisk.commands.promote import decision_sentence, decision_table
from risingrisk.commands.simulate import calibration_table
from risingrisk.commands.train import summary_table
from risingrisk.console import FittedTable, library_log, log_file, print_raw, stage_progress
from training.metrics import MetricCI
from training.promote import Check, PromotionDecision
from training.train import TrainResult

METRICS = ("auroc", "auprc", "ppv_capacity", "lift_capacity", "calibration_slope", "brier")


def render(renderable: object, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def trained() -> TrainResult:
    metrics = {
        key: {name: MetricCI(0.8612 + k / 100 + j / 1000, 0.8123 + k / 100, 0.9034 + k / 100) for j, name in enumerate(METRICS)}
        for k, key in enumerate(("lightgbm", "ed_count", "herts_segmentation", "logistic"))
    }
    return TrainResult(
        run_id="r1", model_name="risingrisk-high-intensity-use", version="12", index_dates={}, metrics=metrics,
        oracle={"oracle_auroc": 0.957, "oracle_auroc_low": 0.938, "oracle_auroc_high": 0.977, "oracle_ppv_capacity": 0.784},
        calibration_method="isotonic", equity_passed=True, equity_failures=(), capacity_fraction=0.005,
        slices=pd.DataFrame(), model_card=None,
    )


def test_the_training_comparison_at_80_columns_shows_every_estimate_and_interval_whole() -> None:
    result = trained()
    text = render(summary_table(result))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for values in result.metrics.values():
        for digits, name in zip((3, 3, 3, 1, 2, 4), METRICS):
            assert values[name].text(digits).split()[0] in text
            assert values[name].text(digits).split()[1] in text
    assert "(0.938–0.977)" in text and "0.784" in text


def test_a_table_too_wide_for_the_screen_is_stacked_repeating_its_key_column() -> None:
    headers = ["model", *(f"metric {n}" for n in range(8))]
    rows = [["LightGBM", *(f"0.{n}12 (0.{n}01–0.{n}23)" for n in range(8))]]
    table = FittedTable("wide", headers, rows)
    text = render(table)
    assert table.parts(80) == [[0, 1, 2, 3, 4], [0, 5, 6, 7, 8]]
    assert text.count("LightGBM") == 2 and "wide (continued)" in text
    assert all(f"(0.{n}01–0.{n}23)" in text for n in range(8)) and "…" not in text


def test_a_word_wider_than_the_screen_is_folded_not_cut() -> None:
    path = "/srv/risingrisk/" + "very-long-folder-name-" * 6 + "publication"
    text = render(FittedTable("paths", ["item", "value"], [["folder", path]]))
    assert "…" not in text
    cells = [line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│")]
    assert "".join(cells) == path and len(cells) > 1


def test_the_promotion_decision_table_and_sentence_show_every_check_and_the_reasons() -> None:
    decision = PromotionDecision(
        promoted=False, challenger_version="3", champion_version="2",
        checks=(Check("equity gates", True, "all groups within tolerance"),
                Check("AUROC", False, "challenger AUROC 0.8123 is below champion 0.8456 minus tolerance 0.0100")),
    )
    text = render(decision_table(decision))
    assert "…" not in text and "0.8123" in text and "0.8456" in text and "0.0100" in text
    sentence = render(decision_sentence(decision), width=200)
    assert sentence.strip() == (
        "Not promoted: v3 was refused: challenger AUROC 0.8123 is below champion 0.8456 minus tolerance 0.0100. "
        "v2 stays the champion."
    )
    promoted = PromotionDecision(promoted=True, challenger_version="3", champion_version="2", checks=decision.checks[:1])
    assert render(decision_sentence(promoted)).strip() == "Promoted: v3 is now the champion, replacing v2."


def test_the_simulation_calibration_table_at_80_columns_keeps_every_figure() -> None:
    rows = [CalibrationRow("share of people with any A&E attendance in a year", "proportion", 0.2345, 0.23, 0.2, 0.26, "NHS"),
            CalibrationRow("emergency admissions per 1,000 people per year", "per 1,000", 98.76, 100.0, 85.0, 115.0, "NHS")]
    text = render(calibration_table(rows))
    assert "…" not in text
    assert all(figure in text for figure in ("0.2345", "0.23", "0.2 - 0.26", "98.76", "85 - 115", "per 1,000"))


def test_raw_lines_are_never_wrapped_however_narrow_the_console() -> None:
    line = "curl -H 'Authorization: Bearer rr_abc_" + "x" * 60 + "' 'http://127.0.0.1:3000/v1/neighbourhoods/A1%20Network/list'"
    console = Console(file=io.StringIO(), width=40, color_system=None)
    print_raw(console, line)
    assert console.file.getvalue() == line + "\n"  # type: ignore[attr-defined]


def test_off_a_terminal_each_stage_prints_one_line_with_its_duration_then_the_total() -> None:
    console = Console(file=io.StringIO(), width=80, color_system=None, force_terminal=False)
    with stage_progress("demo", console, where=Home(Path("/nonexistent-home"))) as stages:
        for stage in ("simulate", "train"):
            stages(stage, 0, 2)
            stages.detail("inner step", 1, 3)
            stages(stage, 1, 2)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert [re.sub(r"\d+\.\d s", "N s", line) for line in lines] == [
        "demo: simulate … N s", "demo: train … N s", "demo: finished in N s",
    ]
    assert list(stages.seconds) == ["simulate", "train"]


def test_a_failing_stage_ends_its_line_with_failed(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=80, color_system=None, force_terminal=False)
    with pytest.raises(ValueError), stage_progress("train", console, where=Home(tmp_path)) as stages:
        stages("fit", 0, 1)
        raise ValueError("bad")
    assert re.fullmatch(r"train: fit … failed after \d+\.\d s\n", console.file.getvalue())  # type: ignore[attr-defined]


def test_library_log_lines_warnings_and_stderr_go_to_the_home_log_file_not_the_console(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    where = Home(tmp_path)
    with library_log(where) as path:
        logging.getLogger("mlflow.tracking").info("Created version '1' of model 'm'.")
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        warnings.warn("a library warning", UserWarning, stacklevel=1)
        print("Successfully registered model 'm'.", file=sys.stderr)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert path == log_file(where) == tmp_path / "logs" / "risingrisk.log"
    logged = path.read_text()
    for text in ("Created version '1'", "Context impl SQLiteImpl.", "a library warning", "Successfully registered model 'm'."):
        assert text in logged
    assert logging.getLogger("alembic").handlers != [] and not any(
        getattr(h, "stream", None).__class__.__name__ == "_LazyLog" for h in logging.getLogger("alembic").handlers
    )


def test_nothing_logged_creates_no_log_folder(tmp_path: Path) -> None:
    with library_log(Home(tmp_path / "home")):
        pass
    assert not (tmp_path / "home").exists()


COMMANDS = [["demo"], ["simulate"], ["validate"], ["features"], ["train"], ["promote"], ["score"], ["serve"],
            ["tokens", "create"], ["tokens", "list"], ["tokens", "revoke"], ["db", "upgrade"], ["db", "current"],
            ["import", "fhir"], ["import", "omop"]]
HOME_COMMANDS = [c for c in COMMANDS if c[0] not in ("simulate", "validate", "features", "import")]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_help_names_option_types_as_people_write_them(argv: list[str]) -> None:
    output = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    assert not re.search(r"<(bool|str|int|float|path|list\[[a-z]+\]|int range)>", output), output
    assert "…" not in output


@pytest.mark.parametrize("argv", HOME_COMMANDS, ids=" ".join)
def test_every_command_that_uses_the_home_takes_home_and_the_environment_variable(argv: list[str]) -> None:
    output = " ".join(CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "80"}).output.split())
    assert "--home DIR" in output.replace("│", "").replace("  ", " ") or re.search(r"--home\s+DIR", output)
    assert "RISINGRISK_HOME" in output


def test_dates_show_as_yyyy_mm_dd_in_help() -> None:
    for argv, option in ((["validate"], "--extract-date"), (["features"], "--as-of"), (["score"], "--as-of"), (["simulate"], "--start")):
        output = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "100"}).output
        assert re.search(rf"{option}\s+YYYY-MM-DD", output), output


def test_version_prints_the_package_version() -> None:
    from risingrisk import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"risingrisk {__version__}\n"
