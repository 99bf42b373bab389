"""Batch scoring: score every eligible person as of a date, rank capacity-sized neighbourhood lists, explain and publish."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import duckdb
import numpy as np
import pandas as pd
import typer

from features.dates import TIMELINE_MONTHS, add_months
from features.sources import event_known, typed_sql
from serving.capacity import CapacityConfig, list_sizes, neighbourhood_stats
from serving.errors import ScoringError

if TYPE_CHECKING:
    from features.config import FeatureConfig
    from models.risk_model import RiskModel
    from features.home import Home
    from serving.publish import Publication

__all__ = [
    "RiskBands",
    "ScoreConfig",
    "ScoredPopulation",
    "ScoringRun",
    "score_population",
    "build_timeline",
    "score_and_publish",
    "score_command",
]

_KEYS = ("person_id", "as_of", "neighbourhood", "in_cohort", "excluded_reason")


@dataclass(frozen=True)
class RiskBands:
    """Risk band from the overall percentile (share of eligible people scoring at or below the person, 0-100).

    A person is in ``labels[k]`` where ``k`` is the number of ``cuts`` their percentile reaches:
    by default below 80 "low", 80 to < 95 "moderate", 95 to < 99 "high", 99 and above "very high"
    (the top 1%, where the 6-per-1,000 lists fall).
    """

    cuts: tuple[float, ...] = (80.0, 95.0, 99.0)
    labels: tuple[str, ...] = ("low", "moderate", "high", "very high")

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.cuts) + 1 or list(self.cuts) != sorted(self.cuts):
            raise ScoringError(
                f"risk bands must have ascending cuts and one more label than cuts; got cuts {self.cuts} "
                f"and labels {self.labels}. Use e.g. cuts (80, 95, 99) with 4 labels."
            )

    def band(self, percentile: np.ndarray) -> np.ndarray:
        """Band label for each percentile."""
        return np.asarray(self.labels, dtype=object)[np.searchsorted(np.asarray(self.cuts), percentile, side="right")]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for publication metadata."""
        return {"by": "percentile_overall", "cuts": list(self.cuts), "labels": list(self.labels)}


@dataclass(frozen=True)
class ScoreConfig:
    """Scoring settings: list capacity, risk bands, reasons kept per listed person, timeline length."""

    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    bands: RiskBands = field(default_factory=RiskBands)
    top_reasons: int = 5
    timeline_months: int = TIMELINE_MONTHS


@dataclass(frozen=True)
class ScoredPopulation:
    """Everything a publication holds except the timeline, with the row accounting."""

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

    @property
    def list_sizes(self) -> dict[str, int]:
        """Number of people actually on each neighbourhood's list (at most its capacity)."""
        counts = self.lists.groupby("neighbourhood").size()
        return {n: int(counts.get(n, 0)) for n in self.capacity}


def _percentile(score: pd.Series) -> pd.Series:
    return score.rank(method="max", pct=True) * 100.0


