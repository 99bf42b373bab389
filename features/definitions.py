"""Every predictor, declared once: name, dtype, meaning, clinician text, expected direction and its two computations.

A declaration (:class:`FeatureSpec`, after Feast's ``Field``) holds everything derived about a
predictor: the DuckDB SQL (``sql``, written in :class:`~features.sql_terms.SqlTerms`), the
independent pandas oracle (``reference``, written in :class:`~features.reference_terms.ReferenceTerms`),
the model card's predictor table, the reason grouping (``setting``, ``need``, ``window``) and the
reason text (``phrase`` and friends). Families (count windows per setting, trends, recency,
social needs, conditions, demographics) are generated from the :class:`FeatureConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Mapping

import pandas as pd

from features.codelists import CONDITIONS, SOCIAL_NEEDS
from features.config import FeatureConfig
from features.contract import ETHNIC_GROUPS, SETTINGS
from features.dates import DAYS_PER_MONTH
from features.reference_terms import ReferenceTerms
from features.sql_terms import SqlTerms

__all__ = [
    "FeatureSpec",
    "Direction",
    "FAMILIES",
    "PREDICTORS",
    "SETTING_NOUNS",
    "SOCIAL_NEED_LABELS",
    "CONDITION_LABELS",
    "predictor_specs",
    "predictor_names",
    "window_name",
    "describe",
    "onset_date",
]

Kind = Literal["count", "trend", "days_since", "flag", "months_since", "number", "money", "category"]
#: Clinically expected effect of a higher value on risk: ``raises``, ``lowers`` or ``either``. The model
#: enforces it (``models.constraints``: LightGBM monotone constraints): use counts, conditions and
#: present social needs raise; time since the last contact lowers; trends and demographics are free.
Direction = Literal["raises", "lowers", "either"]

#: setting -> (singular, plural) noun a clinician reads.
SETTING_NOUNS: dict[str, tuple[str, str]] = {
    "ed": ("A&E attendance", "A&E attendances"),
    "emergency_admission": ("emergency admission", "emergency admissions"),
    "elective_admission": ("planned admission", "planned admissions"),
    "outpatient": ("outpatient appointment", "outpatient appointments"),
    "gp": ("GP contact", "GP contacts"),
    "nhs111": ("NHS 111 contact", "NHS 111 contacts"),
    "ambulance": ("ambulance (999) call-out", "ambulance (999) call-outs"),
    "mental_health": ("mental health service contact", "mental health service contacts"),
    "social_care": ("social care contact", "social care contacts"),
    "community": ("community health service contact", "community health service contacts"),
}
#: social need -> (text when active, text when not active) a clinician reads.
SOCIAL_NEED_LABELS: dict[str, tuple[str, str]] = {
    "homeless": ("Homeless", "Not recorded as homeless"),
    "housing_insecurity": ("Housing insecurity", "No housing insecurity recorded"),
    "lives_alone": ("Lives alone or socially isolated", "Not recorded as living alone or isolated"),
    "financial_difficulty": ("Financial difficulty", "No financial difficulty recorded"),
    "unemployment": ("Unemployed", "Not recorded as unemployed"),
    "substance_misuse": ("Substance misuse", "No substance misuse recorded"),
    "alcohol_misuse": ("Alcohol misuse", "No alcohol misuse recorded"),
    "domestic_abuse": ("Domestic abuse", "No domestic abuse recorded"),
    "carer": ("Is a carer", "Not recorded as a carer"),
    "mental_health": ("Mental health need (such as depression or anxiety)", "No mental health need recorded"),
}
#: long-term condition -> its plain name.
CONDITION_LABELS: dict[str, str] = {
    "diabetes": "diabetes",
    "copd": "COPD",
    "asthma": "asthma",
    "heart_failure": "heart failure",
    "chd": "coronary heart disease",
    "ckd": "chronic kidney disease",
    "dementia": "dementia",
    "smi": "a severe mental illness",
    "cancer": "cancer",
    "frailty": "frailty",
    "stroke": "a history of stroke",
}


@dataclass(frozen=True)
class FeatureSpec:
    """One predictor, declared once.

    Attributes
    ----------
    name, dtype, description
        Column name, pandas dtype (``"float64"`` or ``"category"``) and a plain-English description.
    phrase
        Template formatted with the person's value: ``phrase.format(value=v)`` reads correctly for
        any non-missing value. :func:`describe` gives nicer text (singular, none, context, onset).
    kind
        How the value reads: count, trend, days_since, flag, months_since, number, money, category.
    group
        Family, for grouping in model cards: utilisation, recency, cost, social_need, condition,
        demographic, registration.
    direction
        Clinically expected effect of a higher value on risk: ``raises``, ``lowers`` or ``either``.
    sql
        The DuckDB computation: ``sql(terms)`` returns an SQL expression (see :class:`SqlTerms`).
    reference
        The independent pandas computation: ``reference(terms)`` returns one value per person at
        ``terms.t`` (see :class:`ReferenceTerms`).
    setting, need, window
        The care setting or social need the predictor reads as part of in a reason, and its
        lookback window ``(start, end)`` months for count windows (``None`` when not applicable).
    singular, none
        Text when the value is 1 / when it is 0 or missing (``None`` = use ``phrase``).
    context, context_phrase
        Name of the feature holding the preceding window and a template for it with ``{count}``
        (``"none"`` or the number), e.g. ``"{count} in the 3 months before"``.
    onset
        Name of the months-since-onset feature of a flag (social needs), for "since March 2026".
    history_months
        Months before T the value counts events over (``None``: not a count over history). Where a
        row's data start later than ``T - history_months`` the value is unobserved, not zero:
        training sets it missing (``training.dataset.prepare``) and scoring is refused by the
        ``short_history`` monitoring alert.
    """

    name: str
    dtype: str
    description: str
    phrase: str
    kind: Kind
    group: str
    direction: Direction
    sql: Callable[[SqlTerms], str] = field(compare=False, repr=False)
    reference: Callable[[ReferenceTerms], pd.Series] = field(compare=False, repr=False)
    setting: str | None = None
    need: str | None = None
    window: tuple[int, int] | None = None
    singular: str | None = None
    none: str | None = None
    context: str | None = None
    context_phrase: str | None = None
    onset: str | None = None
    history_months: int | None = None


def window_name(setting: str, window: tuple[int, int]) -> str:
    """Column name of the count of ``setting`` events in lookback ``window``, e.g. ``ed_0_3m``."""
    return f"{setting}_{window[0]}_{window[1]}m"


def _window_text(window: tuple[int, int]) -> str:
    start, end = window
    return f"in the last {end} months" if start == 0 else f"{start} to {end} months ago"


def _count_specs(config: FeatureConfig) -> list[FeatureSpec]:
    specs = []
    windows = sorted(config.windows)
    for setting in SETTINGS:
        one, many = SETTING_NOUNS[setting]
        for i, window in enumerate(windows):
            when = _window_text(window)
            earlier = windows[i + 1] if i + 1 < len(windows) and windows[i + 1][0] == window[1] else None
            specs.append(
                FeatureSpec(
                    name=window_name(setting, window),
                    dtype="float64",
                    description=f"Number of {many} recorded {when} (before the index date).",
                    phrase=f"{{value:.0f}} {many} {when}",
                    kind="count",
                    group="utilisation",
                    direction="raises",
                    sql=lambda q, s=setting, w=window: q.count(s, *w),
                    reference=lambda r, s=setting, w=window: r.count(s, *w),
                    setting=setting,
                    window=window,
                    singular=f"1 {one} {when}",
                    none=f"No {many} {when}",
                    context=window_name(setting, earlier) if earlier else None,
                    context_phrase=(
                        f"{{count}} in the {earlier[1] - earlier[0]} months before" if earlier else None
                    ),
                    history_months=window[1],
                )
            )
    return specs


def _trend_specs(config: FeatureConfig) -> list[FeatureSpec]:
    m = config.trend_months
    specs = []
    for setting in config.trend_settings:
        many = SETTING_NOUNS[setting][1]
        specs.append(
            FeatureSpec(
                name=f"{setting}_trend",
                dtype="float64",
                description=f"{many[0].upper() + many[1:]} in the last {m} months minus those in the {m} months before; "
                "positive means use is rising.",
                phrase=f"{{value:+.0f}} {many} in the last {m} months compared with the {m} months before",
                kind="trend",
                group="utilisation",
                # Unconstrained: the count windows already carry the level; a falling trend from a high
                # level is not lower risk than a flat low one, so no direction holds for all people.
                direction="either",
                sql=lambda q, s=setting: f"{q.count(s, 0, m)} - {q.count(s, m, 2 * m)}",
                reference=lambda r, s=setting: r.count(s, 0, m) - r.count(s, m, 2 * m),
                setting=setting,
                none=f"Same number of {many} in the last {m} months as in the {m} months before",
                history_months=2 * m,
            )
        )
    return specs


def _recency_specs(config: FeatureConfig) -> list[FeatureSpec]:
    lookback = max(b for _, b in config.windows)
    specs = []
    for setting in config.recency_settings:
        one = SETTING_NOUNS[setting][0]
        specs.append(
            FeatureSpec(
                name=f"days_since_{setting}",
                dtype="float64",
                description=f"Days from the last {one} to the index date; missing if none in the last {lookback} months.",
                phrase=f"Last {one} {{value:.0f}} days ago",
                kind="days_since",
                group="recency",
                direction="lowers",
                sql=lambda q, s=setting: q.days_since_last(s, 0, lookback),
                reference=lambda r, s=setting: r.days_since_last(s, 0, lookback),
                setting=setting,
                singular=f"Last {one} the day before",
                none=f"No {one} in the last {lookback} months",
            )
        )
    return specs


def _use_specs(config: FeatureConfig) -> list[FeatureSpec]:
    m = config.recent_months
    return [
        FeatureSpec(
            name="settings_used_12m",
            dtype="float64",
            description=f"Number of different care settings (A&E, GP, 111, ...) used in the last {m} months.",
            phrase=f"Used {{value:.0f}} different services in the last {m} months",
            kind="count",
            group="utilisation",
            direction="raises",
            sql=lambda q: " + ".join(f"CASE WHEN {q.count(s, 0, m)} > 0 THEN 1 ELSE 0 END" for s in SETTINGS),
            reference=lambda r: r.settings_used(0, m),
            singular=f"Used 1 service in the last {m} months",
            none=f"Used no services in the last {m} months",
            history_months=m,
        ),
        FeatureSpec(
            name="cost_12m",
            dtype="float64",
            description=f"Total recorded cost in pounds of all contacts in the last {m} months.",
            phrase=f"£{{value:,.0f}} of recorded care in the last {m} months",
            kind="money",
            group="cost",
            direction="raises",
            sql=lambda q: q.cost(0, m),
            reference=lambda r: r.cost(0, m),
            none=f"No recorded care costs in the last {m} months",
            history_months=m,
        ),
    ]


def _social_need_specs() -> list[FeatureSpec]:
    specs = []
    for need in SOCIAL_NEEDS:
        label, absent = SOCIAL_NEED_LABELS[need]
        lower = label[0].lower() + label[1:]
        specs.append(
            FeatureSpec(
                name=f"sn_{need}",
                dtype="float64",
                description=f"1 if a code for {lower} is active at the index date, else 0.",
                phrase=label,
                kind="flag",
                group="social_need",
                direction="raises",
                sql=lambda q, n=need: q.code_flag("social_need", n),
                reference=lambda r, n=need: r.code_flag("social_need", n),
                need=need,
                none=absent,
                onset=f"sn_{need}_months",
            )
        )
        specs.append(
            FeatureSpec(
                name=f"sn_{need}_months",
                dtype="float64",
                description=f"Months since the active {lower} record started (days / {DAYS_PER_MONTH}); "
                "missing if not active.",
                phrase=f"{label}, recorded {{value:.0f}} months ago",
                kind="months_since",
                group="social_need",
                direction="either",
                sql=lambda q, n=need: q.months_since_onset("social_need", n),
                reference=lambda r, n=need: r.months_since_onset("social_need", n),
                need=need,
                none=absent,
            )
        )
    return specs


def _condition_specs() -> list[FeatureSpec]:
    specs = [
        FeatureSpec(
            name="ltc_count",
            dtype="float64",
            description="Number of long-term conditions (from the condition code lists) active at the index date.",
            phrase="{value:.0f} long-term conditions",
            kind="count",
            group="condition",
            direction="raises",
            sql=lambda q: " + ".join(q.code_flag("condition", c) for c in CONDITIONS),
            reference=lambda r: r.distinct_categories("condition"),
            singular="1 long-term condition",
            none="No long-term conditions recorded",
        )
    ]
    for condition in CONDITIONS:
        label = CONDITION_LABELS[condition]
        specs.append(
            FeatureSpec(
                name=f"ltc_{condition}",
                dtype="float64",
                description=f"1 if a code for {label} is active at the index date, else 0.",
                phrase=f"Has {label}",
                kind="flag",
                group="condition",
                direction="raises",
                sql=lambda q, c=condition: q.code_flag("condition", c),
                reference=lambda r, c=condition: r.code_flag("condition", c),
                none=f"No record of {label}",
            )
        )
    return specs


def _person_specs(config: FeatureConfig) -> list[FeatureSpec]:
    specs = [
        FeatureSpec(
            "age", "float64", "Age in whole years at the index date.", "Aged {value:.0f}", "number", "demographic",
            "either", sql=lambda q: q.age(), reference=lambda r: r.age(), none="Age not known",
        ),
        FeatureSpec(
            "sex_female", "float64", "1 if recorded sex is female, else 0.", "Female", "flag", "demographic", "either",
            sql=lambda q: f"CASE WHEN {q.person('sex')} = 'F' THEN 1 WHEN {q.person('sex')} IS NULL THEN NULL ELSE 0 END",
            reference=lambda r: (r.people["sex"] == "F").astype(float).where(r.people["sex"].notna()),
            none="Not recorded as female",
        ),
        FeatureSpec(
            "imd_decile",
            "float64",
            "Index of Multiple Deprivation decile of the home area, 1 = most deprived, 10 = least; missing if unknown.",
            "Lives in an area of deprivation decile {value:.0f} (1 = most deprived, 10 = least)",
            "number",
            "demographic",
            # Demographics are not constrained: deprivation's association with use is strong but an
            # area attribute should not be forced into the model's shape (the equity audit reads it).
            "either",
            sql=lambda q: q.person("imd_decile"),
            reference=lambda r: r.people["imd_decile"].astype(float),
            none="Deprivation of home area not known",
        ),
        FeatureSpec(
            "months_registered",
            "float64",
            f"Months registered with the current practice at the index date (days / {DAYS_PER_MONTH}).",
            "Registered with the practice for {value:.0f} months",
            "number",
            "registration",
            "either",
            sql=lambda q: q.months_since(q.person("registered_from")),
            reference=lambda r: r.months_since(r.people["registered_from"]),
            none="Registration date not known",
        ),
    ]
    if config.use_ethnicity:
        for group in ETHNIC_GROUPS:
            specs.append(
                FeatureSpec(
                    f"ethnic_{group.lower()}", "float64", f"1 if ethnic group is recorded as {group}, else 0.",
                    f"Ethnic group recorded as {group}", "flag", "demographic", "either",
                    sql=lambda q, g=group: (
                        f"CASE WHEN {q.person('ethnic_group')} = '{g}' THEN 1 "
                        f"WHEN {q.person('person_id')} IS NULL THEN NULL ELSE 0 END"
                    ),
                    reference=lambda r, g=group: (r.people["ethnic_group"] == g).astype(float),
                    none=f"Ethnic group not {group}",
                )
            )
    if config.use_neighbourhood:
        specs.append(
            FeatureSpec(
                "neighbourhood_code", "category", "Integrated neighbourhood of the person's practice, as a category.",
                "Lives in neighbourhood {value}", "category", "demographic", "either",
                sql=lambda q: q.person("neighbourhood"),
                reference=lambda r: r.people["neighbourhood"],
            )
        )
    return specs


#: The predictor families, in column order; each turns a config into its declarations. To add a
#: predictor, add its :class:`FeatureSpec` to a family (or a new family here).
FAMILIES: list[Callable[[FeatureConfig], list[FeatureSpec]]] = [
    _count_specs,
    _trend_specs,
    _recency_specs,
    _use_specs,
    lambda _config: _social_need_specs(),
    lambda _config: _condition_specs(),
    _person_specs,
]


def predictor_specs(config: FeatureConfig | None = None) -> dict[str, FeatureSpec]:
    """Return every predictor under ``config`` (default config if ``None``), in column order."""
    config = config or FeatureConfig()
    return {spec.name: spec for family in FAMILIES for spec in family(config)}


def predictor_names(config: FeatureConfig | None = None) -> list[str]:
    """Return the predictor column names under ``config``, in the feature table's column order."""
    return list(predictor_specs(config))


