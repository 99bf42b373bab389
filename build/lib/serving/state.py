"""What the service answers from: the current publication in memory, the model, explanations, tokens and the audit log."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import HTTPException

from features.database import database_url
from features.definitions import PREDICTORS, FeatureSpec, predictor_specs
from features.home import Home
from models.explain import EXPLANATION_SPACE, explain_rows
from models.reasons import group_features
from serving.api_models import ModelInfo, ScoreResponse, ScoreResult, ScoreRow
from serving.audit import AuditLog
from serving.auth import Principal, TokenStore
from serving.config import ServiceConfig
from serving.need_to_know import decide_lookup
from serving.monitoring.staleness import Staleness, staleness_of
from serving.publish import CURRENT, current_publication
from serving.store import PublishedStore, load_store
from training.registry import load_model as load_registered_model

__all__ = ["ModelLoader", "ServingState", "load_champion", "type_problems"]

logger = logging.getLogger(__name__)

#: ``load_model(alias, home)``: the registered model behind an alias (injected by tests and the demo).
ModelLoader = Callable[[str, Home], Any]


def load_champion(alias: str, home: Home) -> Any:
    """The registered model behind ``alias`` in ``home``'s MLflow registry (``training.registry.load_model``)."""
    return load_registered_model(alias, home=home)


