"""External validation's decision curve: net benefit by hand on a tiny frame."""

from __future__ import annotations

import numpy as np
import pytest

from training.external import net_benefit


def test_net_benefit_is_true_positives_minus_weighted_false_positives_per_person() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.6, 0.5, 0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.02, 0.01])
    table = net_benefit(y, p, np.array([0.25, 0.5]))
    # t = 0.25: list 0.6, 0.5, 0.3 -> TP 2, FP 1; odds 1/3 -> 2/10 - 1/10 * 1/3; treat all: 0.2 - 0.8/3
    assert table.loc[0, "model"] == pytest.approx(0.2 - 0.1 / 3)
    assert table.loc[0, "treat_all"] == pytest.approx(0.2 - 0.8 / 3)
    assert table.loc[0, "listed_share"] == pytest.approx(0.3)
    # t = 0.5: list 0.6, 0.5 -> TP 1, FP 1; odds 1 -> 0.1 - 0.1 = 0
    assert table.loc[1, "model"] == pytest.approx(0.0)
