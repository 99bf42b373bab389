"""Dates the pipeline derives from the data: the extract date, calendar-month arithmetic and label coverage."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from pathlib import Path

from features.errors import ContractError
from features.sources import event_date_range

__all__ = ["DAYS_PER_MONTH", "TIMELINE_MONTHS", "extract_date", "add_months", "to_date", "window_covered", "lookback_covered"]

#: Days in an average Gregorian month: ``*_months`` predictors are days / DAYS_PER_MONTH, so the
#: day is recoverable exactly.
DAYS_PER_MONTH = 30.4375
#: Months of contact history a person's timeline shows (scoring, publication, service).
TIMELINE_MONTHS = 24


def to_date(value: date | datetime | str) -> date:
    """Return ``value`` as a :class:`datetime.date` (ISO strings, datetimes and pandas Timestamps accepted)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ContractError(f"as_of must be an ISO date like 2025-04-01; got {value!r}. Fix the date.") from None


def add_months(day: date, months: int) -> date:
    """Shift ``day`` by whole calendar months, clipping to the month's last day (31 Mar - 1 month = 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def window_covered(window_end: date, data_end: date) -> bool:
    """True when the data cover every day of a half-open window ending (exclusively) at ``window_end``."""
    return window_end - timedelta(days=1) <= data_end


def lookback_covered(as_of: date, months: int, data_start: date) -> bool:
    """True when the ``months`` before ``as_of`` lie inside data starting ``data_start`` (from its month's first day, so a mid-month start counts)."""
    return add_months(as_of, -months) >= date(data_start.year, data_start.month, 1)


def extract_date(data_dir: Path) -> date:
    """Return the extract date of a data directory: the latest ``event_date`` in its events table.

    This is the default scoring date and the default end of label follow-up. It is read from the
    data, never assumed, so a late or partial extract moves it.

    Raises
    ------
    ContractError
        If the events table is empty.
    """
    latest = event_date_range(Path(data_dir))[1]
    if latest is None:
        raise ContractError(
            f"events table in {data_dir} must hold at least one event to derive the extract date; got none. "
            "Export events, or pass the dates explicitly (as_of, data_end)."
        )
    return to_date(latest)
