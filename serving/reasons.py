"""Plain-English reason text: which model features read as one reason, and what that reason says for a person."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from features.codelists import SOCIAL_NEEDS
from features.contract import SETTINGS
from features.definitions import PREDICTORS, FeatureSpec, describe

__all__ = ["ReasonGroup", "group_features", "reason_text"]


@dataclass(frozen=True)
class ReasonGroup:
    """Model features shown as one reason: ``key`` names the reason, ``members`` the features summed into it."""

    key: str
    members: tuple[str, ...]


def _window_start(name: str) -> int:
    match = re.fullmatch(r".*_(\d+)_(\d+)m", name)
    return int(match.group(1)) if match else 10**6


def group_features(feature_names: Sequence[str]) -> list[ReasonGroup]:
    """Group model features into reasons, in model-feature order of each group's first member.

    A setting's count windows, trend and days-since-last read as one reason (key: the setting,
    e.g. ``"ed"``; windows first, most recent first); a social need's flag and months since onset
    read as one reason (key ``sn_<need>``); every other feature is its own reason.
    """
    names = list(feature_names)
    claimed: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for setting in SETTINGS:
        windows = sorted((n for n in names if re.fullmatch(rf"{setting}_\d+_\d+m", n)), key=_window_start)
        extra = [n for n in (f"{setting}_trend", f"days_since_{setting}") if n in names]
        if len(windows) + len(extra) > 1:
            members[setting] = windows + extra
    for need in SOCIAL_NEEDS:
        pair = [n for n in (f"sn_{need}", f"sn_{need}_months") if n in names]
        if len(pair) > 1:
            members[f"sn_{need}"] = pair
    for key, group in members.items():
        for name in group:
            claimed[name] = key
    groups: list[ReasonGroup] = []
    seen: set[str] = set()
    for name in names:
        key = claimed.get(name, name)
        if key not in seen:
            seen.add(key)
            groups.append(ReasonGroup(key, tuple(members.get(key, [name]))))
    return groups


def _describe(name: str, values: Mapping[str, float | None], as_of: date | None, specs: Mapping[str, FeatureSpec]) -> str:
    value = values.get(name)
    if name not in specs:
        return f"{name} = {'not recorded' if value is None else f'{value:g}'}"
    return describe(name, value, row=values, as_of=as_of, specs=specs)


def reason_text(
    group: ReasonGroup,
    values: Mapping[str, float | None],
    *,
    as_of: date | None = None,
    contributions: Mapping[str, float] | None = None,
    specs: Mapping[str, FeatureSpec] | None = None,
) -> str:
    """What one reason says about one person, from the feature phrases and their actual values.

    Parameters
    ----------
    group
        The reason's features.
    values
        The person's feature values (``None`` = missing); must hold every member of ``group``.
    as_of
        Scoring date, to turn months since onset into a month ("Housing insecurity (since March 2026)").
    contributions
        Per-feature contributions; the group is headed by the member that moves the score most.
        Without them the first member heads it. When a setting's headline is not its most recent
        window, the most recent window's count follows, so recent use is always stated.
    specs
        Feature registry; defaults to ``features.definitions.PREDICTORS``.
    """
    specs = specs if specs is not None else PREDICTORS
    members = group.members
    if group.key.startswith("sn_") and group.key in members:
        return _describe(group.key, values, as_of, specs)
    head = members[0]
    if contributions is not None:
        head = max(members, key=lambda m: (abs(contributions.get(m, 0.0)), -members.index(m)))
    text = _describe(head, values, as_of, specs)
    recent = members[0]
    if group.key in SETTINGS and head != recent and re.fullmatch(rf"{group.key}_\d+_\d+m", recent):
        tail = _describe(recent, values, as_of, specs)
        text += "; " + tail[0].lower() + tail[1:]
    return text
