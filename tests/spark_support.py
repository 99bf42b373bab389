"""Test helpers for the Spark tests: one small local session, skipped with the reason when pyspark or Java is absent."""

from __future__ import annotations

import pytest

from features.engines.spark_session import SparkSettings, spark_session
from features.errors import EngineUnavailableError

__all__ = ["TEST_SETTINGS", "start_or_skip"]

#: Few resources, so the suite stays fast on a shared machine.
TEST_SETTINGS = SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="1g", app_name="risingrisk-tests")


def start_or_skip() -> object:
    """The test Spark session (Spark reuses one per process), or a skip naming what to install."""
    try:
        return spark_session(TEST_SETTINGS)
    except EngineUnavailableError as error:
        pytest.skip(f"Spark engine unavailable here: {error}")
