"""Experiment configuration: outcome, out-of-time split, hyperparameters, capacity, equity and promotion gates (pydantic)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator

from features.config import FeatureConfig
from features.engines.spark_session import SparkSettings
from features.errors import ConfigError as BaseConfigError
from features.typed_config import TypedConfig, read_toml
from models.config import DEFAULT_CAPACITY_PER_1000, LightGBMConfig
from training.errors import ConfigError
from training.feedback import FeedbackConfig
from training.impact.config import ImpactConfig
from training.list_policy import ListsConfig

__all__ = [
    "PACKAGED_EXPERIMENT",
    "OUTCOMES",
    "CALIBRATION_METHODS",
    "SplitConfig",
    "BaselineConfig",
    "CalibrationConfig",
    "EvaluationConfig",
    "EquityConfig",
    "PromotionConfig",
    "ExperimentConfig",
    "load_config",
]

#: The default experiment shipped inside the package (``experiments/default.toml`` is its editable copy in the
#: repository; a test keeps the two identical), so ``risingrisk train`` without ``--config`` works from any folder.
PACKAGED_EXPERIMENT = Path(__file__).with_name("default_experiment.toml")

#: outcome name -> label column written by ``features.build.build_features(labels=True)``.
OUTCOMES: dict[str, str] = {
    "high_intensity_use": "label_high_intensity_use",
    "emergency_admission": "label_emergency_admission",
}
#: Calibration maps ``[calibration] methods`` may name: all stay strictly inside (0, 1) (plain
#: isotonic regression is not offered: its top step reads 100%; see models.risk_model.LogOddsCalibrator).
CALIBRATION_METHODS: tuple[str, ...] = ("smoothed_isotonic", "beta", "platt")


def _require(checks: tuple[tuple[bool, str], ...]) -> None:
    """Raise the first failed check's message (pydantic turns it into one line of the ``ConfigError``)."""
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


class _Table(TypedConfig):
    """A table of the experiment TOML whose ``load`` raises :class:`training.errors.ConfigError` (a training and a features error)."""

    @classmethod
    def load(cls, values: Mapping[str, Any] | None, *, where: str = "") -> Self:
        """Validate a parsed TOML table; every problem is one line of a :class:`training.errors.ConfigError`."""
        try:
            return super().load(values, where=where)
        except BaseConfigError as exc:
            raise ConfigError(str(exc)) from None


class SplitConfig(_Table):
    """Out-of-time split: which index dates train and validate, and how people are sliced.

    Empty ``train_dates`` / ``valid_dates`` are derived from the data: validation takes the last
    ``n_valid_dates`` dates (``step_months`` apart) whose outcome window is fully observed; training
    takes up to ``n_train_dates`` dates (``train_step_months`` apart) before the first validation
    date that still have ``min_history_months`` of history (default: the features' longest lookback).
    """

    train_dates: tuple[date, ...] = Field((), description="Training index dates (ISO); empty = derived from the data.")
    valid_dates: tuple[date, ...] = Field((), description="Validation index dates (ISO); empty = derived from the data.")
    n_valid_dates: int = Field(2, description="Derived validation dates: the latest this many with a complete outcome window.")
    n_train_dates: int = Field(4, description="Derived training dates: up to this many before the first validation date.")
    step_months: int = Field(3, description="Months between derived validation dates.")
    train_step_months: int = Field(
        1, description="Months between derived training dates (4 years of data leave one quarterly date with 24 months of history; monthly gives 3)."
    )
    min_history_months: int | None = Field(
        None,
        description="History a training date needs after the first event; omitted = the features' longest lookback. Below it, "
        "counts over months before the first event are set missing (unobserved, not zero) at that date.",
    )
    validation_fraction: float = Field(
        0.4,
        description="Share of people kept for calibration and evaluation (their rows at validation dates); the others train "
        "(their rows at training dates). Each person is on one side only, so no outcome is seen by both.",
    )
    early_stopping_fraction: float = Field(0.2, description="Share of the training people held out for early stopping.")
    calibration_fraction: float = Field(0.4, description="Share of the validation people held out for calibration; the rest are evaluated.")
    seed: int = Field(7, description="Seed of the person-grouped slices, the logistic baseline's subsample and the calibration folds.")

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _require((
            (self.n_valid_dates >= 1, f"split.n_valid_dates must be >= 1; got {self.n_valid_dates}. Set it to 2."),
            (self.n_train_dates >= 1, f"split.n_train_dates must be >= 1; got {self.n_train_dates}. Set it to 4."),
            (self.step_months >= 1, f"split.step_months must be >= 1 month; got {self.step_months}. Set it to 3."),
            (self.train_step_months >= 1, f"split.train_step_months must be >= 1 month; got {self.train_step_months}. Set it to 1."),
            (
                self.min_history_months is None or self.min_history_months >= 0,
                f"split.min_history_months must be >= 0 (or omitted: the features' longest lookback); got {self.min_history_months}. Remove it.",
            ),
            (
                0.0 < self.validation_fraction < 1.0,
                f"split.validation_fraction must be strictly between 0 and 1; got {self.validation_fraction}. Use e.g. 0.4.",
            ),
            (
                0.0 < self.early_stopping_fraction < 1.0,
                f"split.early_stopping_fraction must be strictly between 0 and 1; got {self.early_stopping_fraction}. Use e.g. 0.2.",
            ),
            (
                0.0 < self.calibration_fraction < 1.0,
                f"split.calibration_fraction must be strictly between 0 and 1; got {self.calibration_fraction}. Use e.g. 0.4.",
            ),
            (
                not (self.train_dates and self.valid_dates) or max(self.train_dates) < min(self.valid_dates),
                f"split.train_dates must all be earlier than split.valid_dates; got latest training date "
                f"{max(self.train_dates, default=None)} and earliest validation date {min(self.valid_dates, default=None)}. Move the dates apart.",
            ),
        ))
        return self


