"""The feature definitions as portable SQL (DuckDB dialect, transpilable to Spark with SQLGlot), generated from a FeatureConfig.

Every statement reads only these relations, which a backend registers before running them:

- ``src_persons``, ``src_events``, ``src_codes``: the contract tables in the contract's types,
  from :func:`features.sources.register_tables` (absent optional columns NULL, ``recorded_at`` defaulted);
- ``codelist``: ``code, code_system, grp, category`` from :func:`features.codelists.load_codelists`;
- ``bounds``: one row per distinct index date with the window edges precomputed
  (``lb_<k>`` = T - k months, ``ob_start``/``ob_end`` = outcome window edges, ``covered`` = the
  data cover the whole outcome window), so no month arithmetic happens in SQL;
- ``idx_in`` (index mode only): the caller's ``person_id, as_of`` rows.

Statements are returned in dependency order as ``(name, select)`` pairs; the backend makes each a
view named ``name``. Two clocks (:func:`features.sources.event_known`, :func:`features.sources.code_active`):
an event counts at T only if ``event_date < T`` and ``recorded_at <= T``; a code is active at T if
``start_date < T``, ``recorded_at <= T`` and ``end_date`` is empty or ``>= T``. Outcome events
count by ``event_date`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.codelists import CONDITIONS, SOCIAL_NEEDS
from features.config import FeatureConfig
from features.contract import ETHNIC_GROUPS, SETTINGS
from features.definitions import DAYS_PER_MONTH, predictor_specs, window_name
from features.sources import code_active, event_known

__all__ = ["AGE_BANDS", "Plan", "plan", "statements", "lookback_offsets"]

#: DOMAIN age bands: (label, lowest age in the band).
AGE_BANDS: tuple[tuple[str, int], ...] = (
    ("0-4", 0), ("5-11", 5), ("12-17", 12), ("18-29", 18), ("30-44", 30), ("45-64", 45), ("65+", 65),
)


@dataclass(frozen=True)
class Plan:
    """The window arithmetic of a config: lookback offsets (months) and the elementary buckets between them."""

    offsets: tuple[int, ...]

    @property
    def n_buckets(self) -> int:
        """Number of lookback buckets (numbered 0 = most recent upwards)."""
        return len(self.offsets) - 1

    @property
    def outcome_bucket(self) -> int:
        """Bucket number of the outcome window (after the lookback buckets)."""
        return self.n_buckets

    @property
    def slot_width(self) -> int:
        """Buckets per setting in the ``slot`` id: the lookback buckets plus the outcome bucket."""
        return self.n_buckets + 1

    def buckets(self, start: int, end: int) -> list[int]:
        """Bucket numbers making up the lookback window ``[T - end, T - start)`` months."""
        return [k for k in range(len(self.offsets) - 1) if self.offsets[k] >= start and self.offsets[k + 1] <= end]


def lookback_offsets(config: FeatureConfig) -> tuple[int, ...]:
    """Every month offset before T that some window starts or ends at, ascending from 0."""
    edges = {0, config.trend_months, 2 * config.trend_months, config.recent_months, config.already_hiu_months}
    for start, end in config.windows:
        edges.update((start, end))
    return tuple(sorted(edges))


def plan(config: FeatureConfig) -> Plan:
    """Return the window plan of ``config``."""
    return Plan(lookback_offsets(config))


def _sum(columns: list[str]) -> str:
    return " + ".join(columns) if columns else "0"


def _sources() -> list[tuple[str, str]]:
    setting_ids = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SETTINGS))
    events = f"""
SELECT person_id, event_date, setting, CASE setting {setting_ids} END AS setting_id, recorded_at, cost_gbp
FROM src_events"""
    codes = """
SELECT c.person_id AS person_id, l.grp AS grp, l.category AS category,
  c.start_date AS start_date, c.end_date AS end_date, c.recorded_at AS recorded_at
FROM src_codes AS c
JOIN codelist AS l
  ON TRIM(c.code) = l.code
  AND LOWER(COALESCE(NULLIF(TRIM(c.code_system), ''), 'snomed')) = l.code_system"""
    return [("persons", "SELECT * FROM src_persons"), ("events", events), ("coded", codes)]


def _index(index_mode: bool) -> str:
    if index_mode:
        return """
