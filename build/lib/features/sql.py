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

from features.config import FeatureConfig
from features.contract import AGE_BANDS, SETTINGS
from features.definitions import predictor_specs
from features.sources import code_active, event_known, sql_string
from features.sql_terms import Plan, SqlTerms

__all__ = ["Plan", "plan", "statements", "lookback_offsets"]

#: DuckDB type of each predictor dtype.
_SQL_TYPES: dict[str, str] = {"float64": "DOUBLE", "category": "VARCHAR"}


def lookback_offsets(config: FeatureConfig) -> tuple[int, ...]:
    """Every month offset before T that some window starts or ends at, ascending from 0."""
    edges = {0, config.trend_months, 2 * config.trend_months, config.recent_months, config.already_hiu_months}
    for start, end in config.windows:
        edges.update((start, end))
    return tuple(sorted(edges))


def plan(config: FeatureConfig) -> Plan:
    """Return the window plan of ``config``: the cohort's edges and every edge a declared predictor asks for."""
    collector = SqlTerms(None)
    for spec in predictor_specs(config).values():
        spec.sql(collector)
    return Plan(tuple(sorted(set(lookback_offsets(config)) | collector.edges)))


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


def _event_aggregates(terms: SqlTerms, p: Plan, labels: bool) -> str:
    cols = []
    for setting in SETTINGS:
        for k in range(p.n_buckets):
            cols.append(f"COUNT(CASE WHEN slot = {p.slot(setting, k)} THEN 1 END) AS n_{setting}_{k}")
    cols.extend(f"{aggregate} AS {name}" for name, aggregate in terms.event_aggregates.items())
    if labels:
        for setting in ("ed", "emergency_admission", "ambulance", "nhs111"):
            cols.append(f"COUNT(CASE WHEN slot = {p.slot(setting, p.outcome_bucket)} THEN 1 END) AS out_{setting}")
    body = ",\n  ".join(cols)
    return f"""
SELECT person_id, as_of,
  {body}
FROM event_rows
GROUP BY person_id, as_of"""


def _code_aggregates(terms: SqlTerms) -> str:
    body = ",\n  ".join(f"{aggregate} AS {name}" for name, aggregate in terms.code_aggregates.items())
    return f"""
SELECT i.person_id AS person_id, i.as_of AS as_of,
  {body}
FROM idx AS i
JOIN coded AS c ON c.person_id = i.person_id
WHERE {code_active("c", "i.as_of")}
GROUP BY i.person_id, i.as_of"""


def _final(config: FeatureConfig, terms: SqlTerms, labels: bool) -> str:
    predictors = [
        f"CAST({spec.sql(terms)} AS {_SQL_TYPES[spec.dtype]}) AS {name}" for name, spec in predictor_specs(config).items()
    ]
    age = terms.age()
    reasons = [
        "WHEN p.person_id IS NULL THEN 'not_registered'",
        "WHEN p.death_date IS NOT NULL AND p.death_date <= i.as_of THEN 'deceased'",
        "WHEN p.registered_from > i.as_of OR (p.registered_to IS NOT NULL AND p.registered_to <= i.as_of) "
        "THEN 'not_registered'",
    ]
    if config.min_age is not None:
        reasons.append(f"WHEN {age} < {config.min_age} THEN 'outside_age_range'")
    if config.max_age is not None:
        reasons.append(f"WHEN {age} > {config.max_age} THEN 'outside_age_range'")
    for reason in config.exclusions:
        if reason == "already_hiu":
            hiu = terms.count("ed", 0, config.already_hiu_months)
            reasons.append(f"WHEN {hiu} >= {config.already_hiu_ed} THEN 'already_hiu'")
        else:
            reasons.append(f"WHEN {terms.code_flag('status', reason)} = 1 THEN {sql_string(reason)}")
    reason_sql = "CASE\n    " + "\n    ".join(reasons) + "\n  END"

    bands = " ".join(f"WHEN {age} >= {low} THEN '{label}'" for label, low in reversed(AGE_BANDS))
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
    terms = SqlTerms(p)
    final = _final(config, terms, labels)  # first, so ``terms`` records every aggregate the predictors use
    return [
        *_sources(),
        ("idx", _index(index_mode)),
        ("event_rows", _event_rows(p, labels)),
        ("event_aggregates", _event_aggregates(terms, p, labels)),
        ("code_aggregates", _code_aggregates(terms)),
        ("feature_table", final),
    ]
