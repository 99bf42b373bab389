"""New codes in no code list: concepts first recorded recently, with counts (a recoding sign)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from features.dates import add_months
from serving.monitoring.aggregates import Aggregates
from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig

__all__ = ["NewCode", "new_unmapped_codes"]


@dataclass(frozen=True)
class NewCode:
    """A code in no code list first recorded within ``new_code_days`` of the monitoring date."""

    code: str
    code_system: str
    first_recorded: date
    rows: int


def new_unmapped_codes(aggregates: Aggregates, config: MonitorConfig) -> tuple[list[NewCode], list[Alert]]:
    """Codes in no code list first recorded in the last ``new_code_days`` with at least ``new_code_min_rows`` rows.

    A code is only "new" once the data hold ``min_history_months`` before the window: at the start
    of an extract every code is first seen recently.
    """
    since = aggregates.as_of - timedelta(days=config.new_code_days)
    if pd.Timestamp(add_months(aggregates.data_start, config.min_history_months)) > pd.Timestamp(since):
        return [], []
    frame = aggregates.unmapped
    fresh = frame[(frame["first_recorded"] > pd.Timestamp(since)) & (frame["rows"] >= config.new_code_min_rows)]
    fresh = fresh.sort_values(["rows", "code"], ascending=[False, True])
    found = [
        NewCode(str(r.code), str(r.code_system), pd.Timestamp(r.first_recorded).date(), int(r.rows))
        for r in fresh.itertuples(index=False)
    ]
    alerts = [
        Alert(
            "unmapped_codes", c.code, "warning",
            f"code {c.code_system}:{c.code} is in no code list and first appeared on {c.first_recorded} "
            f"({c.rows:,} rows since). If it replaces a listed concept, add it to the code list, or its people lose that predictor.",
        )
        for c in found
    ]
    return found, alerts