class BaselineConfig(_Table):
    """The logistic-regression baseline's settings (the two rule baselines have none)."""

    logistic_c: float = Field(1.0, description="Inverse L2 regularisation strength of the logistic regression.")
    logistic_max_iter: int = Field(300, description="Solver iterations of the logistic regression.")
    logistic_max_rows: int = Field(400_000, description="Training rows the logistic regression is fitted on at most (a seeded subsample beyond).")

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _require((
            (self.logistic_c > 0, f"baselines.logistic_c must be > 0; got {self.logistic_c}. Use e.g. 1.0."),
            (self.logistic_max_iter >= 1, f"baselines.logistic_max_iter must be >= 1; got {self.logistic_max_iter}. Use e.g. 300."),
            (self.logistic_max_rows >= 1000, f"baselines.logistic_max_rows must be >= 1000; got {self.logistic_max_rows}. Use e.g. 400000."),
        ))
        return self


class CalibrationConfig(_Table):
    """Calibration methods compared by person-grouped cross-validation on the calibration slice."""

    methods: tuple[str, ...] = Field(
        CALIBRATION_METHODS, description="Candidate maps from the booster's log-odds: 'smoothed_isotonic', 'beta' and/or 'platt'."
    )
    folds: int = Field(5, description="Person-grouped cross-validation folds used to choose the method.")
    prior_rows: float | None = Field(
        None,
        description="'smoothed_isotonic': pseudo-rows of the Platt fit added to each isotonic block; omitted = sqrt(rows in the calibration slice).",
    )

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        unknown = sorted(set(self.methods) - set(CALIBRATION_METHODS))
        _require((
            (
                not unknown and bool(self.methods),
                f"calibration.methods must be a non-empty subset of {list(CALIBRATION_METHODS)}; got {list(self.methods)}. Fix the names.",
            ),
            (self.folds >= 2, f"calibration.folds must be >= 2; got {self.folds}. Use e.g. 5."),
            (
                self.prior_rows is None or self.prior_rows > 0,
                f"calibration.prior_rows must be > 0 or omitted; got {self.prior_rows}. Remove it to use sqrt(rows).",
            ),
        ))
        return self


