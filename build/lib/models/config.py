"""The LightGBM risk model's hyperparameters and the list capacity: one set of defaults for the model, the experiment config and serving."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from features.typed_config import TypedConfig

__all__ = ["DEFAULT_CAPACITY_PER_1000", "MONOTONE_METHODS", "LightGBMConfig"]

#: People listed per 1,000 registered (Tier 2 capacity): the experiment's ``[evaluation] capacity_per_1000``
#: default and what serving sizes neighbourhood lists with unless configured otherwise.
DEFAULT_CAPACITY_PER_1000: float = 6.0
#: LightGBM's monotone constraint methods, strictest first.
MONOTONE_METHODS: tuple[str, ...] = ("basic", "intermediate", "advanced")


class LightGBMConfig(TypedConfig):
    """LightGBM hyperparameters of :class:`models.risk_model.RiskModel` (the experiment's ``[model]`` table).

    These defaults are the ones the README's measured figures were made with;
    ``experiments/default.toml`` repeats them, commented, for editing (a test keeps the two equal).
    """

    n_estimators: int = Field(2000, description="Maximum number of boosting rounds (trees); early stopping usually ends sooner.")
    learning_rate: float = Field(0.05, description="Shrinkage applied to each tree's contribution.")
    num_leaves: int = Field(31, description="Maximum leaves per tree.")
    max_depth: int = Field(-1, description="Maximum tree depth; -1 means no limit (the leaf count bounds the size).")
    min_child_samples: int = Field(200, description="Minimum rows in a leaf: larger values smooth estimates of a rare outcome.")
    subsample: float = Field(0.8, description="Share of rows sampled for each tree (bagging); 1 turns bagging off.")
    colsample_bytree: float = Field(0.8, description="Share of predictors sampled for each tree.")
    reg_lambda: float = Field(1.0, description="L2 regularisation of leaf values.")
    early_stopping_rounds: int = Field(
        100, description="Stop when the early-stopping slice's log loss has not improved for this many rounds."
    )
    random_state: int = Field(7, description="Seed for bagging and predictor sampling (training is deterministic given it).")
    n_jobs: int = Field(2, description="LightGBM threads.")
    monotone: bool = Field(
        True,
        description="Constrain each predictor to its declared clinical direction (features.definitions: raises = "
        "non-decreasing, lowers = non-increasing, either = free) with LightGBM monotone_constraints.",
    )
    monotone_method: Literal["basic", "intermediate", "advanced"] = Field(
        "basic",
        description="LightGBM monotone_constraints_method. 'basic' bounds every leaf below a constrained split by the "
        "split's midpoint, so a present flag's TreeSHAP contribution can never be negative (the reason text never says a "
        "condition lowers risk); 'intermediate'/'advanced' constrain less and may fit slightly better but lose that guarantee.",
    )

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        checks = (
            (self.n_estimators >= 1, f"model.n_estimators must be >= 1; got {self.n_estimators}. Set it to 2000 and let early stopping choose."),
            (self.learning_rate > 0, f"model.learning_rate must be > 0; got {self.learning_rate}. Use e.g. 0.05."),
            (self.num_leaves >= 2, f"model.num_leaves must be >= 2; got {self.num_leaves}. Use e.g. 31."),
            (self.max_depth == -1 or self.max_depth >= 1, f"model.max_depth must be -1 (no limit) or >= 1; got {self.max_depth}. Use -1."),
            (self.min_child_samples >= 1, f"model.min_child_samples must be >= 1; got {self.min_child_samples}. Use e.g. 200."),
            (0 < self.subsample <= 1, f"model.subsample must be in (0, 1]; got {self.subsample}. Use e.g. 0.8."),
            (0 < self.colsample_bytree <= 1, f"model.colsample_bytree must be in (0, 1]; got {self.colsample_bytree}. Use e.g. 0.8."),
            (self.reg_lambda >= 0, f"model.reg_lambda must be >= 0; got {self.reg_lambda}. Use e.g. 1.0."),
            (self.early_stopping_rounds >= 1, f"model.early_stopping_rounds must be >= 1; got {self.early_stopping_rounds}. Use e.g. 100."),
            (self.n_jobs >= 1, f"model.n_jobs must be >= 1; got {self.n_jobs}. Use the number of cores to spare."),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self
