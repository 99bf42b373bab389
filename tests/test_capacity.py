"""Tests for serving.capacity: list sizes per neighbourhood under the default and allocation rules."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from features.typed_config import read_toml
from models.config import DEFAULT_CAPACITY_PER_1000
from risingrisk.commands.score import score_command
from serving.capacity import CapacityConfig, CapacityFile, hiu_count_columns, list_sizes, neighbourhood_stats
from serving.errors import CapacityConfigError, CapacityError
from training.config import EvaluationConfig, load_config
from training.registry import LoadedModel

REPO = Path(__file__).resolve().parents[1]


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


def test_weights_that_do_not_sum_to_one_say_what_they_sum_to_and_the_shares_that_would() -> None:
    with pytest.raises(CapacityConfigError) as raised:
        CapacityConfig(weights=(0.5, 0.5, 0.5))
    assert str(raised.value) == (
        "[capacity] weights must sum to 1 (shares of population, IMD, HIU rate); got [0.5, 0.5, 0.5], which sum to 1.5. "
        "Divide each by their sum: [0.3333, 0.3333, 0.3333]."
    )
    assert CapacityConfig(weights=(0.3333, 0.3333, 0.3333)).weights == (0.3333, 0.3333, 0.3333)
    with pytest.raises(CapacityError, match=r"which sum to 0\. Give at least one a positive share, e\.g\. \[0\.5, 0\.25, 0\.25\]\.$"):
        CapacityConfig(weights=(0, 0, 0))
    with pytest.raises(CapacityError, match=r"weights must be three non-negative shares \(population, IMD, HIU rate\); got \[-0\.5, 1\.0, 0\.5\]"):
        CapacityConfig(weights=(-0.5, 1.0, 0.5))


@pytest.mark.parametrize("value", [0, -6, float("inf"), float("nan"), 1000.5])
def test_places_per_thousand_must_be_above_0_and_at_most_1000(value: float) -> None:
    with pytest.raises(CapacityConfigError, match=r"^\[capacity\] per_thousand must be a number in \(0, 1000\] .*; got .*\. Use e\.g\. 6 \(Tier 2\)\.$"):
        CapacityConfig(per_thousand=value)


def test_a_list_of_everyone_is_the_largest_capacity() -> None:
    assert list_sizes(_stats(Ely=2_000), CapacityConfig(per_thousand=1000)) == {"Ely": 2_000}


def test_a_capacity_table_is_read_with_lists_and_its_unknown_or_bad_keys_are_named() -> None:
    assert CapacityConfig.load({"weights": [0.4, 0.3, 0.3], "overrides": {"Ely": 40}}).weights == (0.4, 0.3, 0.3)
    with pytest.raises(CapacityError, match=r"^\[capacity\] key 'per_thousan' is not a setting; did you mean 'per_thousand'\? Remove or rename it\.$"):
        CapacityConfig.load({"per_thousan": 3})
    with pytest.raises(CapacityError, match=r"^\[capacity\] overrides\.Ely input should be greater than or equal to 0; got -1\."):
        CapacityConfig.load({"overrides": {"Ely": -1}})
    with pytest.raises(CapacityError, match=r"^\[capacity\] rule input should be 'per_population' or 'allocation'; got 'tier2'\."):
        CapacityConfig.load({"rule": "tier2"})


def test_the_capacity_file_names_the_file_and_the_key_path_of_every_problem() -> None:
    problems = {"capacty": {"per_thousand": 6}, "capacity": {"weights": [1, 1, 1]}, "caseload": {"suppress_month": 3}}
    with pytest.raises(CapacityConfigError) as raised:
        CapacityFile.load(problems, where="teams.toml")
    assert str(raised.value).splitlines() == [
        "teams.toml capacity.weights must sum to 1 (shares of population, IMD, HIU rate); got [1.0, 1.0, 1.0], which sum to 3. "
        "Divide each by their sum: [0.3333, 0.3333, 0.3333].",
        "teams.toml key 'caseload.suppress_month' is not a setting; did you mean 'suppress_months'? Remove or rename it.",
        "teams.toml key 'capacty' is not a setting; did you mean 'capacity'? Remove or rename it.",
    ]
    assert CapacityFile.load({"capacity": {"rule": "allocation"}}).capacity.rule == "allocation"


def test_the_capacity_default_is_the_one_constant_the_experiment_the_registry_and_the_cli_share() -> None:
    cli_default = inspect.signature(score_command).parameters["capacity_per_thousand"].default
    shipped = read_toml(REPO / "experiments" / "default.toml")["evaluation"]["capacity_per_1000"]
    assert DEFAULT_CAPACITY_PER_1000 == 6.0
    assert (
        CapacityConfig().per_thousand, EvaluationConfig().capacity_per_1000, load_config().evaluation.capacity_per_1000,
        LoadedModel.__dataclass_fields__["capacity_per_1000"].default, cli_default, shipped,
    ) == (DEFAULT_CAPACITY_PER_1000,) * 6


def test_the_hiu_threshold_defaults_to_the_feature_configs_definition_of_high_intensity_use() -> None:
    assert CapacityConfig().hiu_threshold() == FeatureConfig().hiu_ed == 5
    assert CapacityConfig().hiu_threshold(FeatureConfig(hiu_ed=3)) == 3
    assert CapacityConfig(hiu_ed_attendances=7).hiu_threshold(FeatureConfig(hiu_ed=3)) == 7
    table = pd.DataFrame({"neighbourhood": ["A", "A"], "imd_decile": [1.0, 1.0], "ed_0_3m": [3.0, 5.0], "ed_3_6m": 0.0, "ed_6_12m": 0.0})
    assert neighbourhood_stats(table, CapacityConfig(rule="allocation"))["hiu_rate"].tolist() == [0.5]
    assert neighbourhood_stats(table, CapacityConfig(rule="allocation"), FeatureConfig(hiu_ed=3))["hiu_rate"].tolist() == [1.0]


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
