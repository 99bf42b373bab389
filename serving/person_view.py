"""What the person page shows: a one-sentence summary, the contributions that matter grouped with their evidence, a timeline heat map."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from features.definitions import SETTING_NOUNS, FeatureSpec
from models.reasons import recent_use

__all__ = ["FAMILIES", "SUMMARY_FAMILIES", "Factor", "FactorGroup", "age_band", "family_of", "factors", "group_factors", "heat_level", "human_date", "summary"]

#: Families of reasons in the order the page shows them (needs and conditions first) -> heading.
FAMILIES: dict[str, str] = {
    "social_need": "Needs",
    "condition": "Conditions",
    "utilisation": "Use of services",
    "cost": "Cost of care",
    "demographic": "About the person",
    "registration": "Registration",
    "other": "Other factors",
}
_HEAT_LEVELS = 5
#: Families the summary names as what mainly raises the risk (age or area read oddly as "mainly ...").
SUMMARY_FAMILIES = frozenset({"social_need", "condition", "utilisation", "cost"})


def human_date(value: date | str | None) -> str:
    """``2026-11-01`` -> ``1 November 2026`` (a datetime string keeps its date only); '' for None."""
    if value is None:
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return f"{day.day} {day:%B %Y}"


def family_of(feature: str, specs: Mapping[str, FeatureSpec]) -> str:
    """The family of a reason key: a care setting reads as use of services, ``sn_<need>`` as a need, else the feature's group."""
    if feature in SETTING_NOUNS:
        return "utilisation"
    spec = specs.get(feature)
    if spec is None:
        return "other"
    group = "utilisation" if spec.group == "recency" else spec.group
    return group if group in FAMILIES else "other"


@dataclass(frozen=True)
class Factor:
    """One reason as the page shows it: text, direction, contribution (probability), family, evidence and the reason's context sentence."""

    feature: str
    text: str
    direction: str
    contribution: float
    family: str
    evidence: str | None
    context: str | None
    short: str

    @property
    def points(self) -> str:
        """Contribution in percentage points with its sign, one decimal ("+3.1 pts")."""
        return f"{self.contribution * 100:+.1f} pts"


@dataclass(frozen=True)
class FactorGroup:
    """Factors of one family under its heading."""

    family: str
    heading: str
    factors: list[Factor]


def _setting_evidence(setting: str, timeline: Sequence[tuple[date, Mapping[str, int]]], as_of: date,
                      values: Mapping[str, float | None], specs: Mapping[str, FeatureSpec]) -> str | None:
    counts = [(month, int(c.get(setting, 0))) for month, c in timeline]
    total = sum(n for _, n in counts)
    parts = []
    days = next((values.get(s.name) for s in specs.values() if s.setting == setting and s.kind == "days_since"), None)
    if days is not None:
        parts.append(f"last on {human_date(as_of - timedelta(days=round(days)))}")
    elif total:
        parts.append(f"last in {max(m for m, n in counts if n):%B %Y}")
    if counts:
        parts.append(f"{total} in the {len(counts)} months from {counts[0][0]:%B %Y} to {counts[-1][0]:%B %Y}")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def _short(feature: str, family: str, text: str, values: Mapping[str, float | None], specs: Mapping[str, FeatureSpec]) -> str:
    """A few words for the summary sentence: "rising A&E use", "housing insecurity", "COPD"."""
    if feature in SETTING_NOUNS:
        change = recent_use(feature, values, specs)
        rising = change is not None and change[0] > change[1]
        return f"{'rising ' if rising else ''}{SETTING_NOUNS[feature][1]}"
    spec = specs.get(feature)
    if spec is not None and spec.kind == "flag":
        phrase = spec.phrase.removeprefix("Has ")
        return phrase if phrase[:2].isupper() else phrase[0].lower() + phrase[1:]
    return text[0].lower() + text[1:] if text[:2] != text[:2].upper() else text


def factors(reasons: Sequence[Mapping[str, Any]], values: Mapping[str, float | None], specs: Mapping[str, FeatureSpec], *,
            timeline: Sequence[tuple[date, Mapping[str, int]]], as_of: date) -> list[Factor]:
    """Every reason as a :class:`Factor` (same order), with evidence, the reason's own context sentence and summary words.

    The context is the reason's ``context`` as the API serves it (models.reasons.reason_context,
    set when the reasons are explained), never worded again here, so page and API cannot disagree.

    Parameters
    ----------
    reasons
        The person's reasons (``feature, text, direction, contribution, context``), largest first.
    values
        The person's model feature values (None = missing).
    specs
        The model's predictor declarations.
    timeline
        Contacts per month and setting, oldest first (the person page's timeline).
    as_of
        Scoring date.
    """
    out = []
    for r in reasons:
        feature, direction = str(r["feature"]), str(r["direction"])
        family = family_of(feature, specs)
        setting = feature if feature in SETTING_NOUNS else None
        evidence = _setting_evidence(setting, timeline, as_of, values, specs) if setting else None
        context = r.get("context")
        out.append(Factor(feature, str(r["text"]), direction, float(r["contribution"]), family, evidence,
                          None if context is None else str(context), _short(feature, family, str(r["text"]), values, specs)))
    return out


def group_factors(shown: Sequence[Factor]) -> list[FactorGroup]:
    """``shown`` by family in :data:`FAMILIES` order (needs, conditions, use of services, ...), largest first within each."""
    return [
        FactorGroup(family, heading, sorted(members, key=lambda f: -abs(f.contribution)))
        for family, heading in FAMILIES.items()
        if (members := [f for f in shown if f.family == family])
    ]


def age_band(age: float | None, width: int) -> int | None:
    """First year of the ``width``-year age band holding ``age`` (None when age is unknown)."""
    return None if age is None else int(age // width) * width


def _words(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def summary(score: float, average: float | None, average_label: str, horizon: str, main: Sequence[Factor]) -> str:
    """One sentence: risk, how many times the average it is, and the main reasons raising it.

    "Risk 12% over the next 6–18 months, 17× the average for their age; mainly rising A&E use,
    housing insecurity and COPD". ``average_label`` names the comparison ("for their age").
    """
    sentence = f"Risk {score * 100:.0f}% {horizon}"
    if average:
        ratio = score / average
        sentence += f", {ratio:.0f}× the average {average_label}" if ratio >= 2 else f", {ratio:.1f}× the average {average_label}"
    raising = [f.short for f in main if f.direction == "raises" and f.family in SUMMARY_FAMILIES]
    if raising:
        sentence += f"; mainly {_words(raising)}"
    return sentence


def heat_level(count: int, peak: int) -> int:
    """Shade (0 = none, 1-5) of a timeline cell with ``count`` contacts when the busiest cell has ``peak``."""
    if count <= 0 or peak <= 0:
        return 0
    return max(1, min(_HEAT_LEVELS, -(-count * _HEAT_LEVELS // peak)))
