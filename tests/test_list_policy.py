"""List policies: who fills k places under 'risk', 'rising' and 'stratified', and the report's counts against a direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import ConfigError, ExperimentConfig
from training.list_policy import ListsConfig, policy_report, select

#: Ten people: risk now, risk 6 months earlier, age band, IMD quintile, outcome.
PEOPLE = pd.DataFrame({
    "score":   [0.90, 0.80, 0.70, 0.60, 0.50, 0.40, 0.30, 0.20, 0.10, 0.05],
    "earlier": [0.85, 0.79, 0.20, 0.58, 0.10, 0.05, 0.29, 0.01, 0.02, np.nan],
    "age_band": ["75+", "75+", "75+", "18-64", "18-64", "18-64", "0-17", "0-17", "75+", "0-17"],
    "imd_quintile": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1],
    "age": [80, 85, 90, 40, 50, 30, 10, 5, 77, 8],
    "y": [1, 0, 1, 1, 0, 1, 0, 1, 0, 0],
})


def _listed(policy: str, k: int, **settings: object) -> list[int]:
    mask = select(
        PEOPLE["score"].to_numpy(), k, config=ListsConfig(policy=policy, **settings),
        earlier=PEOPLE["earlier"].to_numpy(), strata=PEOPLE["age_band"].to_numpy(),
    )
    return sorted(np.flatnonzero(mask).tolist())


def test_risk_lists_the_highest_scores() -> None:
    assert _listed("risk", 3) == [0, 1, 2]


def test_rising_lists_the_largest_rises_among_people_above_the_minimum_risk() -> None:
    # rises: 0.05, 0.01, 0.50, 0.02, 0.40, 0.35, 0.01, 0.19, 0.08, unknown; mean risk 0.455 -> persons 0-4 qualify
    assert _listed("rising", 3) == [0, 2, 4]
    # with a floor of 0.15 person 5 (rise 0.35) and 7 (rise 0.19) qualify too
    assert _listed("rising", 3, min_risk=0.15) == [2, 4, 5]


def test_rising_fills_places_nobody_qualifies_for_by_risk() -> None:
    assert _listed("rising", 7, min_risk=0.5) == [0, 1, 2, 3, 4, 5, 6]


def test_stratified_shares_places_in_proportion_to_expected_outcomes_and_fills_each_band_by_risk() -> None:
    # expected outcomes: 75+ 2.5, 18-64 1.5, 0-17 0.55 of 4.55 -> 4 places: 2.20, 1.32, 0.48 -> 2, 1, 1 (largest remainder)
    assert _listed("stratified", 4) == [0, 1, 3, 6]


def test_the_policy_report_counts_match_a_direct_computation() -> None:
    k = 4
    report = policy_report(
        PEOPLE, PEOPLE["y"].to_numpy(), PEOPLE["score"].to_numpy(), k, config=ListsConfig(), earlier=PEOPLE["earlier"].to_numpy()
    )
    y = PEOPLE["y"].to_numpy()
    for policy in ("risk", "rising", "stratified"):
        listed = np.zeros(len(PEOPLE), dtype=bool)
        listed[_listed(policy, k)] = True
        row = report.summary.set_index("policy").loc[policy]
        assert (row["listed"], row["positives_caught"]) == (k, int(y[listed].sum()))
        assert row["ppv"] == pytest.approx(y[listed].sum() / k)
        assert row["tpr"] == pytest.approx(y[listed].sum() / y.sum())
        assert row["median_age"] == pytest.approx(PEOPLE.loc[listed, "age"].median())
        for attribute in ("age_band", "imd_quintile"):
            bands = report.by_band[(report.by_band["policy"] == policy) & (report.by_band["attribute"] == attribute)].set_index("band")
            for band, group in PEOPLE.groupby(PEOPLE[attribute].astype(str)):
                in_band = PEOPLE[attribute].astype(str).eq(band).to_numpy()
                assert bands.loc[band, "positives"] == y[in_band].sum()
                assert bands.loc[band, "caught"] == y[in_band & listed].sum()
    risk = report.summary.set_index("policy").loc["risk"]
    assert (risk["positives_caught"], risk["ppv"]) == (3, 0.75)
    assert report.metrics()["policy.risk.tpr.age_band.75plus"] == pytest.approx(2 / 2)


def test_an_unknown_policy_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="policy"):
        ExperimentConfig.load({"lists": {"policy": "youngest"}})