#: Registry of the predictors under the default windows, including the optional ethnicity and
#: neighbourhood predictors (which are only *used* when the config switches them on).
PREDICTORS: dict[str, FeatureSpec] = predictor_specs(FeatureConfig(use_ethnicity=True, use_neighbourhood=True))


def onset_date(as_of: date, months: float) -> date:
    """Recover the onset day from a ``*_months`` value (days since onset / DAYS_PER_MONTH)."""
    return as_of - timedelta(days=round(months * DAYS_PER_MONTH))


#: Kinds whose value 0 reads as the ``none`` text ("No A&E attendances ..."); for numbers like age, 0 is a value.
_ZERO_MEANS_NONE = frozenset({"count", "trend", "flag", "money"})


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "<NA>"


def describe(
    name: str,
    value: Any,
    *,
    row: Mapping[str, Any] | None = None,
    as_of: date | None = None,
    specs: Mapping[str, FeatureSpec] | None = None,
) -> str:
    """Plain-English text for one feature value, as a clinician reads it.

    Parameters
    ----------
    name, value
        The feature and the person's value.
    row
        The person's other feature values; adds the preceding window for counts
        ("4 A&E attendances in the last 3 months (none in the 3 months before)").
    as_of
        The index date; with ``row`` it turns a social need's onset into a month
        ("Housing insecurity (since March 2026)").
    specs
        Registry to look ``name`` up in; defaults to :data:`PREDICTORS`.
    """
    spec = (specs or PREDICTORS)[name]
    if _missing(value):
        return spec.none or f"{spec.description.split(';')[0].rstrip('.')}: not recorded"
    if spec.kind in _ZERO_MEANS_NONE and float(value) == 0 and spec.none:
        return spec.none
    if spec.kind == "flag":
        text = spec.phrase
        if spec.onset and row is not None and as_of is not None and not _missing(row.get(spec.onset)):
            text += f" (since {onset_date(as_of, float(row[spec.onset])):%B %Y})"
        return text
    if spec.singular and float(value) == 1:
        text = spec.singular
    else:
        text = spec.phrase.format(value=value)
    if spec.context and row is not None and not _missing(row.get(spec.context)):
        earlier = float(row[spec.context])
        count = "none" if earlier == 0 else f"{earlier:.0f}"
        text += f" ({spec.context_phrase.format(count=count)})"
    return text
