"""Feature configuration: lookback windows, outcome window and thresholds, cohort exclusions, optional predictors."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, field_validator, model_validator

from features.codelists import STATUSES
from features.contract import SETTINGS
from features.errors import ConfigError, FeatureConfigError
from features.typed_config import TypedConfig

__all__ = ["FeatureConfig", "OUTCOMES", "EXCLUSIONS"]

#: Outcome labels the builder can produce (column ``label_<outcome>``).
OUTCOMES: tuple[str, ...] = ("high_intensity_use", "emergency_admission")
#: Cohort exclusion reasons at T: the care-status categories plus being a high intensity user already.
EXCLUSIONS: tuple[str, ...] = (*STATUSES, "already_hiu")

#: A whole number of at least 1 (booleans refused).
Positive = Annotated[int, Field(strict=True, ge=1)]

class FeatureConfig(TypedConfig):
    """How predictors, cohort and labels are computed as of a date T.

    Every window is in calendar months counted back (lookback) or forward (outcome) from T; a
    window ``(a, b)`` covers ``[T - b months, T - a months)``. All fields have defaults, so
    ``FeatureConfig()`` is the product's standard definition; ``load`` maps the ``[features]``
    table of an experiment TOML onto it and ``to_dict`` round-trips for MLflow.
    """

    error: ClassVar[type[ConfigError]] = FeatureConfigError
    where: ClassVar[str] = "[features]"

    windows: tuple[tuple[int, int], ...] = Field(
        ((0, 3), (3, 6), (6, 12), (12, 24)),
        description="Lookback count windows [start, end] in months before T, covering [T - end, T - start); "
        "one count predictor per care setting each.",
    )
    trend_settings: tuple[str, ...] = Field(
        ("ed", "emergency_admission", "ambulance", "nhs111"),
        description="Care settings with a trend predictor: count in the last trend_months minus the count in the trend_months before.",
    )
    trend_months: Positive = Field(6, description="Length in months of each half of a trend predictor.")
    recency_settings: tuple[str, ...] = Field(
        ("ed", "emergency_admission", "ambulance"),
        description="Care settings with a days-since-last predictor (looked back over the longest window).",
    )
    recent_months: Positive = Field(
        12, description="Window in months for settings_used_12m and cost_12m (the names keep the default's 12m)."
    )
    outcome: str = Field(
        "high_intensity_use",
        description="The label a model is trained on (label_<outcome>): high_intensity_use or emergency_admission; "
        "every outcome's label is built when labels are asked for.",
    )
    outcome_window: tuple[int, int] = Field(
        (6, 18), description="Outcome window [start, end] in months after T, covering [T + start, T + end)."
    )
    hiu_ed: Positive = Field(5, description="High intensity use: at least this many A&E attendances in the outcome window.")
    hiu_emergency_admission: Positive = Field(
        2, description="High intensity use: or at least this many emergency admissions in the outcome window."
    )
    hiu_ambulance_111: Positive = Field(
        10, description="High intensity use: or at least this many ambulance plus NHS 111 contacts in the outcome window."
    )
    emergency_admission_min: Positive = Field(
        1, description="label_emergency_admission: at least this many emergency admissions in the outcome window."
    )
    exclusions: tuple[str, ...] = Field(
        EXCLUSIONS,
        description="Cohort exclusion reasons applied: end_of_life, nursing_home, integrated_care_pathway, "
        "already_hiu (empty list = none).",
    )
    already_hiu_ed: Positive = Field(
        5, description="already_hiu exclusion: at least this many A&E attendances in the already_hiu_months before T."
    )
    already_hiu_months: Positive = Field(12, description="already_hiu exclusion: months before T looked at.")
    min_age: int | None = Field(None, description="Youngest age at T kept in the cohort (inclusive); unset = no limit.")
    max_age: int | None = Field(None, description="Oldest age at T kept in the cohort (inclusive); unset = no limit.")
    use_ethnicity: bool = Field(
        False, description="Add ethnic-group flags to the predictors (off: carried for audit and lists only)."
    )
    use_neighbourhood: bool = Field(
        False, description="Add the neighbourhood, as a category, to the predictors (off: carried for lists only)."
    )
    data_end: date | None = Field(
        None, description="Last date the data cover, for label follow-up; unset = the extract date (latest event date)."
    )
    threads: Positive = Field(2, description="DuckDB threads.")
    memory_limit: str | None = Field(None, description='DuckDB memory limit, e.g. "4GB"; unset = DuckDB\'s default.')
    rows_per_scan: Positive = Field(
        2_000_000,
        description="Index dates are grouped so one scan of the events builds at most this many rows; "
        "bounds memory on large populations and never changes the result.",
    )
    codelists: str | None = Field(
        None, description="Folder of code-list CSVs; unset = the lists shipped with the package."
    )

    @field_validator("windows")
    @classmethod
    def _windows_ordered(cls, windows: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        if not windows:
            raise ValueError("windows must hold at least one (start, end) pair; got none. Use e.g. [[0, 3]].")
        for a, b in windows:
            if not 0 <= a < b:
                raise ValueError(f"windows must be (start, end) months with 0 <= start < end; got {(a, b)}. Fix the pair.")
        return windows

    @field_validator("outcome_window")
    @classmethod
    def _outcome_window_ordered(cls, window: tuple[int, int]) -> tuple[int, int]:
        start, end = window
        if not 0 <= start < end:
            raise ValueError(
                f"outcome_window must be (start, end) months with 0 <= start < end; got {window}. Use e.g. [6, 18]."
            )
        return window

    @field_validator("trend_settings", "recency_settings")
    @classmethod
    def _known_settings(cls, settings: tuple[str, ...], info: object) -> tuple[str, ...]:
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            name = getattr(info, "field_name", "settings")
            raise ValueError(f"{name} must name settings from {list(SETTINGS)}; got {unknown}. Fix the names.")
        return settings

    @field_validator("outcome")
    @classmethod
    def _known_outcome(cls, outcome: str) -> str:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {list(OUTCOMES)}; got {outcome!r}. Fix it in [features].")
        return outcome

    @field_validator("exclusions")
    @classmethod
    def _known_exclusions(cls, exclusions: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(exclusions) - set(EXCLUSIONS))
        if unknown:
            raise ValueError(f"exclusions must be drawn from {list(EXCLUSIONS)}; got {unknown}. Fix the names.")
        return exclusions

    @model_validator(mode="after")
    def _ages_ordered(self) -> "FeatureConfig":
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"min_age must be <= max_age; got {self.min_age} > {self.max_age}. Swap or remove one limit.")
        return self

    @property
    def label_column(self) -> str:
        """Name of the training target column, ``label_<outcome>``."""
        return f"label_{self.outcome}"

    @property
    def codelists_dir(self) -> Path | None:
        """The code-list folder as a path (``None`` = the lists shipped with the package)."""
        return Path(self.codelists) if self.codelists else None

    @property
    def lookback_months(self) -> int:
        """Longest lookback any predictor uses (months before T)."""
        return max(
            max(b for _, b in self.windows), 2 * self.trend_months, self.recent_months, self.already_hiu_months
        )
