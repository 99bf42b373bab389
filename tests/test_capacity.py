"""Tests for serving.capacity: list sizes per neighbourhood under the default and allocation rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from serving.capacity import CapacityConfig, hiu_count_columns, list_sizes, neighbourhood_stats
from serving.errors import CapacityError


def _stats(**population: int) -> pd.DataFrame:
    return pd.DataFrame({"neighbourhood": list(population), "population": list(population.values()),
                         "imd_score": 0.0, "hiu_rate": np.nan})


def test_default_list_size_is_six_per_thousand_rounded_up() -> None:
    sizes = list_sizes(_stats(Cantab=30_000, Granta=30_001, Meridian=999, Empty=0))
    assert sizes == {"Cantab": 180, "Empty": 0, "Granta": 181, "Meridian": 6}


def test_per_thousand_is_configurable_and_exact_in_decimal() -> None:
    assert list_sizes(_stats(Ely=2_000, Wisbech=1_000), CapacityConfig(per_thousand=6.5)) == {"Ely": 13, "Wisbech": 7}


def test_override_replaces_a_neighbourhoods_size() -> None:
    config = CapacityConfig(overrides={"Ely": 40})
    assert list_sizes(_stats(Ely=2_000, Wisbech=1_000), config) == {"Ely": 40, "Wisbech": 6}


def test_override_for_an_unknown_neighbourhood_is_an_error() -> None:
    with pytest.raises(CapacityError, match="unknown \\['Nowhere'\\]"):
        list_sizes(_stats(Ely=2_000), CapacityConfig(overrides={"Nowhere": 4}))


def test_allocation_splits_the_total_by_population_imd_and_hiu_rate() -> None:
    stats = pd.DataFrame({"neighbourhood": ["A", "B"], "population": [1_000, 3_000],
                          "imd_score": [8.0, 2.0], "hiu_rate": [0.01, 0.03]})
    # total ceil(24.0) = 24; share A = .5*.25 + .25*.8 + .25*.25 = .3875 -> 9.3, B = .6125 -> 14.7
    assert list_sizes(stats, CapacityConfig(rule="allocation")) == {"A": 9, "B": 15}


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(CapacityError, match="weights must be three non-negative numbers summing to 1"):
        CapacityConfig(weights=(0.5, 0.5, 0.5))


def test_from_dict_rejects_unknown_keys_and_accepts_lists() -> None:
    assert CapacityConfig.from_dict({"weights": [0.4, 0.3, 0.3]}).weights == (0.4, 0.3, 0.3)
    with pytest.raises(CapacityError, match="unknown \\['size'\\]"):
        CapacityConfig.from_dict({"size": 3})


def test_stats_count_every_registered_person_and_average_deprivation() -> None:
    table = pd.DataFrame({
        "neighbourhood": ["A", "A", "A", "B", None],
        "imd_decile": [1.0, 3.0, np.nan, 10.0, 5.0],
        "in_cohort": [True, False, True, True, True],
        "ed_0_3m": [5.0, 0.0, 1.0, 0.0, 9.0],
        "ed_3_6m": [0.0, 0.0, 2.0, 0.0, 0.0],
        "ed_6_12m": [0.0, 0.0, 2.0, 1.0, 0.0],
    })
    stats = neighbourhood_stats(table, CapacityConfig(rule="allocation"))
    assert stats.to_dict("list") == {
        "neighbourhood": ["A", "B"], "population": [3, 1], "imd_score": [9.0, 1.0], "hiu_rate": [2 / 3, 0.0],
    }


def test_hiu_columns_default_to_the_feature_configs_ed_windows_within_its_recent_months() -> None:
    assert hiu_count_columns(CapacityConfig()) == ("ed_0_3m", "ed_3_6m", "ed_6_12m")
    halves = FeatureConfig(windows=((6, 12), (0, 6), (12, 24)))
    assert hiu_count_columns(CapacityConfig(), halves) == ("ed_0_6m", "ed_6_12m")
    assert hiu_count_columns(CapacityConfig(hiu_count_columns=("ed_0_6m",)), halves) == ("ed_0_6m",)


def test_stats_of_a_table_built_with_other_windows_count_hiu_over_those_windows() -> None:
    table = pd.DataFrame({
        "neighbourhood": ["A", "A", "B", "B"],
        "imd_decile": [2.0, 4.0, 6.0, 8.0],
        "ed_0_6m": [4.0, 1.0, 5.0, 0.0],
        "ed_6_12m": [1.0, 1.0, 0.0, 0.0],
        "ed_12_24m": [9.0, 9.0, 9.0, 9.0],
    })
    halves = FeatureConfig(windows=((0, 6), (6, 12), (12, 24)))
    stats = neighbourhood_stats(table, CapacityConfig(rule="allocation"), halves)
    assert stats["hiu_rate"].tolist() == [0.5, 0.5]
    with pytest.raises(CapacityError, match=r"missing \['ed_0_3m', 'ed_3_6m'\]"):
        neighbourhood_stats(table, CapacityConfig(rule="allocation"))
