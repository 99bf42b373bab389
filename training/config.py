"""Experiment configuration: outcome, out-of-time split, hyperparameters, capacity, equity and promotion gates."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from training.errors import ConfigError

__all__ = [
    "OUTCOMES",
    "SplitConfig",
    "ModelConfig",
    "BaselineConfig",
    "CalibrationConfig",
    "EvaluationConfig",
    "EquityConfig",
    "PromotionConfig",
    "TrainConfig",
    "load_config",
]

#: outcome name -> label column written by ``features.build.build_features(labels=True)``.
OUTCOMES: dict[str, str] = {
    "high_intensity_use": "label_high_intensity_use",
    "emergency_admission": "label_emergency_admission",
}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class SplitConfig:
    """Out-of-time split: which index dates train and validate, and how people are sliced.

    Empty ``train_dates`` / ``valid_dates`` are derived from the data: validation takes the last
    ``n_valid_dates`` dates (``step_months`` apart) whose outcome window is fully observed; training
    takes up to ``n_train_dates`` dates (``train_step_months`` apart) before the first validation
    date that still have ``min_history_months`` of history (default: the features' longest lookback).
    """

    train_dates: tuple[date, ...] = ()
    valid_dates: tuple[date, ...] = ()
    n_valid_dates: int = 2
    n_train_dates: int = 4
    step_months: int = 3
    train_step_months: int = 3
    min_history_months: int | None = None
    early_stopping_fraction: float = 0.2
    calibration_fraction: float = 0.4
    seed: int = 7

    def __post_init__(self) -> None:
        _check(self.n_valid_dates >= 1, f"split.n_valid_dates must be >= 1; got {self.n_valid_dates}. Set it to 2.")
        _check(self.n_train_dates >= 1, f"split.n_train_dates must be >= 1; got {self.n_train_dates}. Set it to 4.")
        for name in ("step_months", "train_step_months"):
            value = getattr(self, name)
            _check(value >= 1, f"split.{name} must be >= 1 month; got {value}. Set it to 3.")
        _check(
            self.min_history_months is None or self.min_history_months >= 0,
            f"split.min_history_months must be >= 0 (or omitted: the features' longest lookback); got {self.min_history_months}.",
        )
        for name in ("early_stopping_fraction", "calibration_fraction"):
            value = getattr(self, name)
            _check(0.0 < value < 1.0, f"split.{name} must be strictly between 0 and 1; got {value}.")
        if self.train_dates and self.valid_dates:
            _check(
                max(self.train_dates) < min(self.valid_dates),
                f"split.train_dates must all be earlier than split.valid_dates; got latest training date "
                f"{max(self.train_dates)} and earliest validation date {min(self.valid_dates)}. Move the dates apart.",
            )


@dataclass(frozen=True)
class ModelConfig:
    """LightGBM hyperparameters (passed to ``models.risk_model.RiskModel``)."""

    n_estimators: int = 2000
    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = -1
    min_child_samples: int = 100
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 100
    random_state: int = 7
    n_jobs: int = 2

    def __post_init__(self) -> None:
        _check(self.n_estimators >= 1, f"model.n_estimators must be >= 1; got {self.n_estimators}.")
        _check(self.learning_rate > 0, f"model.learning_rate must be > 0; got {self.learning_rate}.")


@dataclass(frozen=True)
class BaselineConfig:
    """The logistic-regression baseline's settings (the two rule baselines have none)."""

    logistic_c: float = 1.0
    logistic_max_iter: int = 300
    logistic_max_rows: int = 400_000

    def __post_init__(self) -> None:
        _check(self.logistic_c > 0, f"baselines.logistic_c must be > 0; got {self.logistic_c}.")
        _check(self.logistic_max_rows >= 1000, f"baselines.logistic_max_rows must be >= 1000; got {self.logistic_max_rows}.")


@dataclass(frozen=True)
class CalibrationConfig:
    """Calibration methods compared by grouped cross-validation on the calibration slice."""

    methods: tuple[str, ...] = ("isotonic", "platt")
    folds: int = 5

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - {"isotonic", "platt"})
        _check(not unknown and bool(self.methods), f"calibration.methods must be a non-empty subset of ['isotonic', 'platt']; got {list(self.methods)}.")
        _check(self.folds >= 2, f"calibration.folds must be >= 2; got {self.folds}.")


@dataclass(frozen=True)
class EvaluationConfig:
    """Out-of-time evaluation: capacity, extra list sizes, bootstrap, calibration bins, truth oracle."""

    capacity_per_1000: float = 6.0
    top_fractions: tuple[float, ...] = (0.01, 0.05)
    n_bootstrap: int = 200
    ci_level: float = 0.95
    ece_bins: int = 10
    seed: int = 7
    use_truth: bool = True
    shap_sample: int = 5000

    def __post_init__(self) -> None:
        _check(0 < self.capacity_per_1000 < 1000, f"evaluation.capacity_per_1000 must be in (0, 1000); got {self.capacity_per_1000}.")
        _check(all(0 < f < 1 for f in self.top_fractions), f"evaluation.top_fractions must lie in (0, 1); got {list(self.top_fractions)}.")
        _check(self.n_bootstrap >= 10, f"evaluation.n_bootstrap must be >= 10; got {self.n_bootstrap}.")
        _check(0.5 < self.ci_level < 1, f"evaluation.ci_level must be in (0.5, 1); got {self.ci_level}.")
        _check(self.ece_bins >= 2, f"evaluation.ece_bins must be >= 2; got {self.ece_bins}.")


