"""Batch scoring: score every eligible person as of a date, rank capacity-sized neighbourhood lists, explain and publish."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import numpy as np
import pandas as pd
from pydantic import Field, ValidationInfo, field_validator

from features.caseload import ACTION_COLUMNS, CaseloadConfig, as_of_moment, statuses
from features.config import FeatureConfig
from features.dates import TIMELINE_MONTHS, add_months
from features.definitions import predictor_specs
from features.errors import ConfigError
from features.sources import event_known, typed_sql
from features.typed_config import TypedConfig
from models.explain import explain_rows
from models.risk_model import RiskModel
from serving.capacity import CapacityConfig, list_sizes, neighbourhood_stats
from serving.caseload_policy import apply_caseload_to_lists, caseload_counts
from serving.errors import ScoreConfigError, ScoringError
from serving.holdout import (
    ARMS, CANDIDATE_COLUMNS, HOLDOUT_COLUMNS, HOLDOUT_REASON, assign_arms, candidate_record, holdout_months, holdout_record,
)
from serving.list_policy import choose_listed
from training.list_policy import ListsConfig

__all__ = [
    "RiskBands",
    "ScoreConfig",
    "ScoredPopulation",
    "ScoringRun",
    "score_population",
    "build_timeline",
    "LIST_DETAILS",
    "list_details",
]

#: Columns :func:`list_details` adds to a publication's lists for the team's export.
LIST_DETAILS = ("nhs_number", "age", "sex", "practice")

_KEYS = ("person_id", "as_of", "neighbourhood", "in_cohort", "excluded_reason")


class RiskBands(TypedConfig):
    """Risk band from the overall percentile (share of eligible people scoring at or below the person, 0-100).

    A person is in ``labels[k]`` where ``k`` is the number of ``cuts`` their percentile reaches:
    by default below 80 "low", 80 to < 95 "moderate", 95 to < 99 "high", 99 and above "very high"
    (the top 1%, where the 6-per-1,000 lists fall).
    """

    error: ClassVar[type[ConfigError]] = ScoreConfigError

    cuts: tuple[float, ...] = Field((80.0, 95.0, 99.0), description="Ascending overall percentiles (0-100) where the next band starts.")
    labels: tuple[str, ...] = Field(
        ("low", "moderate", "high", "very high"), description="Band names, lowest first: one more than there are cuts."
    )

    @field_validator("cuts")
    @classmethod
    def _cuts_ascend(cls, cuts: tuple[float, ...]) -> tuple[float, ...]:
        if list(cuts) != sorted(cuts) or not all(0 <= c <= 100 for c in cuts):
            raise ValueError(f"must be ascending percentiles between 0 and 100; got {list(cuts)}. Use e.g. [80, 95, 99].")
        return cuts

    @field_validator("labels")
    @classmethod
    def _one_label_per_band(cls, labels: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        cuts = info.data.get("cuts")
        if cuts is not None and len(labels) != len(cuts) + 1:
            raise ValueError(
                f"must name one more band than there are cuts ({len(cuts)}); got {len(labels)}: {list(labels)}. "
                f"Give {len(cuts) + 1} labels, lowest band first."
            )
        return labels

    def band(self, percentile: np.ndarray) -> np.ndarray:
        """Band label for each percentile."""
        return np.asarray(self.labels, dtype=object)[np.searchsorted(np.asarray(self.cuts), percentile, side="right")]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for publication metadata."""
        return {"by": "percentile_overall", "cuts": list(self.cuts), "labels": list(self.labels)}


class ScoreConfig(TypedConfig):
    """Scoring settings: list capacity, risk bands, reasons kept per listed person, timeline length, caseload rules, list policy.

    Built by ``risingrisk score`` from its options (capacity, ``[caseload]``) and the model's registered ``[lists]`` policy.
    """

    error: ClassVar[type[ConfigError]] = ScoreConfigError

    capacity: CapacityConfig = Field(default_factory=CapacityConfig, description="List size per neighbourhood (serving.capacity.CapacityConfig).")
    bands: RiskBands = Field(default_factory=RiskBands, description="Risk bands by overall percentile.")
    top_reasons: int = Field(5, ge=1, description="Reasons (largest contributions first) kept per listed person.")
    timeline_months: int = Field(TIMELINE_MONTHS, ge=1, description="Months of service use in each listed person's timeline.")
    caseload: CaseloadConfig = Field(
        default_factory=CaseloadConfig, description="How the teams' caseload actions hold people back (features.caseload.CaseloadConfig)."
    )
    lists: ListsConfig = Field(default_factory=ListsConfig, description="List policy and randomised holdout (training.list_policy.ListsConfig).")