SELECT CAST(person_id AS VARCHAR) AS person_id, CAST(as_of AS TIMESTAMP) AS as_of FROM idx_in"""
    return """
SELECT p.person_id AS person_id, b.as_of AS as_of
FROM persons AS p
CROSS JOIN bounds AS b
WHERE p.registered_from <= b.as_of
  AND (p.registered_to IS NULL OR p.registered_to > b.as_of)
  AND (p.death_date IS NULL OR p.death_date > b.as_of)"""


def _slot(setting: str, bucket: int, p: Plan) -> int:
    """Integer id of (setting, bucket): one int comparison per aggregate instead of two string/int ones."""
    return SETTINGS.index(setting) * p.slot_width + bucket


def _event_rows(p: Plan, labels: bool) -> str:
    """Each event paired with each index date whose lookback or outcome window holds it, with its bucket and slot.

    Rows recorded after T get a NULL bucket and slot, which no aggregate counts (cheaper than
    filtering them, which would evaluate the bucket ladder twice).
    """
    offsets = p.offsets
    ladder = "\n".join(
        f"        WHEN e.event_date >= b.lb_{offsets[k + 1]} THEN {k}" for k in range(len(offsets) - 1)
    )
    past = f"""WHEN {event_known("e", "b.as_of")} THEN
      CASE
{ladder}
      END"""
    outcome = f"WHEN e.event_date >= b.ob_start AND e.event_date < b.ob_end THEN {p.outcome_bucket}\n    " if labels else ""
    in_outcome = " OR (e.event_date >= b.ob_start AND e.event_date < b.ob_end)" if labels else ""
    return f"""
SELECT person_id, as_of, event_date, cost_gbp, bucket, setting_id * {p.slot_width} + bucket AS slot
FROM (
  SELECT i.person_id AS person_id, i.as_of AS as_of, e.setting_id AS setting_id, e.event_date AS event_date,
    e.cost_gbp AS cost_gbp,
    CASE
      {outcome}{past}
    END AS bucket
  FROM idx AS i
  JOIN bounds AS b ON b.as_of = i.as_of
  JOIN events AS e ON e.person_id = i.person_id
  WHERE e.event_date >= b.lb_{offsets[-1]} AND (e.event_date < b.as_of{in_outcome})
) AS bucketed"""


def _event_aggregates(config: FeatureConfig, p: Plan, labels: bool) -> str:
    cols = []
    for setting in SETTINGS:
        for k in range(p.n_buckets):
            cols.append(f"COUNT(CASE WHEN slot = {_slot(setting, k, p)} THEN 1 END) AS n_{setting}_{k}")
    recent = p.buckets(0, config.recent_months)
    cols.append(f"SUM(CASE WHEN bucket BETWEEN {min(recent)} AND {max(recent)} THEN cost_gbp END) AS cost_recent")
    lookback = p.buckets(0, max(b for _, b in config.windows))
    for setting in config.recency_settings:
        low, high = _slot(setting, min(lookback), p), _slot(setting, max(lookback), p)
        cols.append(f"MAX(CASE WHEN slot BETWEEN {low} AND {high} THEN event_date END) AS last_{setting}")
    if labels:
        for setting in ("ed", "emergency_admission", "ambulance", "nhs111"):
            cols.append(f"COUNT(CASE WHEN slot = {_slot(setting, p.outcome_bucket, p)} THEN 1 END) AS out_{setting}")
    body = ",\n  ".join(cols)
    return f"""
SELECT person_id, as_of,
  {body}
FROM event_rows
GROUP BY person_id, as_of"""


def _code_aggregates() -> str:
    cols = []
    for need in SOCIAL_NEEDS:
        cond = f"grp = 'social_need' AND category = '{need}'"
        cols.append(f"MAX(CASE WHEN {cond} THEN 1 ELSE 0 END) AS sn_{need}")
        cols.append(f"MIN(CASE WHEN {cond} THEN start_date END) AS onset_{need}")
    for condition in CONDITIONS:
        cols.append(f"MAX(CASE WHEN grp = 'condition' AND category = '{condition}' THEN 1 ELSE 0 END) AS ltc_{condition}")
    for status in ("end_of_life", "nursing_home", "integrated_care_pathway"):
        cols.append(f"MAX(CASE WHEN grp = 'status' AND category = '{status}' THEN 1 ELSE 0 END) AS status_{status}")
    body = ",\n  ".join(cols)
    return f"""