@dataclass(frozen=True)
class EquityConfig:
    """Subgroups audited and the gates a model must pass (groups below the size floors are reported only)."""

    attributes: tuple[str, ...] = ("imd_quintile", "sex", "age_band", "ethnic_group", "neighbourhood")
    intersections: tuple[tuple[str, ...], ...] = (("imd_quintile", "age_band"),)
    min_group_size: int = 1000
    min_group_positives: int = 25
    min_group_auroc: float = 0.65
    max_abs_calibration_in_the_large: float = 0.02

    def __post_init__(self) -> None:
        _check(bool(self.attributes), "equity.attributes must name at least one column; got none.")
        _check(0.5 <= self.min_group_auroc < 1, f"equity.min_group_auroc must be in [0.5, 1); got {self.min_group_auroc}.")
        _check(self.max_abs_calibration_in_the_large > 0, f"equity.max_abs_calibration_in_the_large must be > 0; got {self.max_abs_calibration_in_the_large}.")


@dataclass(frozen=True)
class PromotionConfig:
    """How much worse than the champion a challenger may be (noise allowance) and the calibration slope range."""

    auroc_tolerance: float = 0.005
    ece_tolerance: float = 0.002
    slope_range: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        _check(len(self.slope_range) == 2 and self.slope_range[0] < 1 < self.slope_range[1], f"promotion.slope_range must be [low, high] around 1; got {list(self.slope_range)}.")
        _check(self.auroc_tolerance >= 0 and self.ece_tolerance >= 0, "promotion tolerances must be >= 0; got a negative value.")


@dataclass(frozen=True)
class TrainConfig:
    """One experiment: everything ``risingrisk train`` needs besides the data directory."""

    name: str = "default"
    description: str = ""
    outcome: str = "high_intensity_use"
    features: dict[str, Any] = field(default_factory=dict)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    equity: EquityConfig = field(default_factory=EquityConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)

    def __post_init__(self) -> None:
        _check(self.outcome in OUTCOMES, f"outcome must be one of {list(OUTCOMES)}; got {self.outcome!r}.")

    @property
    def label_column(self) -> str:
        """The feature table's label column for this outcome."""
        return OUTCOMES[self.outcome]

    def feature_config(self) -> Any:
        """The ``features.config.FeatureConfig`` built from the ``[features]`` table, with this experiment's outcome."""
        from features.config import FeatureConfig

        given = self.features.get("outcome", self.outcome)
        _check(
            given == self.outcome,
            f"[features] outcome must match the top-level outcome {self.outcome!r}; got {given!r}. Remove it from [features].",
        )
        return FeatureConfig.from_dict({**self.features, "outcome": self.outcome})

    def to_dict(self) -> dict[str, Any]:
        """Plain, TOML/JSON-friendly dict (dates as ISO strings)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a parsed TOML table; unknown keys raise ``ConfigError``."""
        return _build(cls, data, "")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _coerce(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is types.UnionType:
        return _coerce(next(a for a in typing.get_args(kind) if a is not type(None)), value, where)
    if dataclasses.is_dataclass(kind):
        _check(isinstance(value, dict), f"{where} must be a table; got {type(value).__name__}.")
        return _build(kind, value, f"{where}.")
    if origin is tuple:
        args = typing.get_args(kind)
        _check(isinstance(value, (list, tuple)), f"{where} must be a list; got {value!r}.")
        if args[-1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        _check(len(value) == len(args), f"{where} must be a list of {len(args)}; got {value!r}.")
        return tuple(_coerce(t, v, where) for t, v in zip(args, value))
    if kind is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{where} must hold ISO dates (YYYY-MM-DD); got {value!r}.") from None
    if kind is float:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), f"{where} must be a number; got {value!r}.")
        return float(value)
    if kind is int:
        _check(isinstance(value, int) and not isinstance(value, bool), f"{where} must be an integer; got {value!r}.")
        return value
    if kind is bool:
        _check(isinstance(value, bool), f"{where} must be true or false; got {value!r}.")
        return value
    if kind is str:
        _check(isinstance(value, str), f"{where} must be a string; got {value!r}.")
        return value
    return value


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    _check(not unknown, f"keys of [{prefix.rstrip('.') or 'top level'}] must be among {sorted(names)}; got unknown {unknown}. Fix the spelling or remove them.")
    kwargs = {}
    for key, value in data.items():
        kind = hints[key]
        if typing.get_origin(kind) is dict:
            _check(isinstance(value, dict), f"{prefix}{key} must be a table; got {value!r}.")
            kwargs[key] = dict(value)
        else:
            kwargs[key] = _coerce(kind, value, prefix + key)
    return cls(**kwargs)


def load_config(path: Path | str | None = None) -> TrainConfig:
    """Read an experiment TOML file (``None`` gives the defaults)."""
    if path is None:
        return TrainConfig()
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"experiment config must exist; got missing file {path}. Pass --config experiments/default.toml.")
    with path.open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"experiment config {path} must be valid TOML; got {exc}.") from None
    return TrainConfig.from_dict(data)
