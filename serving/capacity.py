"""List sizes per neighbourhood: 6 per 1,000 registered people by default, or a share of the total by the Tier 2 formula."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from features.caseload import CaseloadConfig
from features.config import FeatureConfig
from features.definitions import window_name
from features.errors import ConfigError
from features.typed_config import TypedConfig
from models.config import DEFAULT_CAPACITY_PER_1000
from serving.errors import CapacityConfigError, CapacityError

__all__ = ["CapacityConfig", "CapacityFile", "WEIGHTS_TOLERANCE", "hiu_count_columns", "neighbourhood_stats", "list_sizes"]

CapacityRule = Literal["per_population", "allocation"]
#: How far from 1 the allocation weights may sum (shares written to 4 decimals, e.g. 0.3333 three times, are accepted).
WEIGHTS_TOLERANCE = 1e-3


class CapacityConfig(TypedConfig):
    """How many people each neighbourhood's list holds (the ``[capacity]`` table of ``risingrisk score --capacity-file``).

    ``"per_population"``: each list is ``ceil(per_thousand / 1000 × registered population)``.
    ``"allocation"``: the system total ``ceil(per_thousand / 1000 × all registered people)`` is
    split by the Tier 2 funding formula (``weights``: population, IMD deprivation, HIU rate),
    rounded by largest remainder so the parts add up to the total. ``overrides`` then replace
    the rule's size for the teams that state their own.
    """

    error: ClassVar[type[ConfigError]] = CapacityConfigError
    where: ClassVar[str] = "[capacity]"

    per_thousand: float = Field(
        DEFAULT_CAPACITY_PER_1000,
        description="List places per 1,000 registered people (Tier 2 expects 6 per 1,000; the experiment's evaluation.capacity_per_1000 "
        "has the same default).",
    )
    rule: CapacityRule = Field(
        "per_population",
        description="'per_population': ceil(per_thousand / 1000 x each neighbourhood's registered people); 'allocation': the system "
        "total split by the Tier 2 formula (weights), largest remainder.",
    )
    weights: tuple[float, float, float] = Field(
        (0.5, 0.25, 0.25),
        description="'allocation': shares for population size, IMD deprivation score and rate of high intensity users of ED; "
        "non-negative, summing to 1.",
    )
    hiu_ed_attendances: int | None = Field(
        None,
        ge=1,
        description="'allocation': ED attendances over hiu_count_columns that make someone a high intensity user for the HIU rate; "
        "omitted = the model's features.hiu_ed.",
    )
    hiu_count_columns: tuple[str, ...] | None = Field(
        None,
        description="'allocation': feature columns whose sum is a person's ED attendances in the last 12 months; omitted = the "
        "model's ED windows within features.recent_months.",
    )
    overrides: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="Neighbourhood -> fixed list size (a team's stated capacity), replacing the rule's size."
    )

    @field_validator("per_thousand")
    @classmethod
    def _per_thousand_in_range(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 < value <= 1000):
            raise ValueError(f"must be a number in (0, 1000] (list places per 1,000 registered people); got {value!r}. Use e.g. 6 (Tier 2).")
        return value

    @field_validator("weights")
    @classmethod
    def _weights_are_shares(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(math.isfinite(w) and w >= 0 for w in value):
            raise ValueError(
                f"must be three non-negative shares (population, IMD, HIU rate); got {list(value)}. Use e.g. [0.5, 0.25, 0.25]."
            )
        total = math.fsum(value)
        if not math.isclose(total, 1.0, abs_tol=WEIGHTS_TOLERANCE):
            fix = (
                f"Divide each by their sum: [{', '.join(f'{w / total:.4f}' for w in value)}]." if total > 0
                else "Give at least one a positive share, e.g. [0.5, 0.25, 0.25]."
            )
            raise ValueError(f"must sum to 1 (shares of population, IMD, HIU rate); got {list(value)}, which sum to {total:g}. {fix}")
        return value

    def hiu_threshold(self, feature_config: FeatureConfig | None = None) -> int:
        """ED attendances that make a high intensity user: ``hiu_ed_attendances`` if set, else the feature config's ``hiu_ed``."""
        if self.hiu_ed_attendances is not None:
            return self.hiu_ed_attendances
        return (feature_config or FeatureConfig()).hiu_ed

    def describe(self) -> dict[str, Any]:
        """The rule as a JSON-ready dict for publication metadata."""
        return {
            "rule": self.rule,
            "per_thousand": self.per_thousand,
            "weights": {"population": self.weights[0], "imd": self.weights[1], "hiu_rate": self.weights[2]}
            if self.rule == "allocation"
            else None,
            "overrides": dict(sorted(self.overrides.items())),
        }