@dataclass(frozen=True)
class ScoredPopulation:
    """Everything a publication holds except the timeline, with the row accounting.

    ``caseload`` counts what the teams' actions did to the lists (see
    :class:`serving.caseload_policy.CaseloadListing`); all zero without actions.
    ``holdout`` is every would-be-listed person with their arm and ``candidates`` the ranked people
    around each capacity cut (:mod:`serving.holdout`; written as ``holdout.parquet`` and ``candidates.parquet``).
    """

    population: pd.DataFrame
    lists: pd.DataFrame
    features: pd.DataFrame
    capacity: dict[str, int]
    rows_in: int
    rows_scored: int
    rows_excluded: int
    rows_without_neighbourhood: int
    base_score: float | None
    seconds: dict[str, float] = field(default_factory=dict)
    caseload: dict[str, int] = field(default_factory=dict)
    holdout: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(HOLDOUT_COLUMNS)))
    candidates: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CANDIDATE_COLUMNS)))

    @property
    def holdout_counts(self) -> dict[str, int]:
        """People the list policy would have listed, how many of them are in each arm, and how many were drawn at this scoring."""
        arms = self.holdout["arm"].value_counts()
        drawn = int((self.holdout["first_assigned"] == self.holdout["listed_at"]).sum())
        return {"would_be_listed": len(self.holdout), **{arm: int(arms.get(arm, 0)) for arm in ARMS}, "newly_assigned": drawn}

    @property
    def list_sizes(self) -> dict[str, int]:
        """Number of people actually on each neighbourhood's list (at most its capacity)."""
        counts = self.lists.groupby("neighbourhood").size()
        return {n: int(counts.get(n, 0)) for n in self.capacity}


def _actions_at(actions: pd.DataFrame | None, as_of: date) -> pd.DataFrame:
    """The actions recorded at or before ``as_of`` (point in time); an empty frame for None."""
    if actions is None or actions.empty:
        return pd.DataFrame(columns=list(ACTION_COLUMNS))
    return actions.loc[pd.to_datetime(actions["recorded_at"], utc=True) <= pd.Timestamp(as_of_moment(as_of))]


def _given_log_odds(given: pd.Series, person_ids: pd.Series) -> np.ndarray:
    """The precomputed log-odds of ``person_ids``, in their order; every one must be present."""
    values = given.reindex(person_ids.astype("str").to_numpy())
    if values.isna().any():
        raise ScoringError(
            f"log_odds must hold every eligible person; got none for {int(values.isna().sum())} of {len(values)}. "
            "Score the same feature table the population comes from."
        )
    return values.to_numpy(dtype="float64")


def _percentile(score: pd.Series) -> pd.Series:
    return score.rank(method="max", pct=True) * 100.0


