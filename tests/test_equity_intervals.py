"""Subgroup intervals resample people, not rows: exact against a brute-force bootstrap, row-level when people are unique, wider when they recur."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, rankdata

from features.build import build_features
from training.config import EquityConfig
from training.equity import audit_equity
from training.equity_intervals import GroupStandardErrors, group_standard_errors
from training.errors import TrainingError
from training.metrics import auroc


def _binormal(positives: int, negatives: int, area: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and probabilities with AUROC close to ``area`` (binormal), mean predicted equal to the prevalence."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(positives, dtype=int), np.zeros(negatives, dtype=int)]
    raw = np.r_[rng.normal(np.sqrt(2.0) * float(norm.ppf(area)), 1.0, positives), rng.normal(0.0, 1.0, negatives)]
    return y, raw.argsort().argsort() / len(raw) * (2 * y.mean())


def _hanley_mcneil_standard_error(area: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) row-level standard error of an AUROC (the equity gate's interval before people were resampled)."""
    q1, q2 = area / (2.0 - area), 2.0 * area**2 / (1.0 + area)
    variance = (area * (1 - area) + (positives - 1) * (q1 - area**2) + (negatives - 1) * (q2 - area**2)) / (positives * negatives)
    return float(np.sqrt(variance))


def _delong_standard_error(y: np.ndarray, scores: np.ndarray) -> float:
    """DeLong's (1988) row-level standard error of an AUROC from the placement values (ties count one half)."""
    pos, neg = scores[y == 1], scores[y == 0]
    both = rankdata(np.r_[pos, neg])
    v10 = (both[: pos.size] - rankdata(pos)) / neg.size
    v01 = 1.0 - (both[pos.size:] - rankdata(neg)) / pos.size
    return float(np.sqrt(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size))


def _cluster_robust_standard_error(per_row: np.ndarray, persons: np.ndarray) -> float:
    """Sandwich standard error of a group mean with person clusters: sqrt(sum over persons of (their sum - n_c mean)^2) / n."""
    frame = pd.DataFrame({"person": persons, "value": per_row - per_row.mean()})
    return float(np.sqrt((frame.groupby("person")["value"].sum() ** 2).sum()) / per_row.size)


