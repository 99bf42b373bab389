"""One scoring run: build features as of a date, score and explain, build timelines, publish the lists atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from features.build import build_features
from features.caseload import read_actions
from features.config import FeatureConfig
from features.database import database_url, display_url
from features.dates import extract_date
from features.home import Home, home as default_home
from features.progress import ProgressCallback, report
from models.explain import EXPLANATION_SPACE
from models.risk_model import RiskModel
from serving.publish import Publication, current_publication, publications_root, publish, utc_now
from serving.score import ScoreConfig, ScoredPopulation, build_timeline, list_details, score_population
from training.compare import earlier_scores
from training.list_policy import policy_description

__all__ = ["STEPS", "ScoringRun", "score_and_publish"]

#: The steps of a run, in order, as progress reports name them.
STEPS = ("Building features", "Scoring and explaining", "Building timelines", "Publishing")


@dataclass(frozen=True)
class ScoringRun:
    """One scoring run: what was published, the scored population and seconds per step."""

    publication: Publication
    result: ScoredPopulation
    as_of: date
    extract_date: date
    previous_id: str | None
    seconds: dict[str, float]
    actions_read: int



def score_and_publish(
    data_dir: Path,
    model: RiskModel,
    *,
    feature_config: FeatureConfig | None = None,
    model_metadata: dict[str, Any] | None = None,
    as_of: date | None = None,
    where: Home | Path | None = None,
    config: ScoreConfig | None = None,
    clock: Callable[[], datetime] | None = None,
    progress: ProgressCallback | None = None,
    database: str | URL | Engine | None = None,
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
    progress
        Told ``(step, done, total)`` as each of the four steps starts and when the run ends.
    database
        The caseload database whose actions the lists honour (read as of the scoring date, the
        extract's point-in-time rule); default ``features.database.database_url`` of ``where``
        when it is a ``Home``, else of the default home.
    """
    config = config or ScoreConfig()

    def step(description: str) -> None:
        report(progress, description, STEPS.index(description), len(STEPS))

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
    source = database if database is not None else database_url(where if isinstance(where, Home) else default_home())
    actions = read_actions(source, when)
    earlier = (
        pd.Series(
            earlier_scores(model, data_dir, table[["person_id", "as_of"]], months=config.lists.rising_months, feature_config=feature_config),
            index=table["person_id"].astype(str).to_numpy(),
        )
        if config.lists.policy == "rising"
        else None
    )
    result = score_population(
        table, model, config=config, previous_lists=previous.lists() if previous is not None else None,
        feature_config=feature_config, actions=actions, earlier=earlier,
    )
    lists = result.lists.merge(list_details(data_dir, when, result.lists["person_id"]), on="person_id", how="left", validate="one_to_one")
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
            str(k): int(v)
            for k, v in result.population.loc[result.population["score"].isna(), "excluded_reason"].value_counts(dropna=True).sort_index().items()
        },
        "caseload": {
            "database": display_url(source.url if isinstance(source, Engine) else source),
            "actions_read": len(actions),
            "suppress_months": config.caseload.suppress_months,
            **result.caseload,
        },
        "list_sizes": result.list_sizes,
        "capacity": result.capacity,
        "capacity_rule": config.capacity.describe(),
        "risk_bands": config.bands.describe(),
        "explanation_space": EXPLANATION_SPACE,
        "base_score": result.base_score,
        "top_reasons": config.top_reasons,
        "list_policy": policy_description(config.lists),
    }
    publication = publish(
        root, population=result.population, lists=lists, features=result.features,
        timeline=timeline, metadata=metadata, clock=clock or utc_now,
    )
    lap("publish")
    report(progress, "Published", len(STEPS), len(STEPS))
    return ScoringRun(publication, result, when, extracted, previous.id if previous is not None else None, seconds, len(actions))