def score_population(
    table: pd.DataFrame,
    model: RiskModel,
    *,
    config: ScoreConfig | None = None,
    previous_lists: pd.DataFrame | None = None,
    feature_config: FeatureConfig | None = None,
    actions: pd.DataFrame | None = None,
    earlier: pd.Series | None = None,
    log_odds: pd.Series | None = None,
    earlier_holdout: pd.DataFrame | None = None,
) -> ScoredPopulation:
    """Score every eligible person in a feature table and rank each neighbourhood's list.

    Parameters
    ----------
    table
        ``features.build.build_features`` output for one ``as_of`` date: every person registered
        and alive at that date, with ``in_cohort`` / ``excluded_reason`` and the model's features.
    model
        A fitted, calibrated ``RiskModel``; the score is its calibrated probability.
    config
        Capacity, risk bands and number of reasons kept per listed person.
    previous_lists
        The previous publication's ``lists`` (``neighbourhood, person_id``); people not on their
        neighbourhood's previous list are ``is_new``. ``None`` = everybody listed is new.
    feature_config
        The model's feature config, whose predictor declarations word the reasons (``None`` = default).
    actions
        The teams' caseload actions (:func:`features.caseload.read_actions`); only those recorded by the
        scoring date count. Enrolled and recently declined people are held back before the list policy fills places.
        With ``config.lists.holdout_fraction`` > 0, a random, recorded share of the people the policy
        chose is then kept off the lists (``excluded_reason`` "randomised holdout"); their places are
        not refilled, so the comparison stays within one would-be-listed set (:mod:`serving.holdout`).
    earlier
        List policy ``rising``: each person's score ``config.lists.rising_months`` earlier, indexed by person_id (missing = none).
    log_odds
        The booster's log-odds of every eligible person, indexed by person_id, already computed
        where the features are (Spark: :func:`serving.spark_scoring.score_dataframe`); ``None`` =
        predicted here with ``model``. Either way the score is ``model.probability(log_odds)``.
    earlier_holdout
        The earlier publications' holdout records (:func:`serving.holdout.holdout_history`; only rows
        listed before the scoring date count): a would-be-listed person already assigned keeps their
        arm until their holdout period ends, then is released; only people new to the would-be lists
        are drawn. ``None`` = no earlier records.

    Returns
    -------
    ScoredPopulation
        ``population`` (every input row; excluded people have no score, band or list rank),
        ``lists`` (ranked by score, ties by the booster's log-odds then person_id; sized by capacity), ``features`` (model
        features of every scored person) and counts.

    Raises
    ------
    ScoringError
        If a key column or a model feature is missing, a person appears twice, or ``log_odds``
        lacks an eligible person.
    """
    config = config or ScoreConfig()
    missing = [c for c in (*_KEYS, *model.feature_names_) if c not in table.columns]
    if missing:
        raise ScoringError(
            f"the feature table must hold the key columns and every model feature; missing {missing[:8]}. "
            "Build it with features.build.build_features using the model's feature config."
        )
    if table["person_id"].duplicated().any():
        raise ScoringError(
            "the feature table must hold one row per person (one as_of date); got repeated person_ids. "
            "Pass a single as_of date to build_features."
        )
    if not table["person_id"].is_monotonic_increasing:
        table = table.sort_values("person_id", kind="stable")
    table = table.reset_index(drop=True)
    eligible = table["in_cohort"].fillna(False).astype(bool).to_numpy()
    scored = table.loc[eligible]
    score = pd.Series(np.nan, index=table.index, dtype="float64")
    # Isotonic calibration maps many log-odds to one probability: ties on the displayed score are
    # ranked by the booster's own log-odds, which keeps the model's ordering within a step.
    given, log_odds = log_odds, pd.Series(np.nan, index=table.index, dtype="float64")
    started = time.perf_counter()
    if len(scored):
        log_odds.loc[scored.index] = model.predict_log_odds(scored) if given is None else _given_log_odds(given, scored["person_id"])
        score.loc[scored.index] = model.probability(log_odds.loc[scored.index].to_numpy())
    seconds = {"predict": time.perf_counter() - started}
    has_nbhd = table["neighbourhood"].notna().to_numpy()
    population = pd.DataFrame({
        "person_id": table["person_id"].astype("str"),
        "neighbourhood": table["neighbourhood"].astype("str"),
        "score": score,
    })
    population["percentile_overall"] = np.nan
    population.loc[eligible, "percentile_overall"] = _percentile(score[eligible])
    population["percentile_neighbourhood"] = np.nan
    ranked = eligible & has_nbhd
    population.loc[ranked, "percentile_neighbourhood"] = (
        score[ranked].groupby(population.loc[ranked, "neighbourhood"]).rank(method="max", pct=True) * 100.0
    )
    band = pd.Series(pd.NA, index=table.index, dtype="str")
    band[eligible] = config.bands.band(population.loc[eligible, "percentile_overall"].to_numpy())
    population["risk_band"] = band
    population["excluded_reason"] = table["excluded_reason"].astype("str")
    population = population[
        ["person_id", "neighbourhood", "score", "percentile_neighbourhood", "percentile_overall", "risk_band", "excluded_reason"]
    ]

    capacity = list_sizes(neighbourhood_stats(table, config.capacity, feature_config), config.capacity)
    candidates = population.loc[ranked].assign(log_odds=log_odds[ranked]).sort_values(
        ["neighbourhood", "score", "log_odds", "person_id"], ascending=[True, False, False, True], kind="stable"
    )
    as_of = pd.Timestamp(table["as_of"].iloc[0]).date() if len(table) else None
    listing_as_of = as_of if as_of is not None else date.min  # without people the date decides nothing
    actions = _actions_at(actions, listing_as_of)
    # the teams' actions hold people back first; the list policy then fills each capacity from the rest
    everyone = {str(n): int(k) for n, k in candidates["neighbourhood"].value_counts().items()}
    listing = apply_caseload_to_lists(
        candidates, everyone, actions, as_of=listing_as_of, suppress_months=config.caseload.suppress_months
    )
    row_of = pd.Series(population.index, index=population["person_id"].to_numpy())
    open_places = listing.listed.set_axis(row_of.loc[listing.listed["person_id"].to_numpy()].to_numpy())
    strata = table[config.lists.stratify_by] if config.lists.stratify_by in table.columns else None
    chosen = choose_listed(
        open_places, capacity, config=config.lists, strata=strata,
        earlier=table["person_id"].astype("str").map(earlier) if earlier is not None else None,
    )
    # the randomised holdout keeps a recorded share of the would-be-listed off the lists, places not refilled
    would_be = open_places.loc[open_places.index.isin(chosen)]
    would_be = would_be.assign(rank=(would_be.groupby("neighbourhood").cumcount() + 1).astype("int64"))
    assigned = assign_arms(
        would_be["person_id"], listing_as_of, earlier_holdout, fraction=config.lists.holdout_fraction, seed=config.lists.holdout_seed,
        months=holdout_months(config.lists, feature_config),
    )
    kept_off = (assigned["arm"] == "holdout").to_numpy()
    holdout = holdout_record(would_be, assigned, listing_as_of)
    candidates_record = candidate_record(open_places, capacity, would_be.index, would_be.index[kept_off], listing_as_of)
    lists = would_be.loc[~kept_off]
    lists = lists.assign(rank=(lists.groupby("neighbourhood").cumcount() + 1).astype("int64"))
    counts = caseload_counts(lists, listing.held_back, lists["neighbourhood"].map({str(k): int(v) for k, v in capacity.items()}))
    population["list_rank"] = pd.array([pd.NA] * len(population), dtype="Int64")
    population.loc[lists.index, "list_rank"] = lists["rank"].to_numpy()
    held = row_of.loc[listing.held_back["person_id"].to_numpy()].to_numpy()
    population.loc[held, "excluded_reason"] = listing.held_back["held_back_reason"].to_numpy()
    population.loc[would_be.index[kept_off], "excluded_reason"] = HOLDOUT_REASON
    known = statuses(actions)
    population["status"] = population["person_id"].map({p: k.status for p, k in known.items()}).astype("str")
    population["previously_declined"] = population["person_id"].isin([p for p, k in known.items() if k.previously_declined])

    previous = set()
    if previous_lists is not None and len(previous_lists):
        previous = set(zip(previous_lists["neighbourhood"].astype("str"), previous_lists["person_id"].astype("str")))
    is_new = [(n, p) not in previous for n, p in zip(lists["neighbourhood"], lists["person_id"])]
    started = time.perf_counter()
    explanations = explain_rows(
        model, table.loc[lists.index], as_of=as_of, top=config.top_reasons, specs=predictor_specs(feature_config)
    )
    reasons = [json.dumps([r.to_dict() for r in e.reasons]) for e in explanations]
    seconds["explain"] = time.perf_counter() - started
    lists = pd.DataFrame({
        "neighbourhood": lists["neighbourhood"].to_numpy(),
        "rank": lists["rank"].to_numpy(),
        "person_id": lists["person_id"].to_numpy(),
        "score": lists["score"].to_numpy(),
        "percentile_neighbourhood": lists["percentile_neighbourhood"].to_numpy(),
        "percentile_overall": lists["percentile_overall"].to_numpy(),
        "risk_band": lists["risk_band"].to_numpy(),
        "is_new": np.asarray(is_new, dtype=bool),
        "reasons": pd.array(reasons, dtype="str"),
        "status": pd.array(lists["status"].to_numpy(), dtype="str"),
        "previously_declined": lists["previously_declined"].to_numpy(dtype=bool),
    })
    features = pd.concat(
        [population.loc[eligible, ["person_id"]], table.loc[eligible, model.feature_names_]], axis=1
    ).reset_index(drop=True)
    base = explanations[0].base_score if explanations else None
    return ScoredPopulation(
        population=population.reset_index(drop=True),
        lists=lists,
        features=features,
        capacity=capacity,
        rows_in=len(table),
        rows_scored=int(eligible.sum()),
        rows_excluded=int((~eligible).sum()),
        rows_without_neighbourhood=int((~has_nbhd).sum()),
        base_score=base,
        seconds=seconds,
        caseload=counts,
        holdout=holdout,
        candidates=candidates_record,
    )