@dataclass
class ServingState:
    """What the service answers from: the current publication in memory, the model, tokens and the audit log.

    ``problems`` lists why the service is not ready (no publication, no model, a mismatch); the
    process keeps running and ``/readyz`` reports them.
    """

    home: Home
    config: ServiceConfig
    tokens: TokenStore
    audit: AuditLog
    store: PublishedStore | None = None
    model: Any = None
    groups: list[Any] = field(default_factory=list)
    specs: dict[str, FeatureSpec] = field(default_factory=lambda: dict(PREDICTORS))
    problems: list[str] = field(default_factory=list)
    list_bodies: dict[str, bytes] = field(default_factory=dict)
    explained: dict[int, tuple[float | None, list[dict[str, Any]]]] = field(default_factory=dict)
    age_averages: dict[int, dict[int, float]] = field(default_factory=dict)

    @classmethod
    def load(
        cls, where: Home, config: ServiceConfig, load_model: ModelLoader = load_champion, audit: AuditLog | None = None
    ) -> ServingState:
        """Load the current publication and the model behind ``config.model_alias``; record problems instead of failing.

        ``audit`` is the database's audit log (its ``engine`` also holds the caseload actions); default:
        the database of ``features.database.database_url(where)``, which must be migrated
        (:class:`~features.errors.DatabaseNotMigratedError` naming ``risingrisk db upgrade`` otherwise).
        """
        state = cls(where, config, TokenStore(where.tokens), audit if audit is not None else AuditLog(database_url(where)))
        started = time.perf_counter()
        try:
            publication = current_publication(where)
            if publication is None:
                state.problems.append("no publication: run risingrisk score to publish lists")
            else:
                state.store = load_store(publication, timeline_length=config.timeline_months)
        except Exception as error:  # noqa: BLE001 - any failure must leave the process up and say why
            state.problems.append(f"publication unreadable: {type(error).__name__}: {error}")
        try:
            state.model = load_model(config.model_alias, where)
        except Exception as error:  # noqa: BLE001
            state.problems.append(f"model {config.model_alias!r} not loaded: {type(error).__name__}: {error}")
        if state.model is not None:
            state.specs = predictor_specs(state.model.feature_config)
            state.groups = group_features(list(state.model.feature_names), state.specs)
        if state.model is not None and state.store is not None:
            published = str(state.store.metadata.get("model_version"))
            if published != str(state.model.version):
                state.problems.append(
                    f"model version {state.model.version} ({config.model_alias}) is not the version {published} "
                    "that scored the current publication: run risingrisk score to re-publish"
                )
            missing = [n for n in state.model.feature_names if n not in state.store.feature_names]
            if missing:
                state.problems.append(f"the publication's features lack model features {missing[:5]}: re-publish")
        logger.info(
            "service state loaded in %.1f s: %s people, ready=%s",
            time.perf_counter() - started,
            state.store.size if state.store is not None else 0,
            not state.problems,
        )
        return state

    @property
    def ready(self) -> bool:
        """True when a publication and its matching model are loaded."""
        return not self.problems

    @property
    def publication_id(self) -> str | None:
        """The id of the loaded publication (None when none is loaded)."""
        return self.store.publication_id if self.store is not None else None

    def staleness(self, today: date | None = None) -> Staleness | None:
        """How old the loaded lists are against ``config.monitor.refresh_days`` on ``today`` (UTC); None with no lists."""
        if self.store is None:
            return None
        today = today or datetime.now(timezone.utc).date()
        return staleness_of(self.store.publication_id, self.store.as_of, today, self.config.monitor.refresh_days)

    def current_pointer(self) -> str | None:
        """The id the publications' CURRENT pointer names now (None if nothing is published)."""
        try:
            return (self.home.publications / CURRENT).read_text().strip() or None
        except FileNotFoundError:
            return None

    def freshness(self) -> dict[str, Any]:
        """Which publication and model an answer comes from, and how current its data are."""
        store = self.require_store()
        meta = store.metadata
        return {
            "publication_id": store.publication_id,
            "model_version": str(meta.get("model_version")),
            "as_of": store.as_of.isoformat(),
            "extract_date": None if meta.get("extract_date") is None else str(meta.get("extract_date")),
            "published_at": str(meta.get("created_at")),
        }

    def require_store(self) -> PublishedStore:
        """The loaded publication; 503 naming the problems when the service is not ready."""
        if self.store is None or not self.ready:
            raise HTTPException(503, "service not ready: " + "; ".join(self.problems))
        return self.store

    def neighbourhood_list(self, principal: Principal, neighbourhood: str, endpoint: str) -> dict[str, Any]:
        """The list as a dict (NeighbourhoodList fields); 403 outside scope, 404 unknown. Audited."""
        self.check_neighbourhood(neighbourhood)
        if not principal.may_see(neighbourhood):
            self.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=neighbourhood, status=403, publication_id=None)
            raise HTTPException(403, "this token may not see that neighbourhood's list; ask the PHM team for a token of that neighbourhood")
        store = self.require_store()
        people = store.list_of(neighbourhood)
        if people is None:
            self.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=neighbourhood, status=404, publication_id=store.publication_id)
            raise HTTPException(404, "unknown neighbourhood: no one in the current publication lives there")
        self.audit.record(
            token_id=principal.token_id,
            endpoint=endpoint,
            neighbourhood=neighbourhood,
            status=200,
            publication_id=store.publication_id,
            person_ids=[p["person_id"] for p in people],
        )
        return {"neighbourhood": neighbourhood, **self.freshness(), "people": people}

    def explanation(self, principal: Principal, person_id: str, endpoint: str) -> dict[str, Any]:
        """The person's explanation and timeline (PersonExplanation fields); 404 if absent, out of scope or not need-to-know. Audited."""
        if re.fullmatch(self.config.person_id_pattern, person_id) is None:
            raise HTTPException(422, f"person_id must match {self.config.person_id_pattern}; fix the id in the request path")
        store = self.require_store()
        row = store.find(person_id)
        record = store.person(row) if row is not None else None
        # need-to-know (serving.need_to_know): unlisted residents look exactly like people who do not exist
        lookup = decide_lookup(principal, record, publications=self.home.publications, publication_id=store.publication_id,
                               database=self.audit.engine, config=self.config.security)
        if record is None or not lookup.allowed:
            self.audit.record(token_id=principal.token_id, endpoint=endpoint, neighbourhood=None, status=404,
                              publication_id=store.publication_id, detail=lookup.audit_detail(person_id))
            raise HTTPException(404, "no such person in the current publication for this token")
        base_score, reasons = self.reasons_of(record.row)
        self.audit.record(
            token_id=principal.token_id,
            endpoint=endpoint,
            neighbourhood=record.neighbourhood,
            status=200,
            publication_id=store.publication_id,
            person_ids=[record.person_id],
            detail=lookup.audit_detail(person_id),
        )
        return {
            "person_id": record.person_id,
            "neighbourhood": record.neighbourhood,
            **self.freshness(),
            "excluded_reason": record.excluded_reason,
            "score": record.score,
            "base_score": base_score,
            "percentile_neighbourhood": record.percentile_neighbourhood,
            "percentile_overall": record.percentile_overall,
            "risk_band": record.risk_band,
            "list_rank": record.list_rank,
            "explanation_space": str(store.metadata.get("explanation_space", "probability")),
            "reasons": reasons,
            "settings": store.settings,
            "timeline": [{"month": m.strftime("%Y-%m"), "counts": c} for m, c in store.timeline(record.row)],
        }

    def reasons_of(self, row: int) -> tuple[float | None, list[dict[str, Any]]]:
        """Base score and every reason of a person (explained on demand unless warmed); (None, []) if not scored."""
        cached = self.explained.get(row)
        if cached is not None:
            return cached
        store = self.require_store()
        features = store.features_of(row)
        if features is None:
            return None, []
        explained = explain_rows(self.model.model, features, as_of=store.as_of, groups=self.groups, specs=self.specs)[0]
        return explained.base_score, [r.to_dict() for r in explained.reasons]

    def person_values(self, person_id: str) -> dict[str, float | None]:
        """The model feature values of a person of the publication ({} if not scored); no audit (the caller's view is audited)."""
        store = self.require_store()
        row = store.find(person_id)
        features = store.features_of(row) if row is not None else None
        if features is None:
            return {}
        return {name: (None if np.isnan(v) else float(v)) for name, v in zip(store.feature_names, features.iloc[0].to_numpy(dtype="float64"))}

    def average_score(self) -> float:
        """Mean score of everyone the publication scored (0.0 if no one was)."""
        scores = self.require_store().score
        scored = scores[~np.isnan(scores)]
        return float(scored.mean()) if scored.size else 0.0

    def average_for_age(self, age: float | None, width: int) -> tuple[float, str]:
        """Mean score of the scored people in ``age``'s ``width``-year band, and how to name it; the overall mean without an age."""
        store = self.require_store()
        if age is None or "age" not in store.feature_names:
            return self.average_score(), "of everyone scored"
        if width not in self.age_averages:
            ages = store.feature_matrix[:, store.feature_names.index("age")]
            rows = store.feature_row >= 0
            frame = pd.DataFrame({"band": ages[store.feature_row[rows]] // width * width, "score": store.score[rows]}).dropna()
            self.age_averages[width] = {int(b): float(m) for b, m in frame.groupby("band")["score"].mean().items()}
        band = int(age // width * width)
        average = self.age_averages[width].get(band)
        if average is None:
            return self.average_score(), "of everyone scored"
        return average, f"for their age ({band}–{band + width - 1})"

    def warm_listed(self) -> int:
        """Explain everyone on a list ahead of time, in batches (the people clinicians open); returns how many."""
        if self.store is None or not self.ready:
            return 0
        store = self.store
        rows = [row for entries in store.lists.values() for p in entries if (row := store.find(p["person_id"])) is not None]
        rows = [row for row in rows if store.feature_row[row] >= 0]
        size = self.config.warm_batch_rows
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            X = pd.DataFrame(store.feature_matrix[store.feature_row[chunk]], columns=store.feature_names)
            for row, explained in zip(chunk, explain_rows(self.model.model, X, as_of=store.as_of, groups=self.groups, specs=self.specs)):
                self.explained[row] = (explained.base_score, [r.to_dict() for r in explained.reasons])
        return len(rows)

    def check_neighbourhood(self, neighbourhood: str) -> None:
        """422 unless ``neighbourhood`` is a printable name of acceptable length."""
        if not neighbourhood.strip() or len(neighbourhood) > self.config.max_neighbourhood_length or not neighbourhood.isprintable():
            raise HTTPException(
                422,
                f"neighbourhood must be a printable name of at most {self.config.max_neighbourhood_length} characters; "
                "use a name from the publication's list_sizes",
            )

    def score_rows(self, rows: list[ScoreRow]) -> ScoreResponse:
        """Score PHM-supplied rows; 413 if too many, 422 if a row's features do not match the model."""
        if self.model is None:
            raise HTTPException(503, "service not ready: " + "; ".join(self.problems))
        if not rows:
            raise HTTPException(422, "rows must hold at least one feature row; got an empty list")
        if len(rows) > self.config.max_score_rows:
            raise HTTPException(
                413, f"rows must hold at most {self.config.max_score_rows} rows per request; got {len(rows)}. Split the batch."
            )
        names = list(self.model.feature_names)
        expected = set(names)
        for i, row in enumerate(rows):
            missing = [n for n in names if n not in row.features]
            unknown = sorted(set(row.features) - expected)
            if missing or unknown:
                raise HTTPException(
                    422,
                    f"row {i} features must be exactly the model's features (GET /v1/model feature_names); "
                    f"missing {missing[:10]}, unknown {unknown[:10]}",
                )
            bad = type_problems(row.features)
            if bad:
                raise HTTPException(422, f"row {i} has values of the wrong type: {'; '.join(bad[:10])}")
        X = pd.DataFrame(
            [[np.nan if row.features[n] is None else row.features[n] for n in names] for row in rows],
            columns=names,
            dtype="float64",
        )
        explained = explain_rows(self.model.model, X, top=self.config.score_reasons, groups=self.groups, specs=self.specs)
        return ScoreResponse(
            model_version=str(self.model.version),
            explanation_space=EXPLANATION_SPACE,
            results=[
                ScoreResult(row_id=row.row_id, score=e.score, base_score=e.base_score, reasons=[r.to_dict() for r in e.reasons])
                for row, e in zip(rows, explained)
            ],
        )

    def model_info(self) -> ModelInfo:
        """What GET /v1/model answers: the loaded model and the publication it serves."""
        if self.model is None:
            raise HTTPException(503, "service not ready: " + "; ".join(self.problems))
        m = self.model
        card = getattr(m, "model_card_path", None)
        return ModelInfo(
            name=str(m.name),
            version=str(m.version),
            alias=str(m.alias),
            outcome=str(m.outcome),
            training_window={str(k): [str(v) for v in vs] for k, vs in dict(m.training_window).items()},
            metrics={str(k): float(v) for k, v in dict(m.metrics).items()},
            feature_names=list(m.feature_names),
            model_card_url="/v1/model/card" if card is not None and Path(card).exists() else None,
            publication_id=self.store.publication_id if self.store is not None else None,
            publication_model_version=str(self.store.metadata.get("model_version")) if self.store is not None else None,
        )


def type_problems(features: dict[str, float | None]) -> list[str]:
    """Values that break a feature's registered kind (flags 0/1, counts whole and >= 0, all finite)."""
    problems = []
    for name, value in features.items():
        if value is None:
            continue
        if not math.isfinite(value):
            problems.append(f"{name} must be finite or null; got {value}")
            continue
        kind = PREDICTORS[name].kind if name in PREDICTORS else None
        if kind == "flag" and value not in (0.0, 1.0):
            problems.append(f"{name} must be 0 or 1; got {value}")
        elif kind == "count" and (value < 0 or value != int(value)):
            problems.append(f"{name} must be a whole number >= 0; got {value}")
    return problems
