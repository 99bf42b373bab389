"""The calibration table on 200,000 simulated people stays within its stated tolerances."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from features.simulation import simulate


@pytest.mark.slow
def test_every_calibration_figure_on_200000_people_is_within_tolerance(tmp_path: Path) -> None:
    summary = simulate(people=200_000, seed=7, out=tmp_path, start=date(2021, 1, 1), end=date(2025, 1, 1))
    failed = {r.figure: (round(r.simulated, 4), r.low, r.high) for r in summary.calibration if not r.passed}
    assert failed == {}
    written = json.loads((tmp_path / "_truth" / "calibration.json").read_text())
    assert [row["figure"] for row in written] == [r.figure for r in summary.calibration]
    assert len(written) == 25 and all(row["passed"] for row in written)
