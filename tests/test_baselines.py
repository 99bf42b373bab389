"""The incumbents: the ED-count rule, the Herts-style segmentation and the logistic-regression pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.codelists import CONDITIONS, SOCIAL_NEEDS
from models.baselines import EdCountRule, HertsSegmentation, logistic_pipeline


def _people(**overrides: list[float]) -> pd.DataFrame:
    n = len(next(iter(overrides.values())))
    base = {f"ltc_{c}": [0.0] * n for c in CONDITIONS} | {f"sn_{s}": [0.0] * n for s in SOCIAL_NEEDS}
    base |= {"age": [40.0] * n, "ltc_count": [0.0] * n}
    return pd.DataFrame(base | overrides)


def test_ed_count_rule_sums_the_windows_of_the_last_twelve_months_and_treats_missing_as_none() -> None:
    X = pd.DataFrame({"ed_0_3m": [1.0, np.nan], "ed_3_6m": [2.0, 1.0], "ed_6_12m": [0.0, 4.0], "ed_12_24m": [9.0, 9.0]})
    assert EdCountRule().score(X).tolist() == [3.0, 5.0]


def test_herts_segmentation_puts_each_person_in_the_first_segment_whose_rule_holds() -> None:
    X = _people(
        age=[2.0, 40.0, 80.0, 40.0, 50.0],
        ltc_asthma=[1.0, 0.0, 0.0, 0.0, 0.0],
        sn_unemployment=[0.0, 1.0, 0.0, 0.0, 0.0],
        sn_alcohol_misuse=[0.0, 1.0, 0.0, 0.0, 0.0],
        ltc_chd=[0.0, 1.0, 1.0, 0.0, 0.0],
        ltc_count=[1.0, 1.0, 2.0, 3.0, 0.0],
    )
    segmentation = HertsSegmentation()
    # toddler with asthma; unemployed + alcohol + CHD; 80 with two LTCs; three LTCs; nobody
    assert segmentation.segment(X).tolist() == ["High", "High", "Medium", "Medium", "Low"]
    assert segmentation.score(X).tolist() == [2.0, 2.0, 1.0, 1.0, 0.0]


def test_logistic_pipeline_imputes_missing_values_and_ranks_by_the_signal() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    y = (X["signal"] > 0.5).astype(int).to_numpy()
    X.loc[::5, "noise"] = np.nan
    pipeline = logistic_pipeline(X, c=1.0, max_iter=200, random_state=0).fit(X, y)
    p = pipeline.predict_proba(pd.DataFrame({"signal": [-2.0, 2.0], "noise": [np.nan, np.nan]}))[:, 1]
    assert p[0] < 0.1 < 0.9 < p[1]
