"""A plain pandas implementation of every declared predictor, the cohort and the labels: an independent oracle for the DuckDB builder.

It shares no SQL or window plan with :mod:`features.sql`: each predictor's ``reference``
computation (written in :class:`~features.reference_terms.ReferenceTerms`) and the cohort and label
rules below compute windows with ``pandas.DateOffset`` per index date, directly from the module
docstring of :mod:`features.build`. It is slow by design (one pass per date) and used only in tests
and the benchmark's speed ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd

from features.codelists import load_codelists
from features.config import FeatureConfig
from features.definitions import predictor_specs
from features.reference_terms import ReferenceTerms
from features.sources import read_table

__all__ = ["REFERENCE_COLUMNS", "reference_columns", "reference_features"]

#: Columns besides the predictors that the reference computes.
_COHORT_AND_LABELS: tuple[str, ...] = ("excluded_reason", "label_high_intensity_use", "label_emergency_admission")


def reference_columns(config: FeatureConfig | None = None) -> tuple[str, ...]:
    """Columns the reference computes (besides person_id and as_of): every declared predictor, the exclusion, the labels."""
    return (*predictor_specs(config), *_COHORT_AND_LABELS)


#: :func:`reference_columns` of the default config.
REFERENCE_COLUMNS: tuple[str, ...] = reference_columns()


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
    active = codes[
        (codes["start_date"] < t) & (codes["recorded_at"] <= t) & (codes["end_date"].isna() | (codes["end_date"] >= t))
    ]
    terms = ReferenceTerms(t=t, people=people, known=known, active=active)
    for name, spec in predictor_specs(config).items():
        out[name] = spec.reference(terms)

    reason = pd.Series(pd.NA, index=out.index, dtype="str")
    statuses = active[active["group"] == "status"]
    ed = known[known["setting"] == "ed"]
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
    """Compute :func:`reference_columns` for everyone registered and alive at each date, with pandas.

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
    codes = read_table(data_dir, "codes")
    system = codes["code_system"].fillna("snomed").str.strip().str.lower().replace("", "snomed")
    codes = codes.assign(code=codes["code"].astype(str).str.strip(), code_system=system)
    codes = codes.merge(load_codelists(config.codelists_dir), on=["code", "code_system"], how="inner")
    frames = [
        _one_date(persons, events, codes, pd.Timestamp(t), pd.Timestamp(data_end), config) for t in sorted(set(as_of))
    ]
    result = pd.concat(frames, ignore_index=True).sort_values(["as_of", "person_id"], ignore_index=True)
    return result[["person_id", "as_of", *reference_columns(config)]]
