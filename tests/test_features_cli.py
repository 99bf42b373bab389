"""The ``risingrisk features`` command on a tiny inline population."""

from __future__ import annotations

from datetime import date

import pandas as pd
from typer.testing import CliRunner

from risingrisk.cli import app

from features_support import code, event, person, write


def test_features_command_writes_the_table_and_prints_cohort_exclusions_and_prevalence(tmp_path):
    data = write(
        tmp_path,
        persons=[person("P1"), person("P2")],
        events=[event(date(2025, 11, 1), "emergency_admission", "P1"), event(date(2026, 12, 31), "gp", "P2")],
        codes=[code("103735009", date(2025, 1, 1), person_id="P2")],
    )
    (tmp_path / "exp.toml").write_text("[features]\nhiu_emergency_admission = 1\n")
    out = tmp_path / "out" / "features.parquet"
    result = CliRunner().invoke(
        app,
        ["features", "--data", str(data), "--as-of", "2025-04-01", "--as-of", "2024-04-01", "--labels",
         "--config", str(tmp_path / "exp.toml"), "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 4
    assert frame.loc[frame["as_of"] == "2025-04-01", "label_high_intensity_use"].tolist() == [1, 0]
    assert "excluded: end_of_life" in result.output
    assert "high intensity use" in result.output and "100.00%" in result.output
