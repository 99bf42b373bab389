"""Plain-English reason text: which model features read as one reason, what that reason says for a person, and its context.

Grouping and wording come from the predictor declarations (:mod:`features.definitions`): a
feature's ``setting`` or ``need`` says which reason it belongs to and its ``window`` where a count
sits in time, so a new predictor joins its reason by declaration alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from features.definitions import PREDICTORS, SETTING_NOUNS, FeatureSpec, describe

__all__ = ["ReasonGroup", "group_features", "reason_text", "recent_use", "reason_context"]


@dataclass(frozen=True)
class ReasonGroup:
    """Model features shown as one reason: ``key`` names the reason, ``members`` the features summed into it."""

    key: str
    members: tuple[str, ...]


def _group_key(spec: FeatureSpec | None) -> str | None:
    if spec is None:
        return None
    if spec.setting is not None:
        return spec.setting
    if spec.need is not None:
        return f"sn_{spec.need}"
    return None


def _member_order(spec: FeatureSpec) -> tuple[int, int, int]:
    """Count windows first, most recent (then shortest) first; then the others in model-feature order."""
    return (0, *spec.window) if spec.window is not None else (1, 0, 0)


def group_features(feature_names: Sequence[str], specs: Mapping[str, FeatureSpec] | None = None) -> list[ReasonGroup]:
    """Group model features into reasons, in model-feature order of each group's first member.

    A setting's count windows, trend and days-since-last read as one reason (key: the setting,
    e.g. ``"ed"``; windows first, most recent first); a social need's flag and months since onset
    read as one reason (key ``sn_<need>``); every other feature, and any feature ``specs`` does not
    declare, is its own reason.

    Parameters
    ----------
    feature_names
        The model's features, in model order.
    specs
        Predictor declarations; defaults to ``features.definitions.PREDICTORS``. Pass
        ``predictor_specs(config)`` for a model built with non-default windows.
    """
    specs = specs if specs is not None else PREDICTORS
    names = list(feature_names)
    by_key: dict[str, list[str]] = {}
    for name in names:
        key = _group_key(specs.get(name))
        if key is not None:
            by_key.setdefault(key, []).append(name)
    members = {
        key: sorted(group, key=lambda n: _member_order(specs[n])) for key, group in by_key.items() if len(group) > 1
    }
    claimed = {name: key for key, group in members.items() for name in group}
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


def _setting_text(
    group: ReasonGroup, values: Mapping[str, float | None], head: str, as_of: date | None, specs: Mapping[str, FeatureSpec]
) -> str:
    windows = [m for m in group.members if m in specs and specs[m].window is not None]
    if not windows:
        return _describe(head, values, as_of, specs)
    used = [m for m in windows if (values.get(m) or 0.0) > 0]
    if not used:
        longest = max(specs[m].window[1] for m in windows)
        return f"No {SETTING_NOUNS[group.key][1]} in the last {longest} months"
    counts = _describe(used[0], values, as_of, specs)
    if used[0] != windows[0]:
        counts += f"; none in the last {specs[used[0]].window[0]} months"
    if head in windows or values.get(head) is None:
        return counts
    return f"{_describe(head, values, as_of, specs)}; {counts[0].lower()}{counts[1:]}"


def reason_text(
    group: ReasonGroup,
    values: Mapping[str, float | None],
    *,
    as_of: date | None = None,
    contributions: Mapping[str, float] | None = None,
    specs: Mapping[str, FeatureSpec] | None = None,
) -> str:
    """What one reason says about one person, from the feature phrases and their actual values.

    A setting's reason states its most recent non-zero count window with the window before
    ("4 A&E attendances in the last 3 months (none in the 3 months before)"), adds "none in the
    last N months" when that window is older, and is led by the trend or days-since-last when
    that feature moves the score most; with no use at all it reads "No A&E attendances in the
    last 24 months". A social need reads its label with the onset month. Other features read
    their registry phrase with the person's value.

    Parameters
    ----------
    group
        The reason's features.
    values
        The person's feature values (``None`` = missing); must hold every member of ``group``.
    as_of
        Scoring date, to turn months since onset into a month ("Housing insecurity (since March 2026)").
    contributions
        Per-feature contributions; the member that moves the score most leads a setting's text.
    specs
        Feature registry; defaults to ``features.definitions.PREDICTORS``.
    """
    specs = specs if specs is not None else PREDICTORS
    members = group.members
    lead = specs.get(members[0])
    if lead is not None and lead.need is not None and group.key in members:
        return _describe(group.key, values, as_of, specs)
    head = members[0]
    if contributions is not None:
        head = max(members, key=lambda m: (abs(contributions.get(m, 0.0)), -members.index(m)))
    if lead is not None and lead.setting is not None and group.key == lead.setting:
        return _setting_text(group, values, head, as_of, specs)
    return _describe(head, values, as_of, specs)


def recent_use(
    setting: str, values: Mapping[str, float | None], specs: Mapping[str, FeatureSpec] | None = None
) -> tuple[float, float] | None:
    """A setting's use per month in its most recent count window and in the next one back (e.g. 0-3 and 3-6 months); None without both.

    The windows are the setting's declared count windows, most recent first; counts become rates
    per month so windows of different lengths compare fairly. A count the person's values do not
    hold (missing, or a window the model does not use) gives None.
    """
    specs = specs if specs is not None else PREDICTORS
    windows = sorted((s.window, s.name) for s in specs.values() if s.setting == setting and s.window is not None)
    if len(windows) < 2:
        return None
    (recent_window, recent_name), (before_window, before_name) = windows[:2]
    recent, before = values.get(recent_name), values.get(before_name)
    if recent is None or before is None:
        return None
    return float(recent) / (recent_window[1] - recent_window[0]), float(before) / (before_window[1] - before_window[0])


def reason_context(
    feature: str, direction: str, values: Mapping[str, float | None], specs: Mapping[str, FeatureSpec] | None = None
) -> str | None:
    """A sentence to read with a setting's reason when the level of use, not its recent change, drives it; else None.

    A fall in use that still raises the risk reads "Use fell recently; it is the level of A&E
    attendances over the whole period that raises the risk, not the fall."; a rise that still
    lowers it says the level is low enough to lower the risk. Reasons of other features, and
    steady use, need no context. The pages and the API show this same sentence.

    Parameters
    ----------
    feature
        The reason's key (a care setting such as ``"ed"`` for a setting's reason).
    direction
        ``"raises"`` or ``"lowers"``: the sign of the reason's contribution.
    values
        The person's feature values (``None`` = missing); the setting's count windows are read.
    specs
        Feature registry; defaults to ``features.definitions.PREDICTORS``.
    """
    if feature not in SETTING_NOUNS:
        return None
    change = recent_use(feature, values, specs)
    if change is None:
        return None
    recent, before = change
    many = SETTING_NOUNS[feature][1]
    if direction == "raises" and recent < before:
        return f"Use fell recently; it is the level of {many} over the whole period that raises the risk, not the fall."
    if direction == "lowers" and recent > before:
        return f"Use rose recently, but the level of {many} over the whole period is low enough to lower the risk."
    return None
