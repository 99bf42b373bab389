"""Monotone constraints from the declared directions: the fitted model moves only the declared way, and a present condition or need never reads as lowering risk."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.definitions import PREDICTORS, predictor_specs
from models.constraints import constraint_vector, monotone_directions
from models.explain import explain_rows
from models.risk_model import RiskModel

FEATURES = ["ed_0_3m", "ed_3_6m", "ed_trend", "days_since_ed", "ltc_ckd", "ltc_count", "sn_homeless", "sn_homeless_months", "age", "imd_decile"]
SMALL = dict(n_estimators=80, num_leaves=15, min_child_samples=20, early_stopping_rounds=20, n_jobs=1)


def _confounded(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """CKD and homelessness *lower* the observed rate here (e.g. people already under a kidney team): the data disagree with the declaration."""
    rng = np.random.default_rng(seed)
    ed0, ed3 = rng.poisson(0.5, n).astype(float), rng.poisson(0.5, n).astype(float)
    ckd, homeless = (rng.random(n) < 0.2).astype(float), (rng.random(n) < 0.1).astype(float)
    frame = pd.DataFrame({
        "ed_0_3m": ed0, "ed_3_6m": ed3, "ed_trend": ed0 - ed3,
        "days_since_ed": np.where(ed0 > 0, rng.integers(1, 90, n), np.nan),
        "ltc_ckd": ckd, "ltc_count": ckd + rng.poisson(0.8, n),
        "sn_homeless": homeless, "sn_homeless_months": np.where(homeless == 1, rng.integers(0, 40, n), np.nan),
        "age": rng.integers(0, 95, n).astype(float), "imd_decile": rng.integers(1, 11, n).astype(float),
    })
    logit = -2.5 + 0.8 * ed0 + 0.3 * ed3 - 1.0 * ckd - 0.8 * homeless
    return frame, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def constrained() -> RiskModel:
    X, y = _confounded(4000, 1)
    Xv, yv = _confounded(1500, 2)
    Xc, yc = _confounded(2000, 3)
    directions = monotone_directions(PREDICTORS)
    model = RiskModel(**SMALL, directions=directions).fit(X, y, X_valid=Xv, y_valid=yv)
    return model.calibrate(Xc, yc, method="smoothed_isotonic")


def _assert_monotone(model: RiskModel, rows: pd.DataFrame, feature: str, sign: int, grid: np.ndarray) -> None:
    for _, row in rows.iterrows():
        probe = pd.DataFrame([row] * grid.size).reset_index(drop=True)
        probe[feature] = grid
        steps = np.diff(model.predict_log_odds(probe)) * sign
        assert (steps >= -1e-12).all(), (feature, steps.min())


def test_directions_map_to_lightgbm_signs_and_undeclared_columns_are_free() -> None:
    directions = monotone_directions(PREDICTORS)
    assert (directions["ed_0_3m"], directions["days_since_ed"], directions["age"], directions["ed_trend"]) == (1, -1, 0, 0)
    assert constraint_vector(["ltc_ckd", "not_declared", "days_since_ed"], directions) == [1, 0, -1]


def test_the_fitted_model_is_monotone_along_each_constrained_feature_even_where_the_data_disagree(constrained: RiskModel) -> None:
    rows = _confounded(30, 9)[0]
    directions = monotone_directions(PREDICTORS)
    for feature in FEATURES:
        sign = directions[feature]
        if sign:
            values = _confounded(2000, 10)[0][feature].dropna()
            _assert_monotone(constrained, rows, feature, sign, np.unique(np.quantile(values, np.linspace(0, 1, 12))))


def test_a_present_condition_or_need_never_reads_as_lowering_risk_even_where_the_data_disagree(constrained: RiskModel) -> None:
    rows = _confounded(400, 11)[0]
    present = rows[(rows["ltc_ckd"] == 1) | (rows["sn_homeless"] == 1)]
    assert len(present) > 50
    for (_, row), explanation in zip(present.iterrows(), explain_rows(constrained, present)):
        for reason in explanation.reasons:
            if reason.feature == "ltc_ckd" and row["ltc_ckd"] == 1:
                assert reason.direction == "raises" and reason.contribution > 0
    # the flag's exact TreeSHAP contribution is never negative when the flag is present (the 'basic' method's guarantee)
    contrib = constrained.booster_.predict(present[constrained.feature_names_], pred_contrib=True)
    for flag in ("ltc_ckd", "sn_homeless"):
        column = constrained.feature_names_.index(flag)
        assert (contrib[present[flag].to_numpy() == 1, column] >= -1e-12).all(), flag


def test_the_unconstrained_model_learns_the_confounded_direction_so_the_constraint_is_what_fixes_it() -> None:
    X, y = _confounded(4000, 1)
    Xv, yv = _confounded(1500, 2)
    free = RiskModel(**SMALL, monotone=False, directions=monotone_directions(PREDICTORS)).fit(X, y, X_valid=Xv, y_valid=yv)
    rows = _confounded(400, 11)[0]
    with_ckd = rows[rows["ltc_ckd"] == 1]
    contrib = free.booster_.predict(with_ckd[free.feature_names_], pred_contrib=True)
    assert (contrib[:, free.feature_names_.index("ltc_ckd")] < 0).mean() > 0.9


@pytest.mark.slow
def test_on_the_simulator_no_listed_persons_reasons_show_a_present_condition_or_need_lowering_risk(sim_dir) -> None:
    specs = predictor_specs()
    table = build_features(sim_dir, as_of=[date(2023, 1, 1), date(2023, 4, 1)], labels=True)
    table = table[table["in_cohort"].fillna(False).astype(bool) & table["label_high_intensity_use"].notna()].reset_index(drop=True)
    X, y = table[list(specs)], table["label_high_intensity_use"].astype(int).to_numpy()
    half = table["person_id"].str[-1].isin(list("01234"))
    model = RiskModel(n_jobs=1, directions=monotone_directions(specs)).fit(X[~half], y[~half], X_valid=X[half], y_valid=y[half])
    model.calibrate(X[half], y[half], method="smoothed_isotonic")
    score = model.predict_proba(X)[:, 1]
    listed = table.iloc[np.argsort(-score)[: max(1, round(0.006 * len(table)))]]
    flags = [n for n, s in specs.items() if s.kind == "flag" and s.direction == "raises"]
    for (_, row), explanation in zip(listed.iterrows(), explain_rows(model, listed, specs=specs)):
        for reason in explanation.reasons:
            head = reason.members[0]
            if head in flags and row[head] == 1:
                assert reason.direction == "raises", (reason.feature, reason.text, reason.contribution)
    directions = monotone_directions(specs)
    probe_rows = listed.head(10)
    for feature in ("ed_0_3m", "emergency_admission_0_3m", "ltc_count", "ltc_copd", "sn_lives_alone", "days_since_ed"):
        values = X[feature].dropna()
        _assert_monotone(model, probe_rows[list(specs)], feature, directions[feature], np.unique(np.quantile(values, np.linspace(0, 1, 10))))
