"""List sizes per neighbourhood: 6 per 1,000 registered people by default, or a share of the total by the Tier 2 formula."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.definitions import window_name
from models.config import DEFAULT_CAPACITY_PER_1000
from serving.errors import CapacityError

__all__ = ["CapacityConfig", "hiu_count_columns", "neighbourhood_stats", "list_sizes"]

CapacityRule = Literal["per_population", "allocation"]


@dataclass(frozen=True)
class CapacityConfig:
    """How many people each neighbourhood's list holds.

    Attributes
    ----------
    per_thousand
        List places per 1,000 registered people (DOMAIN: Tier 2 expects 6 per 1,000).
    rule
        ``"per_population"``: each list is ``ceil(per_thousand / 1000 × registered population)``.
        ``"allocation"``: the system total ``ceil(per_thousand / 1000 × all registered people)`` is
        split by the Tier 2 funding formula (``weights``: population, IMD deprivation, HIU rate),
        rounded by largest remainder so the parts add up to the total.
    weights
        Shares of the allocation formula for population size, IMD deprivation score and rate of
        high intensity users of ED; must be non-negative and sum to 1.
    hiu_ed_attendances
        ED attendances over ``hiu_count_columns`` that make someone a high intensity user when
        computing a neighbourhood's HIU rate (allocation rule only).
    hiu_count_columns
        Feature columns whose sum is a person's ED attendances in the last 12 months; ``None``
        (default) derives them from the feature config (see :func:`hiu_count_columns`).
    overrides
        Neighbourhood -> fixed list size (a team's stated capacity); replaces the rule's size.
    """

    per_thousand: float = DEFAULT_CAPACITY_PER_1000
    rule: CapacityRule = "per_population"
    weights: tuple[float, float, float] = (0.5, 0.25, 0.25)
    hiu_ed_attendances: int = 5
    hiu_count_columns: tuple[str, ...] | None = None
    overrides: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.per_thousand >= 0 and math.isfinite(self.per_thousand)):
            raise CapacityError(f"per_thousand must be a finite number >= 0; got {self.per_thousand!r}. Use e.g. 6.")
        if self.rule not in ("per_population", "allocation"):
            raise CapacityError(f"capacity rule must be 'per_population' or 'allocation'; got {self.rule!r}.")
        if len(self.weights) != 3 or min(self.weights) < 0 or not math.isclose(sum(self.weights), 1.0):
            raise CapacityError(
                f"allocation weights must be three non-negative numbers summing to 1 (population, IMD, HIU rate); "
                f"got {self.weights!r}. Use e.g. (0.5, 0.25, 0.25)."
            )
        bad = {k: v for k, v in self.overrides.items() if not isinstance(v, (int, np.integer)) or v < 0}
        if bad:
            raise CapacityError(f"capacity overrides must be whole numbers >= 0; got {bad!r}. Give each team's list size.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "CapacityConfig":
        """Build from a TOML/JSON-style mapping; unknown keys raise ``CapacityError``."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise CapacityError(f"capacity settings must be among {sorted(known)}; got unknown {unknown}. Remove or rename them.")
        data = dict(values)
        for key in ("weights", "hiu_count_columns"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

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
    is the share of people with at least ``config.hiu_ed_attendances`` ED attendances over
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
        stats["hiu_rate"] = (ed >= config.hiu_ed_attendances).groupby(known["neighbourhood"]).mean().reindex(stats.index)
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
