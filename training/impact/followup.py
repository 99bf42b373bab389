"""Person timelines and monthly event and person-time matrices around a start date (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.definitions import DAYS_PER_MONTH
from features.reference import read_table
from training.impact.config import COUNT_MEASURES
from training.impact.errors import ImpactError

__all__ = [
    "Timeline",
    "Matrices",
    "load_timeline",
    "monthly_matrices",
    "count_between",
    "counts_in_months",
    "day_number",
    "month_index",
    "month_first_day",
    "person_numbers",
]

_EPOCH = np.datetime64("1970-01-01", "D")


def month_index(day: np.ndarray | float) -> np.ndarray:
    """Calendar month (``year * 12 + month - 1``) holding each day number (days since 1970-01-01)."""
    days = np.floor(np.asarray(day, dtype=float)).astype(np.int64).astype("datetime64[D]")
    return days.astype("datetime64[M]").astype(np.int64) + 1970 * 12


def month_first_day(index: np.ndarray | int) -> np.ndarray:
    """Day number of the first day of each calendar month ``index`` (``year * 12 + month - 1``)."""
    months = (np.asarray(index, dtype=np.int64) - 1970 * 12).astype("datetime64[M]")
    return (months.astype("datetime64[D]") - _EPOCH).astype(float)


def day_number(values: pd.Series | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as floats (times of day kept as fractions); missing values become NaN."""
    stamps = pd.to_datetime(pd.Series(values)).astype("datetime64[ns]")
    out = (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(dtype=float) / 86400.0
    return out


@dataclass(frozen=True)
class _Events:
    person: np.ndarray  # int person index, sorted
    day: np.ndarray  # event day (float)
    value: np.ndarray  # 1.0 per event, or the cost
    offsets: np.ndarray  # CSR offsets per person (length n_persons + 1)


@dataclass(frozen=True)
class Timeline:
    """Everyone's time at risk (entry, exit days) and the outcome events, indexed by person number."""

    ids: np.ndarray
    index: pd.Series  # person_id -> person number
    entry: np.ndarray
    exit: np.ndarray
    events: dict[str, _Events]
    data_end: float  # exclusive: the day after the last day the data cover


@dataclass(frozen=True)
class Matrices:
    """Per row and month bin: events of each measure and days at risk; bin ``k`` is ``[start + k, start + k + 1)`` months.

    When built with calendar weights, every day at risk and every event on or after ``start``
    counts with its calendar month's weight (so the sums are weighted person-time and events).
    """

    events: dict[str, np.ndarray]
    days: np.ndarray
    first_bin: int


def _csr(person: np.ndarray, day: np.ndarray, value: np.ndarray, n: int) -> _Events:
    order = np.lexsort((day, person))
    person = person[order]
    offsets = np.searchsorted(person, np.arange(n + 1))
    return _Events(person, day[order], value[order], offsets)


def load_timeline(data_dir: Path | str, *, data_end: date, cost_settings: tuple[str, ...]) -> Timeline:
    """Read persons and events into arrays: time at risk from registration to death, deregistration or data end.

    Parameters
    ----------
    data_dir
        A contract data directory.
    data_end
        Last day the data cover.
    cost_settings
        Settings whose event costs form the ``cost_gbp`` measure.
    """
    persons = read_table(Path(data_dir), "persons")
    ids = persons["person_id"].astype(str).to_numpy()
    index = pd.Series(np.arange(ids.size), index=ids)
    end = float((np.datetime64(data_end, "D") - _EPOCH).astype(int) + 1)
    entry = day_number(persons["registered_from"])
    exits = np.column_stack(
        [day_number(persons["registered_to"]), day_number(persons["death_date"]), np.full(ids.size, end)]
    )
    exit_ = np.nanmin(exits, axis=1)
    events = read_table(Path(data_dir), "events")
    events = events[events["person_id"].astype(str).isin(index.index)]
    person = index.loc[events["person_id"].astype(str)].to_numpy()
    day = day_number(events["event_date"])
    setting = events["setting"].astype(str).to_numpy()
    cost = pd.to_numeric(events["cost_gbp"], errors="coerce").fillna(0.0).to_numpy() if "cost_gbp" in events else np.zeros(day.size)
    out: dict[str, _Events] = {}
    for measure in COUNT_MEASURES:
        keep = setting == measure
        out[measure] = _csr(person[keep], day[keep], np.ones(int(keep.sum())), ids.size)
    keep = np.isin(setting, cost_settings)
    out["cost_gbp"] = _csr(person[keep], day[keep], cost[keep], ids.size)
    return Timeline(ids=ids, index=index, entry=entry, exit=exit_, events=out, data_end=end)


def person_numbers(timeline: Timeline, frame: pd.DataFrame, what: str, columns: list[str]) -> np.ndarray:
    """Each row's person number in ``timeline``; ``frame`` (a ``what`` record) must have ``columns`` and only known people."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ImpactError(f"{what} must have columns {columns}; missing {missing}. Pass them.")
    person = timeline.index.reindex(frame["person_id"].astype(str)).to_numpy()
    if np.isnan(person.astype(float)).any():
        row = int(np.flatnonzero(np.isnan(person.astype(float)))[0])
        raise ImpactError(f"{what} row {row} person_id must be in the persons table; it is not. Remove the row or fix the id.")
    return person.astype(int)


def _gather(ev: _Events, rows_person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row number and event position of every event belonging to each row's person."""
    lo, hi = ev.offsets[rows_person], ev.offsets[rows_person + 1]
    counts = hi - lo
    row = np.repeat(np.arange(rows_person.size), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, np.repeat(lo, counts) + within


def monthly_matrices(
    timeline: Timeline,
    rows_person: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    first_bin: int,
    last_bin: int,
    calendar_weights: np.ndarray | None = None,
) -> Matrices:  # noqa: PLR0913 - the row description and its weights travel together
    """Events and days at risk per row in month bins ``first_bin .. last_bin`` around each row's start day.

    Parameters
    ----------
    timeline
        From :func:`load_timeline`.
    rows_person
        Person number of each row (a person may have several rows, e.g. a control in several trials).
    start
        Day zero of each row (the enrolment day, or the matched enrolled person's day for a control).
    stop
        Day each row's follow-up stops at the latest (a control's censoring day; ``inf`` for none);
        death, deregistration and the data end stop it too. Events are counted by event date.
    first_bin, last_bin
        Month bins relative to ``start`` (negative = before); bins are 30.4375 days.
    calendar_weights
        Optional weights (rows x months): column ``k`` weighs the row's time and events from
        ``start`` onwards that fall in the ``k``-th calendar month after the one holding ``start``
        (column 0 = that month; later months use the last column). Time before ``start`` weighs 1.
        Weights change at calendar-month boundaries, inside the bins, so they are applied per day
        here rather than per bin afterwards.
    """
    bins = np.arange(first_bin, last_bin + 1)
    lo = start[:, None] + bins[None, :] * DAYS_PER_MONTH
    hi = lo + DAYS_PER_MONTH
    entry = timeline.entry[rows_person][:, None]
    exit_ = np.minimum(timeline.exit[rows_person], stop)[:, None]
    if calendar_weights is None:
        days = np.clip(np.minimum(hi, exit_) - np.maximum(lo, entry), 0.0, None)
    else:
        days = np.clip(np.minimum(np.minimum(hi, start[:, None]), exit_) - np.maximum(lo, entry), 0.0, None)
        first = month_index(start)
        edges = month_first_day(first[:, None] + np.arange(1, calendar_weights.shape[1])[None, :])
        edges = np.column_stack([start, edges, np.full(start.size, np.inf)])
        for k in range(calendar_weights.shape[1]):
            seg_lo = np.maximum(edges[:, k], entry[:, 0])[:, None]
            seg_hi = np.minimum(edges[:, k + 1], exit_[:, 0])[:, None]
            overlap = np.clip(np.minimum(hi, seg_hi) - np.maximum(lo, seg_lo), 0.0, None)
            days += overlap * calendar_weights[:, k][:, None]
    events = {}
    for measure, ev in timeline.events.items():
        matrix = np.zeros((rows_person.size, bins.size))
        row, pos = _gather(ev, rows_person)
        day = ev.day[pos]
        k = np.floor((day - start[row]) / DAYS_PER_MONTH).astype(np.int64) - first_bin
        ok = (k >= 0) & (k < bins.size) & (day >= timeline.entry[rows_person[row]]) & (day < np.minimum(timeline.exit[rows_person[row]], stop[row]))
        value = ev.value[pos]
        if calendar_weights is not None:
            month = np.clip(month_index(day) - month_index(start[row]), 0, calendar_weights.shape[1] - 1)
            value = np.where(day >= start[row], value * calendar_weights[row, month], value)
        np.add.at(matrix, (row[ok], k[ok]), value[ok])
        events[measure] = matrix
    return Matrices(events=events, days=days, first_bin=first_bin)


def count_between(timeline: Timeline, lo: float, hi: float, measure: str = "ed") -> np.ndarray:
    """Everyone's events with event date in ``[lo, hi)``, one count per person number.

    Counted by event date whatever their recording date: the evaluation looks back at events before
    a decision (day zero), which the decision cannot have changed, and the team may have known of
    them before the extract did (see :mod:`training.impact.design`).
    """
    ev = timeline.events[measure]
    ok = (ev.day >= lo) & (ev.day < hi)
    return np.bincount(ev.person[ok], minlength=timeline.ids.size).astype(float)


def counts_in_months(timeline: Timeline, person: np.ndarray, month: np.ndarray, back: int, measure: str = "ed") -> np.ndarray:
    """Events of each ``person`` in the ``back`` calendar months before calendar month ``month``, by event date.

    Counted by event date whatever their recording date: these are events before a decision, which
    the decision cannot have changed (see :mod:`training.impact.design`).

    Parameters
    ----------
    timeline
        From :func:`load_timeline`.
    person, month
        Person numbers and calendar months (:func:`month_index`), one pair per query.
    back
        Calendar months counted, ending just before ``month``.
    measure
        Event measure to count.
    """
    if person.size == 0:
        return np.zeros(0)
    people, column = np.unique(person, return_inverse=True)
    base = int(month.min()) - back
    span = int(month.max()) - base
    row, pos = _gather(timeline.events[measure], people)
    event_month = month_index(timeline.events[measure].day[pos]) - base
    keep = (event_month >= 0) & (event_month < span)
    table = np.zeros((people.size, span + 1))
    np.add.at(table, (row[keep], event_month[keep] + 1), 1.0)
    cumulative = np.cumsum(table, axis=1)  # [p, j]: events in calendar months base .. base + j - 1
    hi = month - base
    return cumulative[column, hi] - cumulative[column, hi - back]
