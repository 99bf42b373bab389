"""Apply the list policy to one scoring run: which eligible people fill each neighbourhood's capacity (see training.list_policy)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from training.list_policy import ListsConfig, select

__all__ = ["choose_listed"]


def choose_listed(
    candidates: pd.DataFrame,
    capacity: Mapping[str, int],
    *,
    config: ListsConfig,
    earlier: pd.Series | None = None,
    strata: pd.Series | None = None,
) -> pd.Index:
    """Index labels of the people each neighbourhood lists under ``config.policy``.

    Parameters
    ----------
    candidates
        Eligible people with a neighbourhood: ``neighbourhood``, ``person_id``, ``score``, sorted
        best-first within each neighbourhood (score, then log-odds, then person_id).
    capacity
        Places per neighbourhood.
    config
        The list policy.
    earlier
        ``rising``: the same model's score ``rising_months`` earlier, indexed like ``candidates`` (NaN = none).
    strata
        ``stratified``: each candidate's band (``config.stratify_by``), indexed like ``candidates``.
    """
    chosen: list[pd.Index] = []
    for neighbourhood, group in candidates.groupby("neighbourhood", sort=True):
        k = int(capacity.get(str(neighbourhood), 0))
        if config.policy == "risk":
            chosen.append(group.index[:k])
            continue
        mask = select(
            group["score"].to_numpy(), k, config=config,
            earlier=earlier.reindex(group.index).to_numpy() if earlier is not None else None,
            strata=strata.reindex(group.index).to_numpy() if strata is not None else None,
        )
        chosen.append(group.index[mask])
    return chosen[0].append(chosen[1:]) if chosen else pd.Index([])