SELECT i.person_id AS person_id, i.as_of AS as_of,
  {body}
FROM idx AS i
JOIN coded AS c ON c.person_id = i.person_id
WHERE {code_active("c", "i.as_of")}
GROUP BY i.person_id, i.as_of"""


def _age_sql() -> str:
    return (
        "(YEAR(i.as_of) - YEAR(p.birth_date) - CASE WHEN MONTH(i.as_of) * 100 + DAY(i.as_of) "
        "< MONTH(p.birth_date) * 100 + DAY(p.birth_date) THEN 1 ELSE 0 END)"
    )


def _n(setting: str, bucket: int) -> str:
    """SQL for the count of ``setting`` events in lookback ``bucket`` (0 when the person has none)."""
    return f"COALESCE(ea.n_{setting}_{bucket}, 0)"


def _final(config: FeatureConfig, p: Plan, labels: bool) -> str:
    exprs: dict[str, str] = {}
    for setting in SETTINGS:
        for window in config.windows:
            exprs[window_name(setting, window)] = _sum([_n(setting, k) for k in p.buckets(*window)])
    tm = config.trend_months
    for setting in config.trend_settings:
        recent = _sum([_n(setting, k) for k in p.buckets(0, tm)])
        before = _sum([_n(setting, k) for k in p.buckets(tm, 2 * tm)])
        exprs[f"{setting}_trend"] = f"({recent}) - ({before})"
    for setting in config.recency_settings:
        exprs[f"days_since_{setting}"] = (
            f"DATE_DIFF('day', CAST(ea.last_{setting} AS DATE), CAST(i.as_of AS DATE))"
        )
    recent_buckets = p.buckets(0, config.recent_months)
    exprs["settings_used_12m"] = _sum(
        [f"CASE WHEN {_sum([_n(s, k) for k in recent_buckets])} > 0 THEN 1 ELSE 0 END" for s in SETTINGS]
    )
    exprs["cost_12m"] = "COALESCE(ea.cost_recent, 0)"
    for need in SOCIAL_NEEDS:
        exprs[f"sn_{need}"] = f"COALESCE(ca.sn_{need}, 0)"
        exprs[f"sn_{need}_months"] = f"DATE_DIFF('day', ca.onset_{need}, CAST(i.as_of AS DATE)) / {DAYS_PER_MONTH}"
    exprs["ltc_count"] = _sum([f"COALESCE(ca.ltc_{c}, 0)" for c in CONDITIONS])
    for condition in CONDITIONS:
        exprs[f"ltc_{condition}"] = f"COALESCE(ca.ltc_{condition}, 0)"
    exprs["age"] = _age_sql()
    exprs["sex_female"] = "CASE WHEN p.sex = 'F' THEN 1 WHEN p.sex IS NULL THEN NULL ELSE 0 END"
    exprs["imd_decile"] = "p.imd_decile"
    exprs["months_registered"] = f"DATE_DIFF('day', p.registered_from, CAST(i.as_of AS DATE)) / {DAYS_PER_MONTH}"
    for group in ETHNIC_GROUPS:
        exprs[f"ethnic_{group.lower()}"] = (
            f"CASE WHEN p.ethnic_group = '{group}' THEN 1 WHEN p.person_id IS NULL THEN NULL ELSE 0 END"
        )
    exprs["neighbourhood_code"] = "p.neighbourhood"
    sql_types = {"float64": "DOUBLE", "category": "VARCHAR"}
    specs = predictor_specs(config)
    predictors = [f"CAST({exprs[name]} AS {sql_types[spec.dtype]}) AS {name}" for name, spec in specs.items()]

    reasons = [
        "WHEN p.person_id IS NULL THEN 'not_registered'",
        "WHEN p.death_date IS NOT NULL AND p.death_date <= i.as_of THEN 'deceased'",
        "WHEN p.registered_from > i.as_of OR (p.registered_to IS NOT NULL AND p.registered_to <= i.as_of) "
        "THEN 'not_registered'",
    ]
    if config.min_age is not None:
        reasons.append(f"WHEN {_age_sql()} < {config.min_age} THEN 'outside_age_range'")
    if config.max_age is not None:
        reasons.append(f"WHEN {_age_sql()} > {config.max_age} THEN 'outside_age_range'")
    hiu = _sum([_n("ed", k) for k in p.buckets(0, config.already_hiu_months)])
    for reason in config.exclusions:
        if reason == "already_hiu":
            reasons.append(f"WHEN {hiu} >= {config.already_hiu_ed} THEN 'already_hiu'")
        else:
            reasons.append(f"WHEN COALESCE(ca.status_{reason}, 0) = 1 THEN '{reason}'")
    reason_sql = "CASE\n    " + "\n    ".join(reasons) + "\n  END"

    bands = " ".join(f"WHEN {_age_sql()} >= {low} THEN '{label}'" for label, low in reversed(AGE_BANDS))
    carried = [
        "p.neighbourhood AS neighbourhood",
        "p.practice AS practice",
        "p.sex AS sex",
        "p.ethnic_group AS ethnic_group",
        "CAST(FLOOR((p.imd_decile + 1) / 2) AS INTEGER) AS imd_quintile",
        f"CASE {bands} END AS age_band",
        f"{reason_sql} AS excluded_reason",
    ]
    label_cols = []
    joins = ""
    if labels:
        followed = (
            "(p.registered_to IS NULL OR p.registered_to >= b.ob_end) "
            "AND (p.death_date IS NULL OR p.death_date >= b.ob_end)"
        )
        hiu_met = (
            f"(COALESCE(ea.out_ed, 0) >= {config.hiu_ed} "
            f"OR COALESCE(ea.out_emergency_admission, 0) >= {config.hiu_emergency_admission} "
            f"OR COALESCE(ea.out_ambulance, 0) + COALESCE(ea.out_nhs111, 0) >= {config.hiu_ambulance_111})"
        )
        ea_met = f"(COALESCE(ea.out_emergency_admission, 0) >= {config.emergency_admission_min})"
        for name, met in (("high_intensity_use", hiu_met), ("emergency_admission", ea_met)):
            label_cols.append(
                f"CASE WHEN NOT b.covered OR p.person_id IS NULL THEN NULL WHEN {met} THEN 1 "
                f"WHEN {followed} THEN 0 ELSE NULL END AS label_{name}"
            )
        joins = "\nJOIN bounds AS b ON b.as_of = i.as_of"
    columns = ",\n  ".join(["i.person_id AS person_id", "i.as_of AS as_of", *carried, *predictors, *label_cols])
    return f"""
SELECT
  {columns}
FROM idx AS i
LEFT JOIN persons AS p ON p.person_id = i.person_id
LEFT JOIN event_aggregates AS ea ON ea.person_id = i.person_id AND ea.as_of = i.as_of
LEFT JOIN code_aggregates AS ca ON ca.person_id = i.person_id AND ca.as_of = i.as_of{joins}"""


def statements(config: FeatureConfig, *, labels: bool, index_mode: bool) -> list[tuple[str, str]]:
    """Return the feature pipeline as ``(view name, SELECT)`` pairs in dependency order; the last is the table.

    Parameters
    ----------
    config
        Windows, thresholds and exclusions.
    labels
        Add the outcome-window counts and the ``label_*`` columns. Outcome events count by
        ``event_date`` whenever recorded, so labels must never be used as predictors.
    index_mode
        Read the caller's index from ``idx_in``; otherwise the index is everyone registered and
        alive at each date in ``bounds``.
    """
    p = plan(config)
    return [
        *_sources(),
        ("idx", _index(index_mode)),
        ("event_rows", _event_rows(p, labels)),
        ("event_aggregates", _event_aggregates(config, p, labels)),
        ("code_aggregates", _code_aggregates()),
        ("feature_table", _final(config, p, labels)),
    ]
