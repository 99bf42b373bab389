"""Shared session fixtures: a clean and a dirty simulated population (fixed seed and window)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from features.simulation import simulate

#: The fixtures' fixed window, so tests never depend on today's date.
SIM_START = date(2021, 1, 1)
SIM_END = date(2025, 1, 1)
SIM_PEOPLE = 20_000
SIM_SEED = 20240


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean simulated data directory: 20,000 people, 2021-01-01 to 2025-01-01, Parquet."""
    out = tmp_path_factory.mktemp("sim") / "data"
    simulate(people=SIM_PEOPLE, seed=SIM_SEED, out=out, start=SIM_START, end=SIM_END)
    return out


@pytest.fixture(scope="session")
def sim_dir_dirty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same population with planted defects, written as CSV; manifest in ``_truth/dirty_manifest.json``."""
    out = tmp_path_factory.mktemp("sim_dirty") / "data"
    simulate(people=SIM_PEOPLE, seed=SIM_SEED, out=out, start=SIM_START, end=SIM_END, dirty=True)
    return out
