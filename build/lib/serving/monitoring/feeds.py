"""Feed checks: monthly volumes per setting, for the codes table and per code category, against their own history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.dates import add_months
from serving.monitoring.aggregates import CODES_SUBJECT, Aggregates
from serving.monitoring.alerts import Alert
from serving.monitoring.config import MonitorConfig
from serving.monitoring.expectation import MonthJudgement, SeriesJudgement, judge_series

__all__ = ["FeedChecks", "check_feeds", "completeness_curve", "month_completeness", "complete_months", "NO_LIST"]

#: Category given to codes in no code list (never judged as a category).
NO_LIST = "(no list)"


@dataclass(frozen=True)
class FeedChecks:
    """Judged series: one per setting, one for the codes table, one per code category; and their alerts."""

    settings: list[SeriesJudgement]
    codes: SeriesJudgement | None
    categories: list[SeriesJudgement]
    alerts: list[Alert]


def complete_months(data_start: date, as_of: date) -> list[date]:
    """Months after the (possibly partial) first month of the data that end on or before ``as_of``."""
    months = []
    month = add_months(data_start, 1)
    while add_months(month, 1) <= as_of:
        months.append(month)
        month = add_months(month, 1)
    return months


def completeness_curve(histogram: pd.DataFrame, horizon: int) -> np.ndarray | None:
    """``F[k]``: share of rows (recorded within ``horizon`` days) recorded within ``k`` whole days, k = 0..horizon.

    ``histogram`` holds ``days, rows`` (days capped at ``horizon + 1``); ``None`` when it holds no rows.
    """
    counts = np.zeros(horizon + 2)
    np.add.at(counts, histogram["days"].clip(lower=0).to_numpy(dtype=int), histogram["rows"].to_numpy(dtype=float))
    within = counts[: horizon + 1].sum()
    if within <= 0:
        return None
    return np.cumsum(counts[: horizon + 1]) / within


def month_completeness(month: date, as_of: date, curve: np.ndarray | None) -> float:
    """Expected share of ``month``'s eventual rows recorded by ``as_of``, events spread evenly over its days.

    An event on day d is visible when its lag in whole days is below ``as_of - d`` days.
    """
    if curve is None:
        return 1.0
    horizon = len(curve) - 1
    n = (as_of - month).days - np.arange((add_months(month, 1) - month).days)
    return float(np.where(n >= 1, curve[np.clip(n - 1, 0, horizon)], 0.0).mean())


def _series(by_month: dict[date, int], months: list[date]) -> list[float]:
    return [float(by_month.get(m, 0)) for m in months]


def _worst(series: SeriesJudgement) -> MonthJudgement | None:
    flagged = series.flagged
    return min(flagged, key=lambda j: j.p_value) if flagged else None


def _describe(j: MonthJudgement) -> str:
    span = f"{j.month:%Y-%m}" if j.months == 1 else f"the {j.months} months from {j.month:%Y-%m}"
    return (
        f"{span} has {j.observed:,.0f} rows; expected {j.expected:,.0f} (band {j.lower:,.0f}-{j.upper:,.0f}) "
        f"allowing for trend, season and recording lag ({j.completeness:.0%} expected recorded so far); "
        f"{j.ratio:.0%} of expected, probability {j.p_value:.1e}"
    )


def check_feeds(aggregates: Aggregates, config: MonitorConfig, *, subjects: Iterable[str] | None = None) -> FeedChecks:
    """Judge every setting's, the codes table's and every code category's monthly volumes.

    A setting or the codes table well below expectation is a critical ``feed_drop``; a code category
    whose new-onset volume collapses is an ``unmapped_codes`` warning with subject ``category:NAME``
    (a recoding sign: its codes may have been replaced by one in no list).

    Parameters
    ----------
    aggregates
        Output of :func:`serving.monitoring.aggregates.aggregate`.
    config
        History, drop and band rules.
    subjects
        Settings to judge; default every setting with rows in the data.
    """
    months = complete_months(aggregates.data_start, aggregates.as_of)
    volumes = aggregates.volumes
    hist = aggregates.lag_histogram
    horizon = config.lag_horizon_days
    pooled = completeness_curve(hist[hist["table"] == "events"], horizon)
    counts = {key: dict(zip(part["month"], part["rows"])) for key, part in volumes.groupby(["table", "subject"], sort=False)}
    histograms = {key: part for key, part in hist.groupby(["table", "subject"], sort=False)}
    settings_seen = sorted(volumes.loc[volumes["table"] == "events", "subject"].unique())
    chosen = list(subjects) if subjects is not None else settings_seen
    alerts: list[Alert] = []

    def curve_for(table: str, subject: str) -> np.ndarray | None:
        part = histograms.get((table, subject))
        own = completeness_curve(part, horizon) if part is not None else None
        return own if own is not None else pooled

    def judge(table: str, subject: str, curve: np.ndarray | None, p_value: float) -> SeriesJudgement:
        comp = [month_completeness(m, aggregates.as_of, curve) for m in months]
        return judge_series(subject, months, _series(counts.get((table, subject), {}), months), comp, config=config, p_value=p_value)

    settings = []
    for setting in chosen:
        series = judge("events", setting, curve_for("events", setting), config.drop_p_value)
        settings.append(series)
        worst = _worst(series)
        if worst is not None:
            alerts.append(Alert(
                "feed_drop", setting, "critical",
                f"events feed {setting!r}: {_describe(worst)}. The feed may have stopped or arrived partly; "
                f"check the extract before publishing (or accept with --accept-alert feed_drop:{setting} if the fall is real).",
            ))
    codes_curve = curve_for("codes", CODES_SUBJECT)
    codes = None
    if len(volumes[volumes["table"] == "codes"]):
        codes = judge("codes", CODES_SUBJECT, codes_curve, config.drop_p_value)
        worst = _worst(codes)
        if worst is not None:
            alerts.append(Alert(
                "feed_drop", CODES_SUBJECT, "critical",
                f"codes feed: {_describe(worst)}. The codes extract may be partial; check it before publishing.",
            ))
    categories = []
    names = sorted(set(volumes.loc[volumes["table"] == "codes", "subject"]) - {CODES_SUBJECT, NO_LIST})
    for category in names:
        series = judge("codes", category, codes_curve, config.collapse_p_value)
        categories.append(series)
        worst = _worst(series)
        if worst is not None:
            alerts.append(Alert(
                "unmapped_codes", f"category:{category}", "warning",
                f"new {category} codes collapsed: {_describe(worst)}. A code of this category may have been "
                "replaced by a concept in no code list; check the new unmapped codes and update the code list.",
            ))
    return FeedChecks(settings, codes, categories, alerts)
