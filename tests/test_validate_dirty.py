"""Validation of the simulator's --dirty output: every planted defect found, nothing clean quarantined, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.contract import TABLE_NAMES
from features.validate import ValidationReport, validate


@pytest.fixture(scope="module")
def validated(sim_dir_dirty: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ValidationReport, Path]:
    out = tmp_path_factory.mktemp("validated_dirty")
    return validate(sim_dir_dirty, out=out), out


def test_each_rule_quarantines_exactly_the_rows_planted_for_it(sim_dir_dirty: Path, validated: tuple[ValidationReport, Path]) -> None:
    report, _ = validated
    manifest = json.loads((sim_dir_dirty / "_truth" / "dirty_manifest.json").read_text())
    for table in TABLE_NAMES:
        found = {rule: n for rule, n in report.tables[table].quarantined_by_rule.items() if n}
        assert found == manifest[table], table


def test_rows_read_equal_rows_accepted_plus_rows_quarantined(validated: tuple[ValidationReport, Path]) -> None:
    report, out = validated
    for name in TABLE_NAMES:
        table = report.tables[name]
        assert table.rows_read == table.rows_accepted + table.rows_quarantined
        assert len(pd.read_parquet(out / f"{name}.parquet", columns=["person_id"])) == table.rows_accepted
        assert len(pd.read_csv(out / "rejected" / f"{name}.csv", usecols=["row"])) == table.rows_quarantined


def test_every_rejected_row_number_points_at_a_distinct_input_row(validated: tuple[ValidationReport, Path]) -> None:
    report, out = validated
    for name in TABLE_NAMES:
        rows = pd.read_csv(out / "rejected" / f"{name}.csv", usecols=["row"])["row"]
        assert rows.is_unique
        assert rows.between(1, report.tables[name].rows_read).all()


def test_the_accepted_output_is_itself_a_clean_data_directory(validated: tuple[ValidationReport, Path], tmp_path: Path) -> None:
    _, out = validated
    again = validate(out, out=tmp_path / "again")
    assert again.rows_quarantined == 0
