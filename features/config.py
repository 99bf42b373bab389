"""Feature configuration: lookback windows, outcome window and thresholds, cohort exclusions, optional predictors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from features.codelists import STATUSES
from features.contract import SETTINGS
from features.errors import FeatureConfigError

__all__ = ["FeatureConfig", "OUTCOMES", "EXCLUSIONS"]

#: Outcome labels the builder can produce (column ``label_<outcome>``).
OUTCOMES: tuple[str, ...] = ("high_intensity_use", "emergency_admission")
#: Cohort exclusion reasons at T: the care-status categories plus being a high intensity user already.
EXCLUSIONS: tuple[str, ...] = (*STATUSES, "already_hiu")


@dataclass(frozen=True)
class FeatureConfig:
    """How predictors, cohort and labels are computed as of a date T.

    Every window is in calendar months counted back (lookback) or forward (outcome) from T; a
    window ``(a, b)`` covers ``[T - b months, T - a months)``. All fields have defaults, so
    ``FeatureConfig()`` is the product's standard definition; ``from_dict`` maps the ``[features]``
    table of an experiment TOML onto it and ``to_dict`` round-trips for MLflow.

    Attributes
    ----------
    windows
        Lookback count windows ``(start_months, end_months)``, one predictor per setting each.
    trend_settings, trend_months
        Settings with a trend predictor: count in the last ``trend_months`` minus the count in the
        ``trend_months`` before.
    recency_settings
        Settings with a days-since-last predictor (looked back over the longest window).
    recent_months
        Window for ``settings_used_12m`` and ``cost_12m`` (names keep the default's ``12m``).
    outcome
        The label a model is trained on (``label_<outcome>``), from :data:`OUTCOMES`; every
        outcome's label is built when labels are asked for.
    outcome_window
        Outcome window ``(start_months, end_months)`` after T: ``[T + start, T + end)``.
    hiu_ed, hiu_emergency_admission, hiu_ambulance_111
        High intensity use in the outcome window: at least this many ED attendances, or emergency
        admissions, or ambulance plus NHS 111 contacts.
    emergency_admission_min
        ``label_emergency_admission``: at least this many emergency admissions in the window.
    exclusions
        Cohort exclusion reasons applied, from :data:`EXCLUSIONS` (empty tuple = none).
    already_hiu_ed, already_hiu_months
        ``already_hiu`` exclusion: at least ``already_hiu_ed`` ED attendances in the
        ``already_hiu_months`` before T.
    min_age, max_age
        Optional cohort age limits at T (inclusive); ``None`` = all ages.
    use_ethnicity, use_neighbourhood
        Add ethnic-group flags / the neighbourhood (as a category) to the predictors. Off by
        default: both are carried for audit and lists only.
    data_end
        Last date the data cover, for label follow-up; ``None`` = the extract date (latest event date).
    threads, memory_limit
        DuckDB threads and memory limit (e.g. ``"4GB"``; ``None`` = DuckDB's default).
    rows_per_scan
        Index dates are grouped so one scan of the events builds at most this many rows; bounds
        memory on large populations and never changes the result.
    codelists
        Folder of code-list CSVs (see :func:`features.codelists.load_codelists`); ``None`` = the
        lists shipped with the package.
    """

    windows: tuple[tuple[int, int], ...] = ((0, 3), (3, 6), (6, 12), (12, 24))
    trend_settings: tuple[str, ...] = ("ed", "emergency_admission", "ambulance", "nhs111")
    trend_months: int = 6
    recency_settings: tuple[str, ...] = ("ed", "emergency_admission", "ambulance")
    recent_months: int = 12
    outcome: str = "high_intensity_use"
    outcome_window: tuple[int, int] = (6, 18)
    hiu_ed: int = 5
    hiu_emergency_admission: int = 2
    hiu_ambulance_111: int = 10
    emergency_admission_min: int = 1
    exclusions: tuple[str, ...] = EXCLUSIONS
    already_hiu_ed: int = 5
    already_hiu_months: int = 12
    min_age: int | None = None
    max_age: int | None = None
    use_ethnicity: bool = False
    use_neighbourhood: bool = False
    data_end: date | None = None
    threads: int = 2
    memory_limit: str | None = None
    rows_per_scan: int = 2_000_000
    codelists: str | None = None

    def __post_init__(self) -> None:
        windows = tuple((int(a), int(b)) for a, b in self.windows)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "outcome_window", tuple(int(x) for x in self.outcome_window))
        for name in ("trend_settings", "recency_settings", "exclusions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.data_end, str):
            object.__setattr__(self, "data_end", date.fromisoformat(self.data_end))
        if not windows:
            raise FeatureConfigError("windows must hold at least one (start, end) pair; got none. Use e.g. [[0, 3]].")
        for a, b in windows:
            if not 0 <= a < b:
                raise FeatureConfigError(
                    f"windows must be (start, end) months with 0 <= start < end; got {(a, b)}. Fix the pair."
                )
        start, end = self.outcome_window
        if len(self.outcome_window) != 2 or not 0 <= start < end:
            raise FeatureConfigError(
                f"outcome_window must be (start, end) months with 0 <= start < end; got {self.outcome_window}. "
                "Use e.g. [6, 18]."
            )
        for name in ("trend_settings", "recency_settings"):
            unknown = sorted(set(getattr(self, name)) - set(SETTINGS))
            if unknown:
                raise FeatureConfigError(f"{name} must name settings from {list(SETTINGS)}; got {unknown}. Fix the names.")
        if self.outcome not in OUTCOMES:
            raise FeatureConfigError(f"outcome must be one of {list(OUTCOMES)}; got {self.outcome!r}. Fix it in [features].")
        unknown = sorted(set(self.exclusions) - set(EXCLUSIONS))
        if unknown:
            raise FeatureConfigError(f"exclusions must be drawn from {list(EXCLUSIONS)}; got {unknown}. Fix the names.")
        for name in (
            "trend_months", "recent_months", "hiu_ed", "hiu_emergency_admission", "hiu_ambulance_111",
            "emergency_admission_min", "already_hiu_ed", "already_hiu_months", "threads", "rows_per_scan",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FeatureConfigError(f"{name} must be a whole number >= 1; got {value!r}. Fix it in [features].")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise FeatureConfigError(
                f"min_age must be <= max_age; got {self.min_age} > {self.max_age}. Swap or remove one limit."
            )

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

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> "FeatureConfig":
        """Build a config from a plain mapping (e.g. an experiment TOML's ``[features]`` table).

        Raises
        ------
        FeatureConfigError
            If a key is not a field of the config, or a value is out of range.
        """
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FeatureConfigError(
                f"[features] keys must be among {sorted(known)}; got {unknown}. Remove or rename them."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON/TOML-friendly mapping (``None`` fields left out) that ``from_dict`` turns back into an equal config."""
        out = asdict(self)
        out["windows"] = [list(w) for w in self.windows]
        out["outcome_window"] = list(self.outcome_window)
        for name in ("trend_settings", "recency_settings", "exclusions"):
            out[name] = list(out[name])
        out["data_end"] = self.data_end.isoformat() if self.data_end is not None else None
        return {k: v for k, v in out.items() if v is not None}