def build_timeline(data_dir: Path, as_of: date, person_ids: pd.Series, *, months: int = TIMELINE_MONTHS) -> pd.DataFrame:
    """Monthly contact counts by setting over the ``months`` before ``as_of``, for ``person_ids``.

    Uses the same two clocks as the features (``event_date < as_of`` and ``recorded_at <= as_of``,
    ``recorded_at`` defaulting to ``event_date``) so a page never shows data the score did not see.
    Columns ``person_id, month (date, first of month), setting, count``; sorted by person_id,
    month, setting; months with no contact are absent.
    """
    with duckdb.connect() as con:
        con.register("wanted", pd.DataFrame({"person_id": person_ids.astype("str").to_numpy()}))
        start = add_months(as_of, -months)
        frame = con.execute(
            f"""
            SELECT e.person_id AS person_id,
                   CAST(date_trunc('month', e.event_date) AS DATE) AS month,
                   e.setting AS setting,
                   count(*)::BIGINT AS count
            FROM ({typed_sql(con, Path(data_dir), "events")}) e SEMI JOIN wanted w ON e.person_id = w.person_id
            WHERE {event_known("e", "$as_of")}
              AND e.event_date >= $start
            GROUP BY ALL
            ORDER BY person_id, month, setting
            """,
            {"as_of": pd.Timestamp(as_of).to_pydatetime(), "start": pd.Timestamp(start).to_pydatetime()},
        ).df()
    frame["person_id"] = frame["person_id"].astype("str")
    frame["month"] = frame["month"].dt.date
    frame["setting"] = frame["setting"].astype("str")
    return frame