class EvaluationConfig(_Table):
    """Out-of-time evaluation: capacity, extra list sizes, bootstrap, calibration bins, truth oracle."""

    capacity_per_1000: float = Field(
        DEFAULT_CAPACITY_PER_1000, description="List capacity: people listed per 1,000 registered (Tier 2: 6 per 1,000)."
    )
    top_fractions: tuple[float, ...] = Field((0.01, 0.05), description="Extra list sizes (shares of the cohort) reported besides capacity.")
    n_bootstrap: int = Field(200, description="Person-grouped bootstrap resamples for the 95% intervals.")
    ci_level: float = Field(0.95, description="Confidence level of the bootstrap intervals.")
    ece_bins: int = Field(10, description="Quantile bins of the expected calibration error and the calibration plot.")
    seed: int = Field(7, description="Seed of the bootstrap, tie-breaking at capacity and the SHAP sample.")
    use_truth: bool = Field(
        True, description="Simulated data only: compare with the simulator's oracle (DIR/_truth), in the evaluation step only."
    )
    shap_sample: int = Field(5000, description="Evaluation rows sampled for the global TreeSHAP importance.")
    compare_unconstrained: bool = Field(
        True, description="With [model] monotone on, also fit the same model without the constraints and report both side by side."
    )
    drift_reference_rows: int = Field(
        20_000, description="Training rows sampled (seeded) and logged with the model as the reference monitoring measures drift against."
    )

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _require((
            (0 < self.capacity_per_1000 < 1000, f"evaluation.capacity_per_1000 must be in (0, 1000); got {self.capacity_per_1000}. Use e.g. 6."),
            (
                all(0 < f < 1 for f in self.top_fractions),
                f"evaluation.top_fractions must lie in (0, 1); got {list(self.top_fractions)}. Use shares such as 0.01.",
            ),
            (self.n_bootstrap >= 10, f"evaluation.n_bootstrap must be >= 10; got {self.n_bootstrap}. Use e.g. 200."),
            (0.5 < self.ci_level < 1, f"evaluation.ci_level must be in (0.5, 1); got {self.ci_level}. Use e.g. 0.95."),
            (self.ece_bins >= 2, f"evaluation.ece_bins must be >= 2; got {self.ece_bins}. Use e.g. 10."),
            (self.shap_sample >= 1, f"evaluation.shap_sample must be >= 1; got {self.shap_sample}. Use e.g. 5000."),
            (
                self.drift_reference_rows >= 100,
                f"evaluation.drift_reference_rows must be >= 100; got {self.drift_reference_rows}. Use e.g. 20000.",
            ),
        ))
        return self


class EquityConfig(_Table):
    """Subgroups audited and the gates a model must pass (groups below the size floors are reported only)."""

    attributes: tuple[str, ...] = Field(
        ("imd_quintile", "sex", "age_band", "ethnic_group", "neighbourhood"), description="Feature-table columns whose groups are audited."
    )
    intersections: tuple[tuple[str, ...], ...] = Field(
        (("imd_quintile", "age_band"),), description="Combinations of attributes audited together."
    )
    min_group_size: int = Field(1000, description="Groups with fewer rows are reported but not gated.")
    min_group_positives: int = Field(25, description="Groups with fewer outcomes are reported but not gated.")
    min_group_auroc: float = Field(0.65, description="Gate: every gated group's AUROC must reach this.")
    max_abs_calibration_in_the_large: float = Field(
        0.02, description="Gate: every gated group's |mean predicted - observed rate| must stay within this."
    )
    gate_level: float = Field(
        0.95,
        description="A group fails a gate only when its whole interval at this level (estimate +/- z standard errors from a "
        "person-level bootstrap, [evaluation] n_bootstrap and seed) lies beyond the threshold, so a small group's noise does not "
        "refuse a model; 0 = gate on the point estimates.",
    )

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _require((
            (bool(self.attributes), "equity.attributes must name at least one column; got none. Use e.g. [\"imd_quintile\", \"sex\"]."),
            (0.5 <= self.min_group_auroc < 1, f"equity.min_group_auroc must be in [0.5, 1); got {self.min_group_auroc}. Use e.g. 0.65."),
            (
                self.max_abs_calibration_in_the_large > 0,
                f"equity.max_abs_calibration_in_the_large must be > 0; got {self.max_abs_calibration_in_the_large}. Use e.g. 0.02.",
            ),
            (0 <= self.gate_level < 1, f"equity.gate_level must be in [0, 1); got {self.gate_level}. Use e.g. 0.95."),
        ))
        return self


class PromotionConfig(_Table):
    """How much worse than the champion a challenger may be (noise allowance) and the calibration slope range."""

    auroc_tolerance: float = Field(0.005, description="The challenger may be this much below the champion's AUROC (bootstrap noise).")
    ece_tolerance: float = Field(0.002, description="The challenger's ECE may be this much above the champion's.")
    slope_range: tuple[float, float] = Field((0.9, 1.1), description="The challenger's calibration slope must reach [low, high]: refused when its whole bootstrap interval lies outside (the point estimate when no interval is recorded).")
    listed_tolerance: float = Field(
        0.02,
        description="Among the listed (capacity): the challenger's |observed - mean predicted| may be this much above the champion's.",
    )
    min_compared_outcomes: int = Field(
        100,
        description="The champion is compared head to head only on the challenger's evaluation rows of people neither model was trained "
        "on; with fewer than this many outcomes (or non-outcomes) among them the comparison is refused (about 100 events is the usual "
        "minimum for a validation sample).",
    )

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        low, high = self.slope_range
        _require((
            (low < 1 < high, f"promotion.slope_range must be [low, high] around 1; got {list(self.slope_range)}. Use e.g. [0.9, 1.1]."),
            (self.auroc_tolerance >= 0, f"promotion.auroc_tolerance must be >= 0; got {self.auroc_tolerance}. Use e.g. 0.005."),
            (self.ece_tolerance >= 0, f"promotion.ece_tolerance must be >= 0; got {self.ece_tolerance}. Use e.g. 0.002."),
            (self.listed_tolerance >= 0, f"promotion.listed_tolerance must be >= 0; got {self.listed_tolerance}. Use e.g. 0.02."),
            (self.min_compared_outcomes >= 1, f"promotion.min_compared_outcomes must be >= 1; got {self.min_compared_outcomes}. Use e.g. 100."),
        ))
        return self


