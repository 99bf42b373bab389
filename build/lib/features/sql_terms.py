"""The SQL building blocks a predictor's DuckDB computation is written in, and the window plan they run on.

A predictor declares its SQL as a function of :class:`SqlTerms` (``lambda q: q.count("ed", 0, 3)``).
The builder calls it twice: once on a collecting ``SqlTerms(None)`` that only records the window
edges the predictor needs (they become the lookback buckets of the :class:`Plan`), then on
``SqlTerms(plan)``, which returns SQL over the final select's relations (``i`` the index, ``p`` the
person, ``ea`` the event aggregates, ``ca`` the code aggregates) and records every aggregate
column it referenced, so the aggregate views hold exactly what the predictors use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from features.contract import SETTINGS
from features.dates import DAYS_PER_MONTH
from features.sources import sql_string

__all__ = ["Plan", "SqlTerms"]


@dataclass(frozen=True)
class Plan:
    """The window arithmetic of a config: lookback offsets (months) and the elementary buckets between them."""

    offsets: tuple[int, ...]

    @property
    def n_buckets(self) -> int:
        """Number of lookback buckets (numbered 0 = most recent upwards)."""
        return len(self.offsets) - 1

    @property
    def outcome_bucket(self) -> int:
        """Bucket number of the outcome window (after the lookback buckets)."""
        return self.n_buckets

    @property
    def slot_width(self) -> int:
        """Buckets per setting in the ``slot`` id: the lookback buckets plus the outcome bucket."""
        return self.n_buckets + 1

    def buckets(self, start: int, end: int) -> list[int]:
        """Bucket numbers making up the lookback window ``[T - end, T - start)`` months."""
        return [k for k in range(len(self.offsets) - 1) if self.offsets[k] >= start and self.offsets[k + 1] <= end]

    def slot(self, setting: str, bucket: int) -> int:
        """Integer id of (setting, bucket): one int comparison per aggregate instead of two string/int ones."""
        return SETTINGS.index(setting) * self.slot_width + bucket


@dataclass
class SqlTerms:
    """SQL snippets for predictors; with ``plan=None`` it only collects the window edges asked for.

    Attributes
    ----------
    plan
        The bucket plan (``None`` while collecting edges).
    edges
        Month offsets before T that some requested window starts or ends at.
    event_aggregates, code_aggregates
        Aggregate column name -> SQL aggregate, in first-use order, for the event and code views.
    """

    plan: Plan | None
    edges: set[int] = field(default_factory=set)
    event_aggregates: dict[str, str] = field(default_factory=dict)
    code_aggregates: dict[str, str] = field(default_factory=dict)

    def _buckets(self, start: int, end: int) -> list[int]:
        self.edges.update((start, end))
        return [] if self.plan is None else self.plan.buckets(start, end)

    def count(self, setting: str, start: int, end: int) -> str:
        """Number of known ``setting`` events in ``[T - end, T - start)`` months (0 when none)."""
        terms = [f"COALESCE(ea.n_{setting}_{k}, 0)" for k in self._buckets(start, end)]
        return f"({' + '.join(terms)})" if terms else "0"

    def cost(self, start: int, end: int) -> str:
        """Total ``cost_gbp`` of known events in ``[T - end, T - start)`` months (0 when none), summed in whole pence.

        Each cost is rounded to the penny (half away from zero) and the pence are added as integers,
        so the total does not depend on the order an engine adds the rows in (DuckDB and Spark give
        the same bits); the total is then converted to pounds.
        """
        buckets = self._buckets(start, end)
        name = f"cost_{start}_{end}m"
        if buckets:
            pence = "CAST(ROUND(cost_gbp * 100) AS BIGINT)"
            self.event_aggregates[name] = (
                f"CAST(SUM(CASE WHEN bucket BETWEEN {min(buckets)} AND {max(buckets)} THEN {pence} END) AS DOUBLE) / 100"
            )
        return f"COALESCE(ea.{name}, 0)"

    def days_since_last(self, setting: str, start: int, end: int) -> str:
        """Days from the last known ``setting`` event in ``[T - end, T - start)`` to T (NULL when none)."""
        buckets = self._buckets(start, end)
        name = f"last_{setting}_{start}_{end}m"
        if self.plan is not None and buckets:
            low, high = self.plan.slot(setting, min(buckets)), self.plan.slot(setting, max(buckets))
            self.event_aggregates[name] = f"MAX(CASE WHEN slot BETWEEN {low} AND {high} THEN event_date END)"
        return f"DATE_DIFF('day', CAST(ea.{name} AS DATE), CAST(i.as_of AS DATE))"

    def _code_condition(self, group: str, category: str) -> str:
        return f"grp = {sql_string(group)} AND category = {sql_string(category)}"

    def code_flag(self, group: str, category: str) -> str:
        """1 if a code of ``category`` in code-list ``group`` is active at T, else 0."""
        name = f"flag_{group}_{category}"
        self.code_aggregates[name] = f"MAX(CASE WHEN {self._code_condition(group, category)} THEN 1 ELSE 0 END)"
        return f"COALESCE(ca.{name}, 0)"

    def months_since_onset(self, group: str, category: str) -> str:
        """Months (days / DAYS_PER_MONTH) since the earliest active code of ``category`` started (NULL when none)."""
        name = f"onset_{group}_{category}"
        self.code_aggregates[name] = f"MIN(CASE WHEN {self._code_condition(group, category)} THEN start_date END)"
        return self.months_since(f"ca.{name}")

    @staticmethod
    def months_since(date_sql: str) -> str:
        """Months (days / DAYS_PER_MONTH) from the date ``date_sql`` to T."""
        return f"DATE_DIFF('day', {date_sql}, CAST(i.as_of AS DATE)) / {DAYS_PER_MONTH}"

    @staticmethod
    def person(column: str) -> str:
        """The person's ``column`` from the persons table (NULL when the person is not in it)."""
        return f"p.{column}"

    @staticmethod
    def age() -> str:
        """Age in whole years at T."""
        return (
            "(YEAR(i.as_of) - YEAR(p.birth_date) - CASE WHEN MONTH(i.as_of) * 100 + DAY(i.as_of) "
            "< MONTH(p.birth_date) * 100 + DAY(p.birth_date) THEN 1 ELSE 0 END)"
        )
