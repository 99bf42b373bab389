"""The equity gates refuse a group on evidence: its whole interval beyond the threshold, not a small group's noisy point estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from training.config import EquityConfig
from training.equity import audit_equity, auroc_standard_error


def _scores_with_auroc(positives: int, negatives: int, area: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and scores whose AUROC is close to ``area`` (binormal model), calibrated-in-the-large to the prevalence."""
    rng = np.random.default_rng(seed)
    shift = np.sqrt(2.0) * float(norm.ppf(area))
    y = np.r_[np.ones(positives, dtype=int), np.zeros(negatives, dtype=int)]
    raw = np.r_[rng.normal(shift, 1.0, positives), rng.normal(0.0, 1.0, negatives)]
    ranks = raw.argsort().argsort() / len(raw)
    p = ranks * (2 * y.mean())  # mean predicted equals the prevalence
    return y, p


def test_hanley_mcneil_standard_error_matches_the_published_formula_on_a_worked_case() -> None:
    # A = 0.8, 50 positives, 100 negatives: Q1 = 0.8/1.2, Q2 = 2*0.64/1.8.
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    expected = np.sqrt((0.8 * 0.2 + 49 * (q1 - 0.64) + 99 * (q2 - 0.64)) / 5000)
    assert auroc_standard_error(0.8, 50, 100) == pytest.approx(expected)


def test_a_small_group_just_under_the_auroc_floor_passes_but_a_large_one_clearly_under_it_fails() -> None:
    small_y, small_p = _scores_with_auroc(30, 1200, 0.62, seed=1)
    large_y, large_p = _scores_with_auroc(600, 24000, 0.58, seed=2)
    frame = pd.DataFrame({"cohort": ["small"] * len(small_y) + ["large"] * len(large_y)})
    y, p = np.r_[small_y, large_y], np.r_[small_p, large_p]
    config = EquityConfig(attributes=("cohort",), intersections=(), min_group_auroc=0.65, max_abs_calibration_in_the_large=0.5)

    audit = audit_equity(frame, y, p, np.zeros(len(y), dtype=bool), config=config)

    table = audit.table.set_index("group")
    assert table.loc["small", "auroc"] < 0.65 and table.loc["small", "passes"]
    assert not table.loc["large", "passes"]
    assert len(audit.failures) == 1 and audit.failures[0].startswith("cohort = large: AUROC 0.5")
    # Gating on the point estimates (gate_level 0) refuses both.
    strict = audit_equity(frame, y, p, np.zeros(len(y), dtype=bool), config=config.model_copy(update={"gate_level": 0.0}))
    assert [f.split(":")[0] for f in strict.failures] == ["cohort = large", "cohort = small"]
