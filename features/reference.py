"""A plain pandas implementation of a subset of the features, cohort and labels: an independent oracle for the DuckDB builder.

It shares no SQL or window plan with :mod:`features.sql`: windows are computed with
``pandas.DateOffset`` per index date and each rule is written directly from the module docstring
of :mod:`features.build`. It is slow by design (one pass per date) and used only in tests and the
benchmark's speed ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.codelists import load_codelists
from features.config import FeatureConfig
from features.contract import SETTINGS, table_path

__all__ = ["REFERENCE_COLUMNS", "reference_features", "read_table"]

#: Columns the reference computes (besides person_id and as_of).
REFERENCE_COLUMNS: tuple[str, ...] = (
    *(f"{s}_{a}_{b}m" for s in SETTINGS for a, b in FeatureConfig().windows),
    "ed_trend",
    "days_since_ed",
    "cost_12m",
    "settings_used_12m",
    "sn_housing_insecurity",
    "sn_lives_alone",
    "ltc_count",
    "age",
    "months_registered",
    "excluded_reason",
    "label_high_intensity_use",
    "label_emergency_admission",
)


def read_table(data_dir: Path, name: str) -> pd.DataFrame:
    """Read one contract table with pandas (Parquet or CSV), dates as ``datetime64``."""
    path = table_path(Path(data_dir), name)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=True)
    for column in ("birth_date", "registered_from", "registered_to", "death_date", "event_date", "recorded_at",
                   "start_date", "end_date"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def _one_date(
    persons: pd.DataFrame, events: pd.DataFrame, codes: pd.DataFrame, t: pd.Timestamp, data_end: pd.Timestamp,
    config: FeatureConfig,
) -> pd.DataFrame:
    alive = persons["death_date"].isna() | (persons["death_date"] > t)
    registered = (persons["registered_from"] <= t) & (persons["registered_to"].isna() | (persons["registered_to"] > t))
    people = persons.loc[alive & registered].set_index("person_id")
    out = pd.DataFrame(index=people.index)
    out["as_of"] = t

    known = events[(events["event_date"] < t) & (events["recorded_at"] <= t)]
    for setting in SETTINGS:
        for a, b in config.windows:
            lo, hi = t - pd.DateOffset(months=b), t - pd.DateOffset(months=a)
            hits = known[(known["setting"] == setting) & (known["event_date"] >= lo) & (known["event_date"] < hi)]
            out[f"{setting}_{a}_{b}m"] = hits.groupby("person_id").size().reindex(out.index, fill_value=0).astype(float)
    ed = known[known["setting"] == "ed"]
    m = config.trend_months
    last = ed[ed["event_date"] >= t - pd.DateOffset(months=m)].groupby("person_id").size()
    before = ed[(ed["event_date"] >= t - pd.DateOffset(months=2 * m)) & (ed["event_date"] < t - pd.DateOffset(months=m))]
    out["ed_trend"] = (
        last.reindex(out.index, fill_value=0) - before.groupby("person_id").size().reindex(out.index, fill_value=0)
    ).astype(float)
    lookback = ed[ed["event_date"] >= t - pd.DateOffset(months=max(b for _, b in config.windows))]
    latest = lookback.groupby("person_id")["event_date"].max().reindex(out.index)
    out["days_since_ed"] = (t - latest.dt.normalize()).dt.days.astype(float)
    recent = known[known["event_date"] >= t - pd.DateOffset(months=config.recent_months)]
    out["cost_12m"] = recent.groupby("person_id")["cost_gbp"].sum().reindex(out.index, fill_value=0.0).astype(float)
    out["settings_used_12m"] = recent.groupby("person_id")["setting"].nunique().reindex(out.index, fill_value=0).astype(float)

    active = codes[
        (codes["start_date"] < t) & (codes["recorded_at"] <= t) & (codes["end_date"].isna() | (codes["end_date"] >= t))
    ]
    for need in ("housing_insecurity", "lives_alone"):
        ids = set(active.loc[(active["group"] == "social_need") & (active["category"] == need), "person_id"])
        out[f"sn_{need}"] = out.index.isin(ids).astype(float)
    conditions = active[active["group"] == "condition"].drop_duplicates(["person_id", "category"])
    out["ltc_count"] = conditions.groupby("person_id").size().reindex(out.index, fill_value=0).astype(float)

    birth = people["birth_date"]
    before_birthday = (t.month, t.day) < pd.Series(list(zip(birth.dt.month, birth.dt.day)), index=birth.index)
    out["age"] = (t.year - birth.dt.year - before_birthday.astype(int)).astype(float)
    out["months_registered"] = (t - people["registered_from"]).dt.days / 30.4375

    reason = pd.Series(pd.NA, index=out.index, dtype="str")
    statuses = active[active["group"] == "status"]
    hiu = ed[ed["event_date"] >= t - pd.DateOffset(months=config.already_hiu_months)].groupby("person_id").size()
    hiu = hiu.reindex(out.index, fill_value=0) >= config.already_hiu_ed
    for rule in config.exclusions:
        flagged = hiu if rule == "already_hiu" else out.index.isin(set(statuses.loc[statuses["category"] == rule, "person_id"]))
        reason = reason.mask(reason.isna() & flagged, rule)
    out["excluded_reason"] = reason

    start, end = t + pd.DateOffset(months=config.outcome_window[0]), t + pd.DateOffset(months=config.outcome_window[1])
    window = events[(events["event_date"] >= start) & (events["event_date"] < end)]
    count = lambda s: window[window["setting"] == s].groupby("person_id").size().reindex(out.index, fill_value=0)  # noqa: E731
    hiu_met = (
        (count("ed") >= config.hiu_ed)
        | (count("emergency_admission") >= config.hiu_emergency_admission)
        | (count("ambulance") + count("nhs111") >= config.hiu_ambulance_111)
    )
    ea_met = count("emergency_admission") >= config.emergency_admission_min
    followed = (people["registered_to"].isna() | (people["registered_to"] >= end)) & (
        people["death_date"].isna() | (people["death_date"] >= end)
    )
    covered = end - pd.Timedelta(days=1) <= data_end
    for name, met in (("high_intensity_use", hiu_met), ("emergency_admission", ea_met)):
        label = pd.Series(pd.NA, index=out.index, dtype="Int8")
        if covered:
            label = label.mask(met, 1).mask(~met & followed, 0)
        out[f"label_{name}"] = label
    return out.reset_index()


def reference_features(
    data_dir: Path, as_of: Sequence[date], *, data_end: date, config: FeatureConfig | None = None
) -> pd.DataFrame:
    """Compute :data:`REFERENCE_COLUMNS` for everyone registered and alive at each date, with pandas.

    Parameters
    ----------
    data_dir
        A contract data directory.
    as_of
        Index dates.
    data_end
        Last day the data cover (labels need the whole outcome window inside it).
    config
        Windows and thresholds; ``FeatureConfig()`` when ``None``.
    """
    config = config or FeatureConfig()
    persons = read_table(data_dir, "persons")
    events = read_table(data_dir, "events")
    if "recorded_at" not in events.columns:
        events["recorded_at"] = pd.NaT
    events["recorded_at"] = events["recorded_at"].fillna(events["event_date"])
    events["cost_gbp"] = pd.to_numeric(events.get("cost_gbp", np.nan), errors="coerce")
    codes = read_table(data_dir, "codes")
    if "recorded_at" not in codes.columns:
        codes["recorded_at"] = pd.NaT
    if "end_date" not in codes.columns:
        codes["end_date"] = pd.NaT
    codes["recorded_at"] = codes["recorded_at"].fillna(codes["start_date"])
    system = codes["code_system"].fillna("snomed").str.strip().str.lower() if "code_system" in codes.columns else "snomed"
    codes = codes.assign(code=codes["code"].astype(str).str.strip(), code_system=system)
    codes = codes.merge(load_codelists(config.codelists_dir), on=["code", "code_system"], how="inner")
    frames = [
        _one_date(persons, events, codes, pd.Timestamp(t), pd.Timestamp(data_end), config) for t in sorted(set(as_of))
    ]
    result = pd.concat(frames, ignore_index=True).sort_values(["as_of", "person_id"], ignore_index=True)
    return result[["person_id", "as_of", *REFERENCE_COLUMNS]]
