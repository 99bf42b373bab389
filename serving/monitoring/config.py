"""Thresholds of the monitoring checks: one typed config whose field descriptions document each alert rule."""

from __future__ import annotations

from pydantic import Field, model_validator

from features.typed_config import TypedConfig

__all__ = ["MonitorConfig"]


class MonitorConfig(TypedConfig):
    """How feeds, codes, recording lag, drift, backtests and staleness are judged.

    Expected volumes, their bands and lag baselines are learned from the data's own history; the
    fields below only say how far from that history a value must be before it is an alert.
    """

    history_months: int = Field(24, ge=3, description="Complete months before the judged months used to learn each series' level, trend and dispersion.")
    min_history_months: int = Field(12, ge=3, description="A series with fewer usable history months is reported as not judged (no alert).")
    recent_months: int = Field(2, ge=1, description="Last complete months judged: each month alone and their sum.")
    seasonal_min_years: int = Field(2, ge=2, description="Seasonal factors (one per calendar month) are used only when history spans at least this many years.")
    drop_ratio: float = Field(0.7, gt=0, lt=1, description="A volume is 'well below' when observed <= drop_ratio x the lag-adjusted expectation.")
    drop_p_value: float = Field(1e-6, gt=0, lt=1, description="...and the observed count is this improbable (lower tail) under the expectation and the history's dispersion. Feed (setting) drops are critical.")
    collapse_p_value: float = Field(1e-4, gt=0, lt=1, description="Lower-tail probability for a code category's new-onset collapse (a warning, so less strict than a feed drop).")
    band_probability: float = Field(0.99, gt=0.5, lt=1, description="Central probability of the expected band drawn in monitor.html.")
    lag_horizon_days: int = Field(180, ge=7, description="Recording lags are learned up to this many days; longer-delayed rows count as never arriving for completeness.")
    lag_history_days: int = Field(365, ge=30, description="Event dates whose lags are learned: this many days ending lag_horizon_days before the monitoring date.")
    min_completeness: float = Field(0.5, gt=0, le=1, description="Months expected to be less complete than this (by the learned lag) are not judged.")
    lag_window_days: int = Field(30, ge=7, description="Rows recorded in the last this-many days are compared with earlier windows of the same length.")
    lag_history_windows: int = Field(12, ge=3, description="Earlier recording windows forming the lag baseline.")
    lag_quantiles: tuple[float, ...] = Field((0.5, 0.9), description="Lag quantiles compared (recorded_at - event_date, days).")
    lag_mad_multiplier: float = Field(6.0, gt=0, description="A lag quantile alerts when above the baseline median by more than this many robust SDs (1.4826 x MAD) ...")
    lag_min_shift_days: float = Field(3.0, ge=0, description="... and by at least this many days.")
    new_code_days: int = Field(90, ge=7, description="A code in no code list is new when first recorded within this many days before the monitoring date.")
    new_code_min_rows: int = Field(5, ge=1, description="New unmapped codes with fewer rows are not reported.")
    psi_bins: int = Field(10, ge=2, description="Quantile bins of the reference distribution for PSI of numeric features and scores.")
    psi_threshold: float = Field(0.25, gt=0, description="PSI at or above this is a shift worth an alert (0.1 moderate, 0.25 major by convention).")
    psi_noise_multiplier: float = Field(5.0, ge=1, description="The PSI threshold is raised to this multiple of the sampling noise floor (bins-1)(1/n_ref + 1/n_cur) for small samples.")
    top_features: int = Field(10, ge=1, description="Most shifted features listed in the report and chart.")
    backtest_ages_months: tuple[int, ...] = Field((0, 3, 6, 12), description="Score ages (months after a publication's as_of) at which its scores are evaluated against later outcomes.")
    backtest_min_outcomes: int = Field(10, ge=1, description="A backtest's AUROC is given only with at least this many outcomes and non-outcomes among the people judged (people the scoring model never saw).")
    calibration_ratio_tolerance: float = Field(0.25, gt=0, description="Observed/predicted outside [1 - t, 1 + t] is calibration drift ...")
    calibration_z: float = Field(4.0, gt=0, description="... when also this many binomial SDs from the prediction.")
    refresh_days: int = Field(35, ge=1, description="A publication whose data are older than this many days is stale (warning).")
    threads: int = Field(2, ge=1, description="DuckDB threads for the volume and lag aggregations.")

    @model_validator(mode="after")
    def _check(self) -> "MonitorConfig":
        if self.min_history_months > self.history_months:
            raise ValueError(
                f"min_history_months must be <= history_months; got {self.min_history_months} > {self.history_months}. Lower one."
            )
        if not all(0 < q < 1 for q in self.lag_quantiles) or not self.lag_quantiles:
            raise ValueError(f"lag_quantiles must be probabilities in (0, 1); got {self.lag_quantiles}. Use e.g. [0.5, 0.9].")
        if any(a < 0 for a in self.backtest_ages_months):
            raise ValueError(f"backtest_ages_months must be >= 0; got {self.backtest_ages_months}. Use e.g. [0, 3, 6, 12].")
        return self
