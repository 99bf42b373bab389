"""The pandas building blocks a predictor's reference computation is written in: one index date, plain pandas.

Independent of the SQL: windows come from ``pandas.DateOffset`` on the date itself, not from the
bucket plan, and the two clocks are applied by :mod:`features.reference` with pandas filters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.dates import DAYS_PER_MONTH

__all__ = ["ReferenceTerms"]


@dataclass(frozen=True)
class ReferenceTerms:
    """Pandas computations at one index date ``t`` for the people in ``people`` (indexed by ``person_id``).

    Attributes
    ----------
    t
        The index date.
    people
        Persons registered and alive at ``t``, indexed by ``person_id``.
    known
        Events known at ``t`` (both clocks applied).
    active
        Codes active and recorded at ``t``, with their code-list ``group`` and ``category``.
    """

    t: pd.Timestamp
    people: pd.DataFrame
    known: pd.DataFrame
    active: pd.DataFrame

    def _per_person(self, values: pd.Series, fill: float = 0.0) -> pd.Series:
        return values.reindex(self.people.index, fill_value=fill).astype(float)

    def events(self, setting: str | None, start: int, end: int) -> pd.DataFrame:
        """Known events (of ``setting``, or all when ``None``) in ``[t - end, t - start)`` months."""
        lo, hi = self.t - pd.DateOffset(months=end), self.t - pd.DateOffset(months=start)
        rows = self.known[(self.known["event_date"] >= lo) & (self.known["event_date"] < hi)]
        return rows if setting is None else rows[rows["setting"] == setting]

    def count(self, setting: str, start: int, end: int) -> pd.Series:
        """Number of known ``setting`` events in the window, per person."""
        return self._per_person(self.events(setting, start, end).groupby("person_id").size())

    def cost(self, start: int, end: int) -> pd.Series:
        """Total cost of known events in the window, per person: each cost rounded to the penny (half away from zero), pence added exactly."""
        rows = self.events(None, start, end)
        scaled = rows["cost_gbp"].to_numpy(dtype="float64") * 100
        whole = np.trunc(scaled)
        pence = whole + np.where(np.abs(scaled - whole) >= 0.5, np.sign(scaled), 0.0)
        totals = pd.Series(pence, index=rows.index).astype("Int64").groupby(rows["person_id"]).sum()
        return self._per_person(totals.astype("float64") / 100)

    def settings_used(self, start: int, end: int) -> pd.Series:
        """Number of distinct settings with a known event in the window, per person."""
        return self._per_person(self.events(None, start, end).groupby("person_id")["setting"].nunique())

    def days_since_last(self, setting: str, start: int, end: int) -> pd.Series:
        """Days from the last known ``setting`` event in the window to ``t`` (NaN when none)."""
        latest = self.events(setting, start, end).groupby("person_id")["event_date"].max().reindex(self.people.index)
        return (self.t - latest.dt.normalize()).dt.days.astype(float)

    def _codes(self, group: str, category: str) -> pd.DataFrame:
        return self.active[(self.active["group"] == group) & (self.active["category"] == category)]

    def code_flag(self, group: str, category: str) -> pd.Series:
        """1.0 if a code of ``category`` in ``group`` is active at ``t``, else 0.0."""
        return pd.Series(self.people.index.isin(set(self._codes(group, category)["person_id"])), index=self.people.index).astype(float)

    def distinct_categories(self, group: str) -> pd.Series:
        """Number of distinct categories of code-list ``group`` with an active code at ``t``."""
        rows = self.active[self.active["group"] == group].drop_duplicates(["person_id", "category"])
        return self._per_person(rows.groupby("person_id").size())

    def months_since_onset(self, group: str, category: str) -> pd.Series:
        """Months since the earliest active code of ``category`` started (NaN when none)."""
        onset = self._codes(group, category).groupby("person_id")["start_date"].min().reindex(self.people.index)
        return self.months_since(onset)

    def months_since(self, when: pd.Series) -> pd.Series:
        """Days from ``when`` to ``t`` divided by DAYS_PER_MONTH."""
        return (self.t - when).dt.days / DAYS_PER_MONTH

    def age(self) -> pd.Series:
        """Age in whole years at ``t``."""
        birth = self.people["birth_date"]
        before_birthday = (self.t.month, self.t.day) < pd.Series(list(zip(birth.dt.month, birth.dt.day)), index=birth.index)
        return (self.t.year - birth.dt.year - before_birthday.astype(int)).astype(float)