def list_details(data_dir: Path, as_of: date, person_ids: pd.Series) -> pd.DataFrame:
    """What a team needs to find each listed person in the practice system: NHS number, age, sex, practice.

    Columns ``person_id`` plus :data:`LIST_DETAILS`, one row per person of ``person_ids`` found in the
    ``persons`` table: ``nhs_number`` (null when the extract has no such column or no value),
    ``age`` in whole years at ``as_of`` (the ``age`` predictor's rule), ``sex`` and ``practice``.
    """
    with duckdb.connect() as con:
        con.register("wanted", pd.DataFrame({"person_id": person_ids.astype("str").to_numpy()}))
        frame = con.execute(
            f"""
            SELECT p.person_id AS person_id,
                   p.nhs_number AS nhs_number,
                   (YEAR($as_of) - YEAR(p.birth_date)
                    - CASE WHEN MONTH($as_of) * 100 + DAY($as_of) < MONTH(p.birth_date) * 100 + DAY(p.birth_date) THEN 1 ELSE 0 END
                   )::BIGINT AS age,
                   p.sex AS sex,
                   p.practice AS practice
            FROM ({typed_sql(con, Path(data_dir), "persons")}) p SEMI JOIN wanted w ON p.person_id = w.person_id
            ORDER BY person_id
            """,
            {"as_of": as_of},
        ).df()
    for column in ("person_id", "sex", "practice"):
        frame[column] = frame[column].astype("str")
    frame["nhs_number"] = frame["nhs_number"].astype("string")
    frame["age"] = frame["age"].astype("Int64")
    return frame
