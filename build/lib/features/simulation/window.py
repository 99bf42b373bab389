"""The simulated calendar: a window of whole months, as day numbers since 1970-01-01."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

import numpy as np

from features.simulation.errors import SimulationError

__all__ = ["Window", "default_window", "make_window", "EPOCH"]

EPOCH = date(1970, 1, 1)
DEFAULT_YEARS = 4


@dataclass(frozen=True)
class Window:
    """Months ``[start, end)``; ``month_starts`` has one more entry than there are months (the end)."""

    start: date
    end: date
    month_starts: np.ndarray  # int64 day numbers, length n_months + 1

    @property
    def n_months(self) -> int:
        return len(self.month_starts) - 1

    @property
    def start_day(self) -> int:
        return int(self.month_starts[0])

    @property
    def end_day(self) -> int:
        return int(self.month_starts[-1])


def _first_of_month(d: date, what: str) -> date:
    if d.day != 1:
        raise SimulationError(
            f"{what} must be the first day of a month; got {d.isoformat()}. Use {d.replace(day=1).isoformat()}."
        )
    return d


def default_window(today: date | None = None) -> tuple[date, date]:
    """Return the default window: four years ending on the first day of the current month (UTC)."""
    now = today or datetime.now(timezone.utc).date()
    end = now.replace(day=1)
    return end.replace(year=end.year - DEFAULT_YEARS), end


def make_window(start: date | None, end: date | None) -> Window:
    """Build the monthly window; missing ends default to :func:`default_window`.

    Raises
    ------
    SimulationError
        If a bound is not the first day of a month or the window is shorter than 12 months.
    """
    default_start, default_end = default_window()
    end = _first_of_month(end, "end") if end is not None else default_end
    if start is None:
        start = end.replace(year=end.year - DEFAULT_YEARS)
    start = _first_of_month(start, "start")
    n_months = (end.year - start.year) * 12 + end.month - start.month
    if n_months < 12:
        raise SimulationError(
            f"the window must cover at least 12 months; got {n_months} ({start} to {end}). Move start earlier."
        )
    firsts = [date(start.year + (start.month - 1 + k) // 12, (start.month - 1 + k) % 12 + 1, 1) for k in range(n_months + 1)]
    days = np.array([(d - EPOCH).days for d in firsts], dtype=np.int64)
    return Window(start=start, end=end, month_starts=days)