def _recurring(people: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Hand-built mechanism: each person has a lasting frailty and is evaluated at two dates; two attributes of the person."""
    rng = np.random.default_rng(seed)
    frailty = np.repeat(rng.normal(0.0, 2.0, people), 2)
    logit = -3.0 + frailty + rng.normal(0.0, 0.3, 2 * people)
    y = (rng.random(2 * people) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    p = 1.0 / (1.0 + np.exp(-(-3.0 + frailty)))
    frame = pd.DataFrame({
        "person_id": np.repeat([f"P{i:05d}" for i in range(people)], 2),
        "region": np.repeat(rng.choice(["north", "south", "east"], people), 2),
        "band": np.repeat(rng.choice(["18-44", "45-64", "65+"], people), 2),
    })
    return frame, y, p


def test_the_hanley_mcneil_reference_matches_the_published_formula_on_a_worked_case() -> None:
    # A = 0.8, 50 positives, 100 negatives: Q1 = 0.8/1.2, Q2 = 2*0.64/1.8.
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    assert _hanley_mcneil_standard_error(0.8, 50, 100) == pytest.approx(np.sqrt((0.8 * 0.2 + 49 * (q1 - 0.64) + 99 * (q2 - 0.64)) / 5000))


def test_group_estimates_equal_the_row_metrics_and_spreads_equal_a_brute_force_person_bootstrap() -> None:
    rng = np.random.default_rng(4)
    persons = rng.integers(0, 900, 1500)
    groups = rng.integers(0, 3, 1500)
    p = np.round(rng.random(1500), 1)  # heavy ties, within and across outcomes
    y = (rng.random(1500) < 0.4 * p).astype(int)

    (result,) = group_standard_errors([groups], y, p, persons, n_bootstrap=30, seed=11)

    codes = np.unique(persons, return_inverse=True)[1]
    n = int(codes.max()) + 1
    draws = np.random.default_rng(11)
    brute = []
    for _ in range(30):
        w = np.bincount(draws.integers(0, n, n), minlength=n)[codes]
        brute.append([
            (auroc(y[g], p[g], w[g]), np.average(y[g], weights=w[g]), np.average(p[g] - y[g], weights=w[g]))
            for g in (groups == k for k in range(3))
        ])
    brute_se = np.asarray(brute).std(axis=0, ddof=1)  # groups x statistics
    for k in range(3):
        rows = groups == k
        assert result.auroc[k] == pytest.approx(auroc(y[rows], p[rows]), abs=1e-12)
        assert result.observed_rate[k] == pytest.approx(y[rows].mean(), abs=1e-12)
        assert result.calibration_in_the_large[k] == pytest.approx(p[rows].mean() - y[rows].mean(), abs=1e-12)
    np.testing.assert_allclose(result.auroc_se, brute_se[:, 0], rtol=1e-9)
    np.testing.assert_allclose(result.observed_rate_se, brute_se[:, 1], rtol=1e-9)
    np.testing.assert_allclose(result.calibration_in_the_large_se, brute_se[:, 2], rtol=1e-9)


def test_with_every_person_once_the_errors_agree_with_the_row_level_formulas() -> None:
    parts = [_binormal(200, 3800, 0.70, 1), _binormal(500, 2500, 0.80, 2), _binormal(100, 900, 0.60, 3)]
    y = np.concatenate([outcome for outcome, _ in parts])
    p = np.concatenate([score for _, score in parts])
    groups = np.concatenate([np.full(outcome.size, k) for k, (outcome, _) in enumerate(parts)])

    (result,) = group_standard_errors([groups], y, p, np.arange(y.size), n_bootstrap=400, seed=7)

    for k, (outcome, score) in enumerate(parts):
        positives = int(outcome.sum())
        binomial = np.sqrt(outcome.mean() * (1.0 - outcome.mean()) / outcome.size)
        assert result.auroc_se[k] == pytest.approx(_delong_standard_error(outcome, score), rel=0.08)
        # Hanley-McNeil (the old gate) is itself an approximation, conservative at high AUROC under a binormal model.
        assert result.auroc_se[k] == pytest.approx(_hanley_mcneil_standard_error(result.auroc[k], positives, outcome.size - positives), rel=0.15)
        assert result.observed_rate_se[k] == pytest.approx(binomial, rel=0.08)
        assert result.calibration_in_the_large_se[k] == pytest.approx(np.std(score - outcome) / np.sqrt(outcome.size), rel=0.08)


def test_duplicating_every_persons_rows_keeps_the_person_level_width_while_the_row_level_width_shrinks_by_root_two() -> None:
    y, p = _binormal(300, 2700, 0.62, seed=5)
    frame = pd.DataFrame({"person_id": np.arange(y.size), "cohort": "all"})
    config = EquityConfig(attributes=("cohort",), intersections=(), min_group_auroc=0.5, max_abs_calibration_in_the_large=0.5)
    twice = pd.concat([frame, frame], ignore_index=True)

    once = audit_equity(frame, y, p, np.zeros(y.size, dtype=bool), config=config).table.iloc[0]
    doubled = audit_equity(twice, np.r_[y, y], np.r_[p, p], np.zeros(2 * y.size, dtype=bool), config=config).table.iloc[0]

    assert doubled["count"] == 2 * once["count"] and doubled["auroc"] == pytest.approx(once["auroc"], abs=1e-12)
    for column in ("auroc_se", "prevalence_se", "calibration_in_the_large_se"):
        assert doubled[column] == pytest.approx(once[column], rel=1e-9)
    row_level = [_hanley_mcneil_standard_error(row["auroc"], row["positives"], row["count"] - row["positives"]) for row in (once, doubled)]
    assert row_level[1] / row_level[0] == pytest.approx(1.0 / np.sqrt(2.0), rel=0.01)
    # With a floor between the two upper bounds the row-level interval on the doubled rows would refuse the group; the person-level one does not.
    z = norm.ppf(0.5 + config.gate_level / 2.0)
    floor = doubled["auroc"] + z * (row_level[1] + doubled["auroc_se"]) / 2.0
    assert doubled["auroc"] + z * row_level[1] < floor < doubled["auroc"] + z * doubled["auroc_se"]
    gated = audit_equity(twice, np.r_[y, y], np.r_[p, p], np.zeros(2 * y.size, dtype=bool), config=config.model_copy(update={"min_group_auroc": floor}))
    assert gated.passed and bool(gated.table["passes"].iloc[0])


def _assert_cluster_robust(result: GroupStandardErrors, codes: np.ndarray, y: np.ndarray, p: np.ndarray, persons: np.ndarray) -> None:
    """Every group's rate and calibration errors match the sandwich formula with person clusters; gateable groups' exceed the binomial (design effect > 1.1)."""
    for k in range(int(codes.max()) + 1):
        rows = codes == k
        assert result.observed_rate_se[k] == pytest.approx(_cluster_robust_standard_error(y[rows], persons[rows]), rel=0.12)
        assert result.calibration_in_the_large_se[k] == pytest.approx(
            _cluster_robust_standard_error(p[rows] - y[rows], persons[rows]), rel=0.12
        )
        if y[rows].sum() >= EquityConfig().min_group_positives:  # large enough to gate: people's outcomes persist across dates
            binomial = np.sqrt(y[rows].mean() * (1.0 - y[rows].mean()) / rows.sum())
            assert (result.observed_rate_se[k] / binomial) ** 2 > 1.1


def test_on_hand_built_recurring_people_the_errors_match_the_cluster_robust_formula_and_exceed_the_binomial() -> None:
    frame, y, p = _recurring(6000, seed=8)
    codes = [pd.factorize(frame[c])[0] for c in ("region", "band")]
    persons = frame["person_id"].to_numpy()

    results = group_standard_errors(codes, y, p, persons, n_bootstrap=400, seed=3)

    for result, grouping in zip(results, codes):
        _assert_cluster_robust(result, grouping, y, p, persons)


@pytest.mark.slow
def test_on_the_simulator_the_errors_match_the_cluster_robust_formula_and_exceed_the_binomial(sim_dir: Path) -> None:
    table = build_features(sim_dir, as_of=[date(2023, 1, 1), date(2023, 7, 1)], labels=True)
    table = table[table["in_cohort"].fillna(False).astype(bool) & table["label_high_intensity_use"].notna()].reset_index(drop=True)
    y = table["label_high_intensity_use"].astype(int).to_numpy()
    # A score the simulator's people share across dates: the observed rate by prior emergency activity.
    activity = (table["ed_0_3m"].fillna(0) + table["ed_3_6m"].fillna(0) + table["ed_6_12m"].fillna(0)).clip(upper=5)
    p = pd.Series(y).groupby(activity.to_numpy()).transform("mean").to_numpy()
    codes = pd.factorize(table["sex"].astype("string").fillna("missing"))[0]
    persons = table["person_id"].to_numpy()
    assert pd.Series(persons).value_counts().max() == 2

    (result,) = group_standard_errors([codes], y, p, persons, n_bootstrap=400, seed=3)

    _assert_cluster_robust(result, codes, y, p, persons)


def test_every_grouping_is_resampled_with_one_set_of_person_weights() -> None:
    frame, y, p = _recurring(2000, seed=9)
    region = pd.factorize(frame["region"])[0]
    persons = frame["person_id"].to_numpy()

    together = group_standard_errors([region, region], y, p, persons, n_bootstrap=50, seed=1)
    alone = group_standard_errors([region], y, p, persons, n_bootstrap=50, seed=1)

    np.testing.assert_array_equal(together[0].auroc_se, together[1].auroc_se)
    np.testing.assert_array_equal(together[0].auroc_se, alone[0].auroc_se)


def test_a_group_without_outcomes_has_no_auroc_error_but_keeps_its_rate_error() -> None:
    y = np.r_[np.zeros(50, dtype=int), np.zeros(35, dtype=int), np.ones(10, dtype=int), np.zeros(5, dtype=int)]
    p = np.linspace(0.01, 0.5, 100)
    groups = np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]

    (result,) = group_standard_errors([groups], y, p, np.arange(100), n_bootstrap=20, seed=2)

    assert np.isnan(result.auroc[0]) and np.isnan(result.auroc_se[0])
    assert result.observed_rate_se[0] == 0.0 and result.calibration_in_the_large_se[0] > 0.0
    assert result.auroc[1] == pytest.approx(auroc(y[50:], p[50:])) and result.auroc_se[1] > 0.0


def test_mismatched_lengths_are_refused_with_the_shapes() -> None:
    with pytest.raises(TrainingError, match=r"equal length; got shapes \(3,\), \(3,\) and \(2,\)"):
        group_standard_errors([np.zeros(3, dtype=int)], np.zeros(3), np.zeros(3), np.arange(2), n_bootstrap=10, seed=0)


def test_fewer_than_two_replicates_are_refused() -> None:
    with pytest.raises(TrainingError, match="n_bootstrap must be >= 2 to estimate a spread; got 1"):
        group_standard_errors([np.zeros(3, dtype=int)], np.zeros(3), np.zeros(3), np.arange(3), n_bootstrap=1, seed=0)