class ExperimentConfig(_Table):
    """One experiment: everything ``risingrisk train`` needs besides the data directory.

    ``ExperimentConfig()`` is the product's default model; ``experiments/default.toml`` is the same
    values, commented, for the PHM team to copy and edit.
    """

    name: str = Field("default", description="Experiment name (MLflow run name prefix and model card).")
    description: str = Field(
        "LightGBM on the standard predictors; HIU 6-18 months ahead; out-of-time validation on the latest labelled dates.",
        description="What this experiment tries, in a sentence.",
    )
    outcome: str = Field("high_intensity_use", description=f"Outcome predicted: one of {', '.join(OUTCOMES)}.")
    features: FeatureConfig = Field(
        default_factory=FeatureConfig,
        description="Predictor windows, outcome window and thresholds, cohort exclusions (features.config.FeatureConfig); its outcome is the experiment's.",
    )
    split: SplitConfig = Field(default_factory=SplitConfig, description="Out-of-time split: index dates and person-grouped slices.")
    model: LightGBMConfig = Field(default_factory=LightGBMConfig, description="LightGBM hyperparameters (models.config.LightGBMConfig).")
    baselines: BaselineConfig = Field(default_factory=BaselineConfig, description="The logistic-regression baseline's settings.")
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig, description="Calibration methods compared and folds.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="Capacity, list sizes, bootstrap and the truth oracle.")
    equity: EquityConfig = Field(default_factory=EquityConfig, description="Subgroups audited and the equity gates.")
    promotion: PromotionConfig = Field(default_factory=PromotionConfig, description="Tolerances of the champion comparison.")
    impact: ImpactConfig = Field(
        default_factory=ImpactConfig, description="How risingrisk impact evaluates the caseload (training.impact.config)."
    )
    feedback: FeedbackConfig = Field(
        default_factory=FeedbackConfig,
        description="Training rows whose outcome window meets a person's enrolment on the caseload (training.feedback).",
    )
    lists: ListsConfig = Field(default_factory=ListsConfig, description="List policy (training.list_policy.ListsConfig): reported for every policy, applied by scoring.")
    spark: SparkSettings = Field(
        default_factory=SparkSettings,
        description="How the Spark engine starts (features.engines.spark_session.SparkSettings), used with --engine spark; "
        "--spark-master overrides its master.",
    )

    @model_validator(mode="before")
    @classmethod
    def _features_share_the_outcome(cls, data: Any) -> Any:
        """The ``[features]`` table takes the experiment's outcome; a different one there is an error."""
        if not isinstance(data, Mapping):
            return data
        outcome = data.get("outcome", cls.model_fields["outcome"].default)
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {list(OUTCOMES)}; got {outcome!r}. Fix the top-level outcome.")
        features = data.get("features", {})
        given = features.get("outcome", outcome) if isinstance(features, Mapping) else getattr(features, "outcome", outcome)
        if given != outcome:
            raise ValueError(
                f"[features] outcome must match the top-level outcome {outcome!r}; got {given!r}. Remove it from [features]."
            )
        if isinstance(features, Mapping):
            return {**data, "features": {**features, "outcome": outcome}}
        return data

    @property
    def label_column(self) -> str:
        """The feature table's label column for this outcome."""
        return OUTCOMES[self.outcome]


def load_config(path: Path | str | None = None) -> ExperimentConfig:
    """Read an experiment TOML file; ``None`` reads the packaged default (:data:`PACKAGED_EXPERIMENT`, equal to ``ExperimentConfig()``).

    Raises
    ------
    ConfigError
        If the file is missing or malformed, a key is unknown (with a "did you mean" hint) or a value is out of range.
    """
    path = PACKAGED_EXPERIMENT if path is None else path
    try:
        table = read_toml(path)
    except BaseConfigError as exc:
        raise ConfigError(f"experiment {exc}") from None
    return ExperimentConfig.load(table, where=str(path))
