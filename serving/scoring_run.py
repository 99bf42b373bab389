"""One scoring run: build features as of a date, score and explain, build timelines, publish the lists atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from features.caseload import read_actions
from features.config import FeatureConfig
from features.database import database_url, display_url
from features.dates import extract_date
from features.engines import FeatureEngine
from features.home import Home, home as default_home
from features.progress import ProgressCallback, report
from models.explain import EXPLANATION_SPACE
from models.risk_model import RiskModel
from serving.engine_scoring import scoring_inputs
from serving.errors import OlderThanCurrentError, PublicationRefusedError
from serving.monitoring.config import MonitorConfig
from serving.monitoring.gate import GateDecision, decide
from serving.monitoring.report import NO_REFERENCE, DriftInputs, MonitorReport, home_report_dir, run_monitor, write_report
from serving.monitoring.staleness import publication_date
from serving.monitoring.tracking import log_report
from serving.holdout import holdout_history, holdout_months
from serving.publish import Publication, current_publication, list_publications, publications_root, publish, utc_now
from serving.score import ScoreConfig, ScoredPopulation, build_timeline, list_details, score_population
from training.compare import earlier_scores
from training.list_policy import policy_description

__all__ = ["STEPS", "MonitorGate", "ScoringRun", "score_and_publish"]

#: The steps of a run, in order, as progress reports name them ("Monitoring" only with a ``MonitorGate``).
STEPS = ("Building features", "Scoring and explaining", "Monitoring", "Building timelines", "Publishing")
#: Folder of a publication holding the monitoring report it was published with.
PUBLICATION_REPORT_DIR = "monitoring"


@dataclass(frozen=True)
class MonitorGate:
    """How a scoring run is monitored before it publishes, and which critical alerts are accepted.

    The report goes to ``<home>/monitoring`` (and the home's MLflow store); a critical alert not
    named in ``accept`` (``KIND:SUBJECT``) stops the publication.
    """

    home: Home
    config: MonitorConfig = field(default_factory=MonitorConfig)
    reference: pd.DataFrame | None = None
    no_reference_reason: str = NO_REFERENCE
    accept: tuple[str, ...] = ()
    accepted_by: str | None = None
    mlflow: bool = True
    today: date | None = None


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
    monitoring: MonitorReport | None = None
    gate: GateDecision | None = None
    report_paths: dict[str, Path] = field(default_factory=dict)


def _monitor(
    data_dir: Path, as_of: date | None, result: ScoredPopulation, model: RiskModel, root: Path, gate: MonitorGate,
    feature_config: FeatureConfig | None,
) -> tuple[MonitorReport, GateDecision, dict[str, Path], str | None]:
    """Run the checks on the extract and the population just scored; write and log the report; decide the gate."""
    drift = None
    if gate.reference is not None:
        scored = result.population.loc[result.population["score"].notna(), ["person_id", "neighbourhood", "score"]]
        current = result.features.merge(scored, on="person_id", how="left", validate="one_to_one")
        drift = DriftInputs(
            reference=gate.reference, reference_scores=gate.reference["score"].to_numpy(), features=list(model.feature_names_),
            current=current, current_scores=current["score"].to_numpy(),
        )
    report = run_monitor(
        data_dir, as_of=as_of, config=gate.config, publications=root, drift=drift, no_drift_reason=gate.no_reference_reason,
        feature_config=feature_config, today=gate.today, home=gate.home,
    )
    paths = write_report(report, home_report_dir(gate.home))
    run_id = log_report(report, gate.home, paths=paths) if gate.mlflow else None
    return report, decide(report.alerts, gate.accept, accepted_by=gate.accepted_by), paths, run_id


def _refusal(decision: GateDecision, report_json: Path) -> PublicationRefusedError:
    lines = "; ".join(f"{a.kind}:{a.subject}: {a.message}" for a in decision.blocking)
    return PublicationRefusedError(
        f"nothing was published: {len(decision.blocking)} critical monitoring alert(s) fired ({lines}). The current lists stay "
        f"served. Fix the extract and score again, or, having checked the data, publish anyway with "
        f"{' '.join(f'--accept-alert {a.key}' for a in decision.blocking)}. Report: {report_json}",
        alerts=decision.blocking, report=report_json,
    )



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
    monitor: MonitorGate | None = None,
    engine: FeatureEngine | None = None,
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
        A ``Home`` or publications root; default the home's publications folder. With a holdout
        (``config.lists.holdout_fraction`` > 0) its earlier publications' holdout records carry each
        person's arm forward for the holdout period (:mod:`serving.holdout`).
    config
        Capacity, bands, reasons and timeline length.
    clock
        Publication clock (UTC), injectable for reproducible ids.
    progress
        Told ``(step, done, total)`` as each step of :data:`STEPS` starts and when the run ends.
    database
        The caseload database whose actions the lists honour (read as of the scoring date, the
        extract's point-in-time rule); default ``features.database.database_url`` of ``where``
        when it is a ``Home``, else of the default home.
    monitor
        Monitor the extract and the scored population before publishing (``serving.monitoring``):
        the report goes to ``<home>/monitoring``, MLflow and the publication's ``monitoring/``
        folder, and the gate's decision into its metadata. ``None``: no monitoring.
    engine
        Feature engine (``features.engines``); default embedded DuckDB. On Spark the features are
        built and the cohort scored there (:mod:`serving.engine_scoring`); the list steps run here.

    Raises
    ------
    PublicationRefusedError
        If a critical monitoring alert fires that ``monitor.accept`` does not name; nothing is published.
    OlderThanCurrentError
        If ``as_of`` is earlier than the current publication's: it would replace newer lists; nothing is built.
    """
    config = config or ScoreConfig()
    steps = STEPS if monitor is not None else tuple(s for s in STEPS if s != "Monitoring")

    def step(description: str) -> None:
        report(progress, description, steps.index(description), len(steps))

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
    root = publications_root(where)
    previous = current_publication(root)
    if previous is not None and publication_date(previous) > when:
        raise OlderThanCurrentError(
            f"the scoring date must not be earlier than the current lists' ({previous.id}, as of {publication_date(previous)}); got {when}. "
            "Publishing would replace them with older data: to score a past date (a backtest), pass --out DIR for another folder."
        )
    inputs = scoring_inputs(engine, data_dir, model, as_of=when, feature_config=feature_config)
    table = inputs.table
    lap("features")
    step("Scoring and explaining")
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
    # sticky holdout arms: earlier publications' assignments carry forward (only needed when there is a holdout)
    earlier_holdout = holdout_history(list_publications(root)) if config.lists.holdout_fraction > 0 else None
    result = score_population(
        table, model, config=config, previous_lists=previous.lists() if previous is not None else None,
        feature_config=feature_config, actions=actions, earlier=earlier, log_odds=inputs.log_odds, earlier_holdout=earlier_holdout,
    )
    lists = result.lists.merge(list_details(data_dir, when, result.lists["person_id"]), on="person_id", how="left", validate="one_to_one")
    lap("score_and_explain")
    seconds.update({f"of_which_{k}": v for k, v in result.seconds.items()})
    monitoring, decision, paths, monitoring_meta = None, None, {}, {}
    if monitor is not None:
        step("Monitoring")
        monitoring, decision, paths, run_id = _monitor(data_dir, as_of, result, model, root, monitor, feature_config)
        lap("monitoring")
        if not decision.allowed:
            raise _refusal(decision, paths["json"])
        monitoring_meta = {"monitoring": {
            "alerts": {s: sum(a.severity == s for a in monitoring.alerts) for s in ("critical", "warning")},
            "notes": monitoring.notes,
            "report": f"{PUBLICATION_REPORT_DIR}/monitor.json",
            "mlflow_run_id": run_id,
            **decision.metadata(),
        }}
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
        "holdout": {"fraction": config.lists.holdout_fraction, "seed": config.lists.holdout_seed,
                    "months": holdout_months(config.lists, feature_config), **result.holdout_counts,
                    "candidates_recorded": len(result.candidates)},
        **monitoring_meta,
    }
    publication = publish(
        root, population=result.population, lists=lists, features=result.features,
        timeline=timeline, metadata=metadata, clock=clock or utc_now, holdout=result.holdout, candidates=result.candidates,
    )
    if monitoring is not None:
        write_report(monitoring, publication.path / PUBLICATION_REPORT_DIR)
    lap("publish")
    report(progress, "Published", len(steps), len(steps))
    return ScoringRun(
        publication, result, when, extracted, previous.id if previous is not None else None, seconds, len(actions),
        monitoring=monitoring, gate=decision, report_paths=paths,
    )
