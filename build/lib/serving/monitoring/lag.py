"""Recording lag: quantiles of ``recorded_at - event_date`` for rows recorded lately, against earlier windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from serving.monitoring.aggregates import Aggregates
from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig

__all__ = ["LagCheck", "check_lags"]

_MAD_TO_SD = 1.4826
_MIN_BASELINE_WINDOWS = 3


@dataclass(frozen=True)
class LagCheck:
    """One table/subject's lag quantiles: the last window, the baseline median and the alert threshold per quantile."""

    table: str
    subject: str
    rows_recent: int
    recent: dict[str, float]
    baseline: dict[str, float]
    threshold: dict[str, float]
    baseline_windows: int
    flagged: bool


def check_lags(aggregates: Aggregates, config: MonitorConfig) -> tuple[list[LagCheck], list[Alert]]:
    """Compare each subject's lag quantiles in the last ``lag_window_days`` with earlier windows.

    Windows are measured by recording time, so every lag in them is fully observed (no censoring by
    the extract date). Windows beginning within ``lag_horizon_days`` of the data start are left out:
    their long lags are missing because the events predate the extract.
    """
    frame = aggregates.lag_windows
    width = config.lag_window_days
    earliest = pd.Timestamp(aggregates.data_start) + timedelta(days=config.lag_horizon_days)
    qcols = [f"q{int(round(q * 100))}" for q in config.lag_quantiles]
    checks: list[LagCheck] = []
    alerts: list[Alert] = []
    for (table, subject), rows in frame.groupby(["table", "subject"], sort=True):
        recent = rows[rows["window"] == 0]
        start = pd.Timestamp(aggregates.as_of) - pd.to_timedelta((rows["window"] + 1) * width, unit="D")
        base = rows[(rows["window"] >= 1) & (start >= earliest)]
        if recent.empty or len(base) < _MIN_BASELINE_WINDOWS:
            continue
        now, baseline, threshold = {}, {}, {}
        flagged = False
        for col in qcols:
            values = base[col].to_numpy(dtype=float)
            centre = float(np.median(values))
            spread = _MAD_TO_SD * float(np.median(np.abs(values - centre)))
            limit = centre + max(config.lag_mad_multiplier * spread, config.lag_min_shift_days)
            value = float(recent[col].iloc[0])
            now[col], baseline[col], threshold[col] = value, centre, limit
            flagged |= value > limit
        check = LagCheck(str(table), str(subject), int(recent["rows"].iloc[0]), now, baseline, threshold, len(base), flagged)
        checks.append(check)
        if flagged:
            worst = max(qcols, key=lambda c: now[c] - threshold[c])
            alerts.append(Alert(
                "recording_lag", str(subject), "warning",
                f"{table} {subject!r}: rows recorded in the last {width} days took {now[worst]:.1f} days to arrive at the "
                f"{worst[1:]}th percentile, against {baseline[worst]:.1f} days before (alert above {threshold[worst]:.1f}). "
                "Recent months are less complete than usual: recent contacts are under-counted in features until they arrive.",
            ))
    return checks, alerts
