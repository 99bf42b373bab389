"""Expected monthly volumes from a series' own history: trend, seasonality, recording-lag completeness, dispersion.

The model, per series: log(daily rate) = level + slope x month + season[calendar month] + noise. The
trend is a Theil-Sen line (robust to a few bad months); seasonal factors are medians of the detrended
residuals per calendar month, used only when the history spans enough years to see each month twice.
Counts are negative binomial around ``rate x days x completeness`` with the extra-Poisson variance the
history shows, so a judged month's lower-tail probability accounts for both noise and real wobble.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy import stats

from features.dates import add_months
from serving.monitoring.config import MonitorConfig

__all__ = ["MonthJudgement", "SeriesJudgement", "judge_series", "lower_tail"]

_MAD_TO_SD = 1.4826
_BACKFIT_ROUNDS = 4


@dataclass(frozen=True)
class MonthJudgement:
    """One judged month (or the sum of the judged months, ``month`` = the first of them, ``months`` > 1)."""

    month: date
    months: int
    observed: float
    expected: float
    lower: float
    upper: float
    completeness: float
    ratio: float
    p_value: float
    flagged: bool


@dataclass(frozen=True)
class SeriesJudgement:
    """A series' expectation over every month shown and the judgement of its last complete months."""

    subject: str
    months: list[date]
    observed: list[float]
    expected: list[float]
    lower: list[float]
    upper: list[float]
    completeness: list[float]
    judged: list[MonthJudgement]
    history_months: int
    seasonal: bool
    dispersion: float
    reason_not_judged: str | None = None

    @property
    def flagged(self) -> list[MonthJudgement]:
        """The judged months (or sums) that are well below expectation."""
        return [j for j in self.judged if j.flagged]


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    i, j = np.triu_indices(len(x), k=1)
    slope = float(np.median((y[j] - y[i]) / (x[j] - x[i]))) if len(i) else 0.0
    return float(np.median(y - slope * x)), slope


def _robust_var(values: np.ndarray) -> float:
    return float((_MAD_TO_SD * np.median(np.abs(values - np.median(values)))) ** 2)


def lower_tail(observed: float, mean: float, extra_variance: float) -> float:
    """P(X <= observed) for a count with mean ``mean`` and variance ``mean + extra_variance x mean^2``."""
    if mean <= 0:
        return 1.0
    if extra_variance <= 1e-9:
        return float(stats.poisson.cdf(math.floor(observed), mean))
    size = 1.0 / extra_variance
    return float(stats.nbinom.cdf(math.floor(observed), size, size / (size + mean)))


def _interval(mean: np.ndarray, extra_variance: float, probability: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - probability) / 2
    mean = np.maximum(np.asarray(mean, dtype=float), 1e-12)
    if extra_variance <= 1e-9:
        return stats.poisson.ppf(tail, mean), stats.poisson.ppf(1 - tail, mean)
    size = 1.0 / extra_variance
    return stats.nbinom.ppf(tail, size, size / (size + mean)), stats.nbinom.ppf(1 - tail, size, size / (size + mean))


def _days(month: date) -> int:
    return (add_months(month, 1) - month).days


