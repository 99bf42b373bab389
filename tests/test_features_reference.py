"""The DuckDB builder against an independent pandas oracle, and the no-leakage property under appended future rows."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import build_features
from features.config import FeatureConfig
from features.contract import SETTINGS
from features.dates import add_months, extract_date
from features.reference import REFERENCE_COLUMNS, reference_features

from features_support import CONFIG, T, code, event, person, write

CODES = ("105531004", "105529008", "73211009", "13645005", "103735009", "818241000000105", "999999")


def assert_matches_reference(built: pd.DataFrame, oracle: pd.DataFrame) -> None:
    built = built[["person_id", "as_of", *REFERENCE_COLUMNS]].reset_index(drop=True)
    oracle = oracle.reset_index(drop=True).astype({"excluded_reason": "str"})
    pd.testing.assert_frame_equal(built, oracle, check_dtype=False, check_exact=False, rtol=1e-9)


@pytest.mark.slow
def test_builder_matches_the_pandas_reference_on_the_simulated_population(sim_dir):
    end = extract_date(sim_dir)
    dates = [add_months(end, -18), date(2023, 6, 15), add_months(end, -2)]
    built = build_features(sim_dir, as_of=dates, labels=True)
    oracle = reference_features(sim_dir, dates, data_end=end)
    assert len(built) > 15_000 * len(dates)
    assert built["label_high_intensity_use"].sum() > 0 and built["ed_0_3m"].sum() > 0
    assert built["excluded_reason"].notna().sum() > 0
    assert_matches_reference(built, oracle)


def test_builder_matches_the_pandas_reference_on_late_records_and_open_codes(tmp_path):
    rng = np.random.default_rng(5)
    n, m, k = 300, 6000, 600
    start = date(2022, 1, 1)
    persons = [
        person(f"P{i:03d}", birth_date=date(1940, 1, 1) + timedelta(days=int(rng.integers(0, 30_000))),
               registered_from=start + timedelta(days=int(rng.integers(-2000, 900))),
               registered_to=start + timedelta(days=int(rng.integers(900, 1800))) if rng.random() < 0.2 else None,
               death_date=start + timedelta(days=int(rng.integers(900, 1800))) if rng.random() < 0.1 else None)
        for i in range(n)
    ]
    events = [
        event(start + timedelta(days=int(d), hours=int(h)), str(rng.choice(SETTINGS)), f"P{int(rng.integers(0, n)):03d}",
              recorded_at=start + timedelta(days=int(d) + int(lag)) if lag else None, cost=float(rng.gamma(2, 50)))
        for d, h, lag in zip(rng.integers(0, 1600, m), rng.integers(0, 24, m), rng.choice([0, 0, 0, 3, 90], m))
    ]
    codes = [
        code(str(rng.choice(CODES)), start + timedelta(days=int(s)),
             end=start + timedelta(days=int(s) + int(e)) if e < 400 else None, person_id=f"P{int(rng.integers(0, n)):03d}",
             recorded_at=datetime(2023, 1, 1) + timedelta(days=int(r)) if r < 100 else None)
        for s, e, r in zip(rng.integers(-500, 1500, k), rng.integers(0, 800, k), rng.integers(0, 1000, k))
    ]
    data = write(tmp_path, persons=persons, events=events, codes=codes)
    dates = [date(2023, 3, 1), date(2023, 12, 31), date(2024, 2, 29)]
    end = date(2026, 5, 1)
    built = build_features(data, as_of=dates, labels=True, config=FeatureConfig(data_end=end))
    assert_matches_reference(built, reference_features(data, dates, data_end=end))
    assert built["sn_housing_insecurity"].sum() > 0 and built["label_emergency_admission"].notna().sum() > 0


# --- property: nothing after T changes anything at T -------------------------------------------------------------

past_days = st.integers(min_value=-800, max_value=-1)
#: On T itself (the boundary) or any day after it; recorded exactly one second after T or later.
future_days = st.one_of(st.just(0), st.integers(min_value=0, max_value=800))
lags = st.one_of(st.just(0), st.integers(min_value=0, max_value=1000))
people = st.sampled_from(["P1", "P2", "P3"])
settings_ = st.sampled_from(SETTINGS)
codes_ = st.sampled_from(CODES)

#: A moment after T (midnight): one second later.
AFTER_T = datetime(T.year, T.month, T.day, 0, 0, 1)
base_events = st.lists(
    st.builds(lambda d, s, p, lag: event(T + timedelta(days=d), s, p,
                                         recorded_at=datetime.combine(T + timedelta(days=min(d + lag, 0)), datetime.min.time())),
              past_days, settings_, people, st.integers(min_value=0, max_value=30)),
    max_size=30,
)
base_codes = st.lists(
    st.builds(lambda d, c, p, e: code(c, T + timedelta(days=d), end=T + timedelta(days=d + e) if e < 300 else None, person_id=p),
              past_days, codes_, people, st.integers(min_value=0, max_value=900)),
    max_size=8,
)
#: Rows the index date must not see: dated on/after T, or dated before T but recorded after it.
future_events = st.lists(
    st.one_of(
        st.builds(lambda d, s, p: event(T + timedelta(days=d), s, p), future_days, settings_, people),
        st.builds(lambda d, s, p, lag: event(T + timedelta(days=d), s, p, recorded_at=AFTER_T + timedelta(days=lag)),
                  past_days, settings_, people, lags),
    ),
    min_size=1, max_size=20,
)
future_codes = st.lists(
    st.one_of(
        st.builds(lambda d, c, p: code(c, T + timedelta(days=d), person_id=p), future_days, codes_, people),
        st.builds(lambda d, c, p, lag: code(c, T + timedelta(days=d), person_id=p, recorded_at=AFTER_T + timedelta(days=lag)),
                  past_days, codes_, people, lags),
    ),
    max_size=6,
)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=base_events, codes=base_codes, extra_events=future_events, extra_codes=future_codes)
def test_appending_rows_dated_or_recorded_after_the_as_of_date_changes_nothing_at_it(events, codes, extra_events, extra_codes):
    persons = [person("P1"), person("P2", sex="M", imd_decile=None), person("P3", birth_date=date(2019, 4, 1))]
    with tempfile.TemporaryDirectory() as before_dir, tempfile.TemporaryDirectory() as after_dir:
        before = build_features(write(Path(before_dir), persons=persons, events=events, codes=codes), as_of=[T], config=CONFIG)
        after = build_features(
            write(Path(after_dir), persons=persons, events=events + extra_events, codes=codes + extra_codes),
            as_of=[T], config=CONFIG,
        )
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("as_of", [T, add_months(T, -7)])
def test_reference_and_builder_agree_on_an_empty_history(tmp_path, as_of):
    data = write(tmp_path)
    assert_matches_reference(
        build_features(data, as_of=[as_of], labels=True, config=CONFIG),
        reference_features(data, [as_of], data_end=CONFIG.data_end),
    )
