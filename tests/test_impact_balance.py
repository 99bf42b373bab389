"""Balancing weights for the impact evaluation: exact entropy balance, the tightest feasible approximate balance, the figures reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.impact import ImpactConfig
from training.impact.balance import CONVERGENCE_SMD, Balancing, balancing_weights, effective_sample_size, smallest_max_smd
from training.impact.design import smd_scale
from training.impact.run import method_text

STEP = 0.05


def _controls(seed: int = 3, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Controls with an age-like score, a flag and a count; matching weights 1/k per reused row; a person per row."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(0.0, 1.0, n), (rng.random(n) < 0.3).astype(float), rng.poisson(1.0, n).astype(float)])
    base = 1.0 / rng.integers(1, 4, n)
    person = rng.integers(0, n // 2, n)  # people reused across rows, as matching with replacement does
    return x, base, person


def _direct_max_smd(x: np.ndarray, weights: np.ndarray, target: np.ndarray, scale: np.ndarray) -> float:
    return float(np.abs((weights @ x / weights.sum() - target) / scale).max())


def _direct_ess(weights: np.ndarray, person: np.ndarray) -> float:
    per_person = pd.Series(weights).groupby(person).sum()
    return float(per_person.sum() ** 2 / (per_person**2).sum())


def test_when_exact_balance_is_infeasible_the_tightest_rung_above_the_least_achievable_imbalance_is_used():
    x, base, person = _controls()
    # Every control has flag <= 1 but the enrolled mean is 1.1: no weighting gets closer than 0.1 SD on the flag,
    # reached only by putting all weight on flagged rows (a corner the entropy dual cannot reach), so 0.15 is the rung.
    target = np.array([0.8, 1.1, 1.6])
    scale = np.ones(3)
    result = balancing_weights(x, base, target, scale, person, STEP)
    assert result.least_achievable_smd == pytest.approx(0.1, abs=1e-9)
    assert (result.method, result.tolerance, result.step) == ("approximate_entropy", pytest.approx(0.15), STEP)
    assert 0.1 < result.max_smd <= 0.15 + CONVERGENCE_SMD
    matching = _direct_max_smd(x, base, target, scale)
    assert result.max_smd_matching == pytest.approx(matching, rel=1e-12) and matching > 0.6
    assert result.max_smd < matching - 0.4  # far better than keeping the matching weights


def test_the_reported_balance_and_effective_sample_sizes_match_a_direct_computation():
    x, base, person = _controls()
    target, scale = np.array([0.8, 1.1, 1.6]), np.array([1.3, 0.5, 2.0])
    result = balancing_weights(x, base, target, scale, person, STEP)
    assert result.weights.shape == base.shape and (result.weights > 0).all()
    assert result.weights.sum() == pytest.approx(base.sum(), rel=1e-12)
    assert result.max_smd == pytest.approx(_direct_max_smd(x, result.weights, target, scale), abs=1e-12)
    assert result.ess == pytest.approx(_direct_ess(result.weights, person), rel=1e-12)
    assert result.ess_matching == pytest.approx(_direct_ess(base, person), rel=1e-12)
    assert effective_sample_size(np.ones(4), np.array([7, 7, 8, 9])) == pytest.approx(16 / 6)  # (1+1+1+1)^2 / (2^2+1+1)


def test_rows_of_one_reused_control_share_its_weight_in_proportion_to_their_matching_weights():
    x, base, person = _controls(n=60)
    x, base, person = np.vstack([x, x[:1]]), np.append(base, base[0] * 2), np.append(person, person[0])
    result = balancing_weights(x, base, np.array([0.3, 0.4, 1.2]), np.ones(3), person, STEP)
    assert result.weights[-1] == pytest.approx(2 * result.weights[0], rel=1e-12)


def test_when_the_enrolled_means_lie_inside_the_controls_range_balance_is_exact():
    x, base, person = _controls()
    target = np.array([0.3, 0.4, 1.2])
    result = balancing_weights(x, base, target, np.ones(3), person, STEP)
    assert (result.method, result.tolerance, result.least_achievable_smd) == ("entropy", 0.0, 0.0)
    assert result.max_smd <= CONVERGENCE_SMD and _direct_max_smd(x, result.weights, target, np.ones(3)) <= CONVERGENCE_SMD


def test_when_no_weighting_can_beat_the_matching_weights_they_are_kept_and_the_floor_is_reported():
    x, base, person = _controls()
    x = np.column_stack([x, np.ones(len(x))])  # every control has 1; the enrolled mean is 1.5: 0.5 SD apart whatever the weights
    target = np.array([0.3, 0.4, 1.2, 1.5])
    result = balancing_weights(x, base, target, np.ones(4), person, STEP)
    assert (result.method, result.tolerance) == ("matching", None)
    assert result.least_achievable_smd == pytest.approx(0.5, abs=1e-9) and result.max_smd_matching == pytest.approx(0.5)
    assert np.array_equal(result.weights, base) and result.max_smd == result.max_smd_matching


def test_without_a_ladder_the_matching_weights_are_kept():
    x, base, person = _controls()
    result = balancing_weights(x, base, np.array([0.3, 0.4, 1.2]), np.ones(3), person, None)
    assert (result.method, result.tolerance, result.step) == ("matching", None, None)
    assert np.array_equal(result.weights, base) and result.ess == result.ess_matching


def test_the_least_achievable_imbalance_is_the_distance_to_the_controls_hull_in_the_worst_covariate():
    z = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # hull: triangle; the point (0, -0.2) lies 0.2 below it
    assert smallest_max_smd(z - np.array([0.0, -0.2])) == pytest.approx(0.2, abs=1e-12)
    assert smallest_max_smd(z - np.array([0.0, 0.5])) == pytest.approx(0.0, abs=1e-12)


def test_the_ladder_step_must_be_positive():
    with pytest.raises(ValueError, match="balance_tolerance_step"):
        ImpactConfig(balance_tolerance_step=0)


def test_a_covariate_constant_in_both_arms_has_smd_scale_zero_not_floating_point_noise():
    rng = np.random.default_rng(0)
    eligible = np.column_stack([np.full(1000, 0.1), rng.normal(size=1000)])
    pool_weight = np.concatenate([np.ones(300), np.full(700, 37.43)])  # recent users, then a sampled quiet pool
    assert np.average((eligible[:, 0] - np.average(eligible[:, 0], weights=pool_weight)) ** 2, weights=pool_weight) > 0
    means, scale = smd_scale(np.full((20, 2), 0.1), eligible, pool_weight)
    assert scale[0] == 0.0 and means[0] == pytest.approx(0.1)
    expected = np.sqrt((0.0 + np.average((eligible[:, 1] - means[1]) ** 2, weights=pool_weight)) / 2.0)
    assert scale[1] == pytest.approx(expected, rel=1e-12)


def _balancing(method: str, tolerance: float | None, step: float | None) -> Balancing:
    return Balancing(weights=np.ones(2), method=method, tolerance=tolerance, step=step, least_achievable_smd=0.0312,
                     max_smd=0.04, max_smd_matching=0.32, ess=150.0, ess_matching=170.0)


@pytest.mark.parametrize(("balancing", "says"), [
    (_balancing("entropy", 0.0, 0.01), "then reweighted so every feature mean matches (entropy balancing)."),
    (_balancing("approximate_entropy", 0.04, 0.01), "comes within 0.04 standard deviations of the enrolled people's (approximate "
     "entropy balancing: exact balance is impossible with these controls, and 0.04 is the tightest tolerance on a ladder of "
     "0.01 steps that they reach; no weighting of them gets every feature closer than 0.031)."),
    (_balancing("matching", None, 0.01), "within a caliper), with the matching weights only: no weighting of these controls gets every "
     "feature within 0.031 standard deviations, and none of the tolerances tried above that was reached."),
    (_balancing("matching", None, None), "within a caliper), with the matching weights only."),
])
def test_the_method_text_says_how_the_controls_were_weighted(balancing, says):
    assert says in method_text(balancing, "adjust")