class CapacityFile(TypedConfig):
    """The TOML file of ``risingrisk score --capacity-file``: a ``[capacity]`` table and an optional ``[caseload]`` table."""

    error: ClassVar[type[ConfigError]] = CapacityConfigError

    capacity: CapacityConfig = Field(
        default_factory=CapacityConfig, description="List sizes per neighbourhood; its keys override --capacity-per-thousand and --capacity-rule."
    )
    caseload: CaseloadConfig = Field(
        default_factory=CaseloadConfig, description="How caseload actions are checked and how long decisions keep a person off the lists."
    )


def hiu_count_columns(config: CapacityConfig, feature_config: FeatureConfig | None = None) -> tuple[str, ...]:
    """The ED count columns summed for the HIU rate: ``config.hiu_count_columns`` if set, else the
    feature config's ED windows within its ``recent_months`` (the same columns training's ED-count rule sums)."""
    if config.hiu_count_columns is not None:
        return config.hiu_count_columns
    features = feature_config or FeatureConfig()
    return tuple(window_name("ed", w) for w in sorted(features.windows) if w[1] <= features.recent_months)


def neighbourhood_stats(
    table: pd.DataFrame, config: CapacityConfig | None = None, feature_config: FeatureConfig | None = None
) -> pd.DataFrame:
    """Registered population, IMD deprivation score and HIU rate for each neighbourhood.

    ``table`` is the feature table as of one date (every person registered and alive, excluded or
    not), built with ``feature_config`` (default ``FeatureConfig()``). The deprivation score is the
    mean of ``11 − imd_decile`` over people with a known decile (10 = most deprived); the HIU rate
    is the share of people with at least ``config.hiu_threshold(feature_config)`` ED attendances over
    :func:`hiu_count_columns`. People without a neighbourhood are not counted. Returns one row per
    neighbourhood, sorted by name.
    """
    config = config or CapacityConfig()
    known = table[table["neighbourhood"].notna()]
    grouped = known.groupby("neighbourhood", sort=True)
    stats = pd.DataFrame({"population": grouped.size().astype("int64")})
    decile = pd.to_numeric(known["imd_decile"], errors="coerce").astype("float64")
    stats["imd_score"] = (11.0 - decile).groupby(known["neighbourhood"]).mean().reindex(stats.index).fillna(0.0)
    if config.rule == "allocation":
        columns = hiu_count_columns(config, feature_config)
        missing = [c for c in columns if c not in known.columns]
        if missing:
            raise CapacityError(
                f"the allocation rule needs ED count columns {list(columns)}; missing {missing}. "
                "Set capacity.hiu_count_columns to the feature table's ED windows covering 12 months."
            )
        ed = known[list(columns)].astype("float64").fillna(0.0).sum(axis=1)
        stats["hiu_rate"] = (ed >= config.hiu_threshold(feature_config)).groupby(known["neighbourhood"]).mean().reindex(stats.index)
    else:
        stats["hiu_rate"] = np.nan
    stats.index.name = "neighbourhood"
    return stats.reset_index()


def _largest_remainder(total: int, shares: pd.Series) -> pd.Series:
    """Split ``total`` into whole numbers proportional to ``shares`` (ties to the earlier name)."""
    exact = shares / shares.sum() * total if shares.sum() > 0 else shares * 0.0
    floor = np.floor(exact).astype("int64")
    remainder = exact - floor
    order = sorted(range(len(shares)), key=lambda i: (-remainder.iloc[i], shares.index[i]))
    floor = floor.copy()
    for i in order[: total - int(floor.sum())]:
        floor.iloc[i] += 1
    return floor


def list_sizes(stats: pd.DataFrame, config: CapacityConfig | None = None) -> dict[str, int]:
    """Target list size per neighbourhood under ``config`` (see ``CapacityConfig`` for the rules).

    ``stats`` is ``neighbourhood_stats``' output (``neighbourhood, population, imd_score, hiu_rate``).
    """
    config = config or CapacityConfig()
    rate = Fraction(str(config.per_thousand)) / 1000
    stats = stats.sort_values("neighbourhood").set_index("neighbourhood")
    if config.rule == "per_population":
        sizes = {str(n): math.ceil(rate * int(p)) for n, p in stats["population"].items()}
    else:
        total = math.ceil(rate * int(stats["population"].sum()))
        parts = [stats["population"], stats["imd_score"], stats["hiu_rate"].fillna(0.0)]
        share = sum(w * (part / part.sum() if part.sum() > 0 else part * 0.0) for w, part in zip(config.weights, parts))
        sizes = {str(n): int(v) for n, v in _largest_remainder(total, share.astype("float64")).items()}
    unknown = sorted(set(config.overrides) - set(sizes))
    if unknown:
        raise CapacityError(
            f"capacity overrides must name neighbourhoods in the data; got unknown {unknown}. "
            f"Known: {sorted(sizes)[:10]}{'…' if len(sizes) > 10 else ''}."
        )
    sizes.update({str(k): int(v) for k, v in config.overrides.items()})
    return sizes
