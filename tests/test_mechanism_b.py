"""The second simulated mechanism (self-exciting urgent care): a valid contract directory with the oracle's truth, reproducible from its seed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_features
from features.simulation.errors import SimulationError
from features.simulation.mechanism_b import simulate_mechanism_b
from features.validate import validate


@pytest.fixture(scope="module")
def mechanism_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mechb") / "data"
    simulate_mechanism_b(people=600, seed=3, out=out, start=date(2022, 1, 1), end=date(2024, 7, 1))
    return out


def test_mechanism_b_writes_a_contract_directory_that_validates_without_quarantine(mechanism_b: Path) -> None:
    report = validate(mechanism_b)
    assert report.rows_quarantined == 0
    assert {p.name for p in mechanism_b.glob("*.parquet")} == {"persons.parquet", "events.parquet", "codes.parquet"}


def test_mechanism_b_truth_has_one_row_per_person_month_in_the_oracles_schema(mechanism_b: Path) -> None:
    truth = pd.read_parquet(mechanism_b / "_truth" / "latent_risk.parquet")
    assert list(truth.columns) == ["person_id", "month", "ed_rate", "emergency_admission_rate", "ambulance_111_rate"]
    assert len(truth) == 600 * 30 and (truth[["ed_rate", "emergency_admission_rate", "ambulance_111_rate"]] > 0).all().all()


def test_mechanism_b_is_reproducible_from_its_seed(mechanism_b: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    simulate_mechanism_b(people=600, seed=3, out=again, start=date(2022, 1, 1), end=date(2024, 7, 1))
    for name in ("persons", "events", "codes"):
        pd.testing.assert_frame_equal(pd.read_parquet(mechanism_b / f"{name}.parquet"), pd.read_parquet(again / f"{name}.parquet"))


def test_mechanism_b_features_and_labels_build_with_the_product_code(mechanism_b: Path) -> None:
    table = build_features(mechanism_b, as_of=["2023-01-01"], labels=True)
    assert len(table) == 600 and table["label_high_intensity_use"].notna().all()
    assert table["ed_0_3m"].sum() > 0 and table["ltc_count"].sum() > 0


def test_mechanism_b_refuses_a_window_shorter_than_a_year(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="at least a year apart"):
        simulate_mechanism_b(people=200, seed=1, out=tmp_path, start=date(2024, 1, 1), end=date(2024, 6, 1))