def score_population(
    table: pd.DataFrame,
    model: RiskModel,
    *,
    config: ScoreConfig | None = None,
    previous_lists: pd.DataFrame | None = None,
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

    Returns
    -------
    ScoredPopulation
        ``population`` (every input row; excluded people have no score, band or list rank),
        ``lists`` (ranked by score, ties by the booster's log-odds then person_id; sized by capacity), ``features`` (model
        features of every scored person) and counts.

    Raises
    ------
    ScoringError
        If a key column or a model feature is missing, or a person appears twice.
    """
    from models.explain import explain_rows

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
    log_odds = pd.Series(np.nan, index=table.index, dtype="float64")
    started = time.perf_counter()
    if len(scored):
        log_odds.loc[scored.index] = model.predict_log_odds(scored)
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

    capacity = list_sizes(neighbourhood_stats(table, config.capacity), config.capacity)
    candidates = population.loc[ranked].assign(log_odds=log_odds[ranked]).sort_values(
        ["neighbourhood", "score", "log_odds", "person_id"], ascending=[True, False, False, True], kind="stable"
    )
    rank = candidates.groupby("neighbourhood").cumcount() + 1
    limit = candidates["neighbourhood"].map(capacity).fillna(0).astype("int64")
    lists = candidates.loc[rank <= limit].assign(rank=rank[rank <= limit].astype("int64"))
    population["list_rank"] = pd.array([pd.NA] * len(population), dtype="Int64")
    population.loc[lists.index, "list_rank"] = lists["rank"].to_numpy()

    previous = set()
    if previous_lists is not None and len(previous_lists):
        previous = set(zip(previous_lists["neighbourhood"].astype("str"), previous_lists["person_id"].astype("str")))
    is_new = [(n, p) not in previous for n, p in zip(lists["neighbourhood"], lists["person_id"])]
    as_of = pd.Timestamp(table["as_of"].iloc[0]).date() if len(table) else None
    started = time.perf_counter()
    explanations = explain_rows(model, table.loc[lists.index], as_of=as_of, top=config.top_reasons)
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


@dataclass(frozen=True)
class ScoringRun:
    """One scoring run: what was published, the scored population and seconds per step."""

    publication: "Publication"
    result: ScoredPopulation
    as_of: date
    extract_date: date
    previous_id: str | None
    seconds: dict[str, float]


def score_and_publish(
    data_dir: Path,
    model: "RiskModel",
    *,
    feature_config: "FeatureConfig | None" = None,
    model_metadata: dict[str, Any] | None = None,
    as_of: date | None = None,
    where: "Home | Path | None" = None,
    config: ScoreConfig | None = None,
    clock: Callable[[], datetime] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ScoringRun:
    """Build features as of a date with the training feature code, score, explain and publish.

    Parameters
    ----------
    data_dir
        Data directory (contract v1).
    model
        The fitted, calibrated ``RiskModel`` (e.g. ``training.registry.load_model().model``).
    feature_config
        The model's feature config (``LoadedModel.feature_config``): scoring must build features
        exactly as training did, or scores silently shift.
    model_metadata
        Model identity recorded in the publication metadata (name, version, alias, run id, outcome).
    as_of
        Scoring date; default the data's extract date (latest event date). Only rows with
        ``event_date < as_of`` and ``recorded_at <= as_of`` are used.
    where
        A ``Home`` or publications root; default the home's publications folder.
    config
        Capacity, bands, reasons and timeline length.
    clock
        Publication clock (UTC), injectable for reproducible ids.
    on_step
        Called with a short description before each step (for progress display).
    """
    from features.build import build_features
    from features.dates import extract_date
    from models.explain import EXPLANATION_SPACE
    from serving.publish import _utc_now, current_publication, publications_root, publish

    config = config or ScoreConfig()
    step = on_step or (lambda _description: None)
    seconds: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        seconds[name] = now - tick
        tick = now

    step("Building features")
    extracted = extract_date(data_dir)
    when = as_of or extracted
    table = build_features(data_dir, as_of=[when], config=feature_config)
    lap("features")
    step("Scoring and explaining")
    root = publications_root(where)
    previous = current_publication(root)
    result = score_population(table, model, config=config, previous_lists=previous.lists() if previous is not None else None)
    lap("score_and_explain")
    seconds.update({f"of_which_{k}": v for k, v in result.seconds.items()})
    step("Building timelines")
    scored_ids = result.population.loc[result.population["score"].notna(), "person_id"]
    timeline = build_timeline(data_dir, when, scored_ids, months=config.timeline_months)
    lap("timeline")
    step("Publishing")
    metadata = {
        **(model_metadata or {}),
        "as_of": when.isoformat(),
        "extract_date": extracted.isoformat(),
        "rows_in": result.rows_in,
        "rows_scored": result.rows_scored,
        "rows_excluded": result.rows_excluded,
        "rows_without_neighbourhood": result.rows_without_neighbourhood,
        "excluded_by_reason": {
            str(k): int(v) for k, v in result.population["excluded_reason"].value_counts(dropna=True).sort_index().items()
        },
        "list_sizes": result.list_sizes,
        "capacity": result.capacity,
        "capacity_rule": config.capacity.describe(),
        "risk_bands": config.bands.describe(),
        "explanation_space": EXPLANATION_SPACE,
        "base_score": result.base_score,
        "top_reasons": config.top_reasons,
    }
    publication = publish(
        root, population=result.population, lists=result.lists, features=result.features,
        timeline=timeline, metadata=metadata, clock=clock or _utc_now,
    )
    lap("publish")
    return ScoringRun(publication, result, when, extracted, previous.id if previous is not None else None, seconds)


def score_command(
    data: Annotated[Path, typer.Option(help="Data directory (persons, events, codes).")],
    out: Annotated[Path | None, typer.Option(help="Publications root; default: the home's publications folder.")] = None,
    as_of: Annotated[str | None, typer.Option(help="Scoring date (YYYY-MM-DD); default: the latest event date.")] = None,
    model: Annotated[str, typer.Option(help="Registered model alias to score with.")] = "champion",
    capacity_per_thousand: Annotated[float, typer.Option(help="List places per 1,000 registered people.")] = 6.0,
    capacity_rule: Annotated[
        str, typer.Option(help="per_population (ceil per neighbourhood) or allocation (Tier 2 formula).")
    ] = "per_population",
    capacity_file: Annotated[
        Path | None,
        typer.Option(help="TOML file with a \\[capacity] table (per_thousand, rule, weights, overrides); overrides the two options above."),
    ] = None,
) -> None:
    """Score the population with a registered model and publish capacity-sized neighbourhood lists."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from features.dates import to_date
    from features.home import home
    from training.registry import load_model

    console = Console()
    capacity = CapacityConfig(per_thousand=capacity_per_thousand, rule=capacity_rule)  # type: ignore[arg-type]
    if capacity_file is not None:
        import tomllib

        settings = {"per_thousand": capacity_per_thousand, "rule": capacity_rule}
        settings.update(tomllib.loads(capacity_file.read_text()).get("capacity", {}))
        capacity = CapacityConfig.from_dict(settings)
    config = ScoreConfig(capacity=capacity)
    started = time.perf_counter()
    from training.errors import ModelNotFoundError

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Loading model", total=5)
        try:
            loaded = load_model(model, home=home())
        except ModelNotFoundError as error:
            progress.stop()
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None

        def on_step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        run = score_and_publish(
            data, loaded.model, feature_config=loaded.feature_config,
            model_metadata={
                "model_name": loaded.name, "model_version": loaded.version, "model_alias": loaded.alias,
                "model_run_id": loaded.run_id, "outcome": loaded.outcome,
            },
            as_of=to_date(as_of) if as_of else None, where=out if out is not None else home(), config=config, on_step=on_step,
        )
        progress.update(task, advance=1)
    result = run.result
    summary = Table(title=f"Published {run.publication.id}")
    summary.add_column("item")
    summary.add_column("value", justify="right")
    for label, value in (
        ("model", f"{loaded.name} v{loaded.version} ({loaded.alias})"),
        ("as of / extract date", f"{run.as_of} / {run.extract_date}"),
        ("people in", f"{result.rows_in:,}"),
        ("scored (eligible)", f"{result.rows_scored:,}"),
        ("excluded", f"{result.rows_excluded:,}"),
        ("without neighbourhood (not listed)", f"{result.rows_without_neighbourhood:,}"),
        ("neighbourhood lists", f"{len(result.capacity)}"),
        ("people listed", f"{len(result.lists):,} (new {int(result.lists['is_new'].sum()):,})"),
        ("previous publication", run.previous_id or "none"),
        ("seconds", f"{time.perf_counter() - started:.1f}"),
        ("folder", str(run.publication.path)),
    ):
        summary.add_row(label, value)
    console.print(summary)
