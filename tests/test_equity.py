"""The equity gates refuse a group on evidence: its whole person-level interval beyond the threshold, not a small group's noisy point estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from training.config import EquityConfig
from training.equity import audit_equity
from training.errors import TrainingError


def _scores_with_auroc(positives: int, negatives: int, area: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and scores whose AUROC is close to ``area`` (binormal model), calibrated-in-the-large to the prevalence."""
    rng = np.random.default_rng(seed)
    shift = np.sqrt(2.0) * float(norm.ppf(area))
    y = np.r_[np.ones(positives, dtype=int), np.zeros(negatives, dtype=int)]
    raw = np.r_[rng.normal(shift, 1.0, positives), rng.normal(0.0, 1.0, negatives)]
    ranks = raw.argsort().argsort() / len(raw)
    p = ranks * (2 * y.mean())  # mean predicted equals the prevalence
    return y, p


def test_a_small_group_just_under_the_auroc_floor_passes_but_a_large_one_clearly_under_it_fails() -> None:
    small_y, small_p = _scores_with_auroc(30, 1200, 0.62, seed=1)
    large_y, large_p = _scores_with_auroc(600, 24000, 0.58, seed=2)
    frame = pd.DataFrame({"person_id": np.arange(len(small_y) + len(large_y)), "cohort": ["small"] * len(small_y) + ["large"] * len(large_y)})
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


def _mixed_groups() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Eight groups of people seen at two dates, AUROC from 0.56 to 0.74 and calibration gaps from -0.03 to +0.03."""
    parts, frames = [], []
    for k, (area, shift) in enumerate(zip(np.linspace(0.56, 0.74, 8), np.linspace(-0.03, 0.03, 8))):
        y, p = _scores_with_auroc(60, 1140, area, seed=10 + k)
        parts.append((np.r_[y, y[::-1]], np.clip(np.r_[p, p[::-1]] + shift, 0.0, 1.0)))
        people = [f"g{k}-{i}" for i in range(y.size)]
        frames.append(pd.DataFrame({"person_id": people + people, "cohort": f"group {k}"}))
    return pd.concat(frames, ignore_index=True), np.concatenate([y for y, _ in parts]), np.concatenate([p for _, p in parts])


@pytest.mark.parametrize("gate_level", [0.0, 0.8, 0.95])
def test_gate_decisions_follow_the_person_level_intervals_exactly(gate_level: float) -> None:
    frame, y, p = _mixed_groups()
    config = EquityConfig(attributes=("cohort",), intersections=(), min_group_auroc=0.65, max_abs_calibration_in_the_large=0.02, gate_level=gate_level)

    table = audit_equity(frame, y, p, np.zeros(len(y), dtype=bool), config=config).table

    z = norm.ppf(0.5 + gate_level / 2.0)
    auroc_fails = table["auroc"] + z * table["auroc_se"] < config.min_group_auroc
    calibration_fails = table["calibration_in_the_large"].abs() - z * table["calibration_in_the_large_se"] > config.max_abs_calibration_in_the_large
    assert table["gated"].all()
    assert table["passes"].tolist() == (~auroc_fails & ~calibration_fails).tolist()
    assert table["failures"].str.contains("AUROC").tolist() == auroc_fails.tolist()
    assert table["failures"].str.contains(r"\|mean predicted").tolist() == calibration_fails.tolist()
    assert 0 < int(table["passes"].sum()) < len(table)


def test_a_wider_gate_level_never_fails_a_group_the_narrower_one_passes() -> None:
    frame, y, p = _mixed_groups()
    config = EquityConfig(attributes=("cohort",), intersections=(), min_group_auroc=0.65, max_abs_calibration_in_the_large=0.02)

    passes = [
        audit_equity(frame, y, p, np.zeros(len(y), dtype=bool), config=config.model_copy(update={"gate_level": level})).table["passes"]
        for level in (0.0, 0.8, 0.95)
    ]

    assert (passes[0] <= passes[1]).all() and (passes[1] <= passes[2]).all()
    assert passes[0].sum() < passes[2].sum()


def test_the_audit_needs_the_person_of_every_row_and_says_so() -> None:
    frame = pd.DataFrame({"cohort": ["a", "b"]})
    with pytest.raises(TrainingError, match="equity audit rows must hold 'person_id'.*got columns \\['cohort'\\]"):
        audit_equity(frame, np.array([0, 1]), np.array([0.2, 0.4]), np.zeros(2, dtype=bool), config=EquityConfig(attributes=("cohort",), intersections=()))