def judge_series(
    subject: str,
    months: Sequence[date],
    counts: Sequence[float],
    completeness: Sequence[float],
    *,
    config: MonitorConfig,
    p_value: float,
) -> SeriesJudgement:
    """Learn a series' expectation from its history and judge its last ``config.recent_months`` months.

    Parameters
    ----------
    subject
        What the series counts (a setting, ``codes`` or a code category).
    months
        Consecutive complete months (first days), oldest first; the last ``recent_months`` are judged.
    counts
        Rows observed in each month as of the monitoring date.
    completeness
        Expected share of each month's eventual rows already recorded (from the learned lag); 1 for
        old months. Months below ``config.min_completeness`` are neither learned from nor judged.
    config
        History length, seasonality rule, drop ratio and band probability.
    p_value
        Lower-tail probability below which a month (or the judged months' sum) that is also below
        ``drop_ratio`` of its expectation is flagged.
    """
    months = list(months)
    y = np.asarray(counts, dtype=float)
    comp = np.asarray(completeness, dtype=float)
    k = config.recent_months
    n = len(months)
    days = np.array([_days(m) for m in months], dtype=float)
    usable = comp >= config.min_completeness
    hist_idx = [i for i in range(max(0, n - k - config.history_months), max(0, n - k)) if usable[i]]
    empty = [math.nan] * n

    def not_judged(reason: str) -> SeriesJudgement:
        return SeriesJudgement(subject, months, y.tolist(), empty, empty, empty, comp.tolist(), [], len(hist_idx), False, math.nan, reason)

    if n <= k or len(hist_idx) < config.min_history_months:
        return not_judged(f"{len(hist_idx)} usable history months; at least {config.min_history_months} needed")
    h = np.array(hist_idx)
    adjusted = y[h] / comp[h] / days[h]
    if (adjusted <= 0).mean() > 0.5:
        return not_judged("the series is mostly empty in its history")
    floor = 0.5 / days[h].mean()  # half a row a month, so empty months do not give log(0)
    log_rate = np.log(np.maximum(adjusted, floor))
    x = h.astype(float)
    calendar = np.array([m.month for m in months])
    seasonal = len(h) >= 12 * config.seasonal_min_years and all(
        (calendar[h] == c).sum() >= config.seasonal_min_years for c in range(1, 13)
    )
    season = np.zeros(13)
    intercept, slope = _theil_sen(x, log_rate)
    fitted = intercept + slope * x
    total_var = _robust_var(log_rate - fitted) * len(h) / max(len(h) - 2, 1)
    if seasonal:
        factors = np.zeros(13)
        s_intercept, s_slope = intercept, slope
        for _ in range(_BACKFIT_ROUNDS):  # trend and season estimated in turn (backfitting)
            resid = log_rate - (s_intercept + s_slope * x)
            for c in range(1, 13):
                factors[c] = np.median(resid[calendar[h] == c])
            factors[1:] -= factors[1:].mean()
            s_intercept, s_slope = _theil_sen(x, log_rate - factors[calendar[h]])
        s_fitted = s_intercept + s_slope * x + factors[calendar[h]]
        per_month = min(int((calendar[h] == c).sum()) for c in range(1, 13))
        # 11 more free parameters, and each factor's own estimation error enters the forecast
        s_var = _robust_var(log_rate - s_fitted) * len(h) / max(len(h) - 13, 1) * (1 + 1 / per_month)
        seasonal = s_var < total_var
        if seasonal:
            season, intercept, slope, fitted, total_var = factors, s_intercept, s_slope, s_fitted, s_var
    mean_hist = np.exp(fitted) * days[h] * comp[h]
    extra = max(0.0, total_var - float(np.median(1.0 / np.maximum(mean_hist, 1e-9))))

    idx = np.arange(n, dtype=float)
    expected = np.exp(intercept + slope * idx + season[calendar]) * days * comp
    lower, upper = _interval(expected, extra, config.band_probability)
    before = idx < h[0]  # the model speaks for its history window and the judged months only
    shown = [np.where(before, np.nan, v) for v in (expected, lower, upper)]
    judged: list[MonthJudgement] = []
    targets = [i for i in range(n - k, n) if usable[i]]
    groups = [[i] for i in targets] + ([targets] if len(targets) > 1 else [])
    for group in groups:
        obs = float(y[group].sum())
        mean = float(expected[group].sum())
        # a sum of months is as dispersed as its months: same extra variance on the summed mean
        p = lower_tail(obs, mean, extra)
        lo, hi = (float(v[0]) for v in _interval(np.array([mean]), extra, config.band_probability))
        ratio = obs / mean if mean > 0 else math.nan
        judged.append(
            MonthJudgement(
                month=months[group[0]], months=len(group), observed=obs, expected=mean, lower=lo, upper=hi,
                completeness=float(comp[group].mean()), ratio=ratio, p_value=p,
                flagged=bool(mean > 0 and p < p_value and ratio <= config.drop_ratio),
            )
        )
    return SeriesJudgement(
        subject=subject, months=months, observed=y.tolist(), expected=shown[0].tolist(),
        lower=shown[1].tolist(), upper=shown[2].tolist(), completeness=comp.tolist(),
        judged=judged, history_months=len(h), seasonal=seasonal, dispersion=extra,
    )
