"""Test helpers for the service tests: a small fitted model and a tiny publication written by serving.publish."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import uvicorn

from features.config import FeatureConfig
from features.database import database_url, upgrade
from features.home import Home
from models.risk_model import RiskModel
from serving.capacity import CapacityConfig
from serving.config import ServiceConfig
from serving.publish import Publication, publish
from serving.score import ScoreConfig, score_population
from serving.security_config import SecurityConfig
from serving.service import configured_service
from training.registry import MODEL_NAME, log_and_register
from training.tracking import configure_tracking

__all__ = [
    "AS_OF", "FEATURES", "NEIGHBOURHOODS", "TestModel", "fit_model", "register_champion", "write_publication", "feature_frame",
    "service_app",
]

AS_OF = date(2026, 11, 1)
FEATURES = [
    "ed_0_3m", "ed_3_6m", "ed_6_12m", "ed_12_24m", "ed_trend", "days_since_ed",
    "sn_lives_alone", "sn_lives_alone_months", "age", "imd_decile",
]
NEIGHBOURHOODS = ["Alpha Vale", "Brook & Fen", "Cedar"]


@dataclass
class TestModel:
    """The fields of training.registry.LoadedModel the service reads."""

    __test__ = False

    model: RiskModel
    name: str = "risingrisk-high-intensity-use"
    version: str = "3"
    alias: str = "champion"
    run_id: str = "run0"
    outcome: str = "high_intensity_use"
    feature_config: Any = None
    metrics: dict[str, float] = field(default_factory=lambda: {"auroc": 0.81})
    training_window: dict[str, list[str]] = field(default_factory=lambda: {"train": ["2024-11-01"], "calibrate": ["2025-05-01"]})
    model_card_path: Path | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.model.feature_names_)


def feature_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic predictor rows with an outcome driven by recent ED use and living alone."""
    rng = np.random.default_rng(seed)
    windows = {name: rng.poisson(lam, n).astype(float) for name, lam in
               (("ed_0_3m", 0.6), ("ed_3_6m", 0.5), ("ed_6_12m", 0.8), ("ed_12_24m", 1.2))}
    alone = (rng.random(n) < 0.25).astype(float)
    frame = pd.DataFrame({
        **windows,
        "ed_trend": windows["ed_0_3m"] + windows["ed_3_6m"] - windows["ed_6_12m"],
        "days_since_ed": np.where(windows["ed_0_3m"] > 0, rng.integers(1, 90, n), np.nan),
        "sn_lives_alone": alone,
        "sn_lives_alone_months": np.where(alone == 1, rng.integers(0, 60, n), np.nan),
        "age": rng.integers(0, 95, n).astype(float),
        "imd_decile": rng.integers(1, 11, n).astype(float),
    })
    logit = -2.5 + 0.9 * frame["ed_0_3m"] + 1.0 * alone - 0.05 * frame["imd_decile"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


def fit_model() -> TestModel:
    X, y = feature_frame(2000, 1)
    Xv, yv = feature_frame(600, 2)
    Xc, yc = feature_frame(800, 3)
    model = RiskModel(n_estimators=40, num_leaves=7, min_child_samples=20, early_stopping_rounds=10, n_jobs=1)
    return TestModel(model.fit(X, y, X_valid=Xv, y_valid=yv).calibrate(Xc, yc, method="platt"))


def write_publication(
    home: Home,
    model: TestModel,
    *,
    people: int = 60,
    per_thousand: float = 100.0,
    clock: Callable[[], datetime] = lambda: datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc),
    values: Mapping[str, Mapping[str, float]] | None = None,
) -> Publication:
    """Score ``people`` synthetic people in three neighbourhoods and publish them (lists of ceil(n/10)).

    ``values`` sets feature values of chosen people (person id -> {feature: value}), to publish a constructed person.
    """
    X, _ = feature_frame(people, 11)
    ids = [f"P{i:07d}" for i in range(1, people + 1)]
    for person_id, chosen in (values or {}).items():
        X.loc[ids.index(person_id), list(chosen)] = list(chosen.values())
    excluded = pd.array([("end_of_life" if i % 20 == 7 else pd.NA) for i in range(people)], dtype="str")
    table = pd.DataFrame({
        "person_id": pd.array(ids, dtype="str"),
        "as_of": pd.Timestamp(AS_OF),
        "neighbourhood": pd.array([NEIGHBOURHOODS[i % 3] for i in range(people)], dtype="str"),
        "in_cohort": pd.isna(excluded),
        "excluded_reason": excluded,
        **{c: X[c] for c in FEATURES},
    })
    result = score_population(table, model.model, config=ScoreConfig(capacity=CapacityConfig(per_thousand=per_thousand)))
    rows = []
    for i, pid in enumerate(ids):
        for k in range(i % 4):
            rows.append({"person_id": pid, "month": date(2026, 10 - k, 1), "setting": "ed", "count": k + 1})
        rows.append({"person_id": pid, "month": date(2025, 1, 1), "setting": "gp", "count": 2})
    timeline = pd.DataFrame(rows).sort_values(["person_id", "month", "setting"]).reset_index(drop=True)
    metadata = {
        "model_name": model.name,
        "model_version": model.version,
        "as_of": AS_OF.isoformat(),
        "extract_date": "2026-10-31",
        "rows_in": result.rows_in,
        "rows_scored": result.rows_scored,
        "rows_excluded": result.rows_excluded,
        "list_sizes": result.list_sizes,
        "explanation_space": "probability",
    }
    return publish(
        home.ensure(),
        population=result.population,
        lists=result.lists,
        features=result.features,
        timeline=timeline,
        metadata=metadata,
        clock=clock,
    )


def register_champion(home: Home, model: TestModel) -> TestModel:
    """Register ``model`` in the home's MLflow registry under alias champion; return it with the registered version."""
    configure_tracking(home)
    X, _ = feature_frame(5, 21)
    metadata = {
        "feature_names": FEATURES,
        "outcome": model.outcome,
        "feature_config": FeatureConfig().to_dict(),
        "training_window": model.training_window,
    }
    with mlflow.start_run():
        mlflow.log_metric("auroc", model.metrics["auroc"])
        version = log_and_register(model.model, name=MODEL_NAME, example=X, metadata=metadata, aliases=("champion",))
    return TestModel(model.model, name=MODEL_NAME, version=version)


def service_app(home: Home, model: TestModel | None = None, config: ServiceConfig | None = None) -> Any:
    """The service's ASGI app answering from ``home`` with ``config`` and ``model`` as its champion.

    Without ``config``: default settings but no rate limit (module-scoped services answer many tests).
    The test client's host name ``testserver`` is always trusted.

    Without ``model`` the service loads the champion from ``home``'s MLflow registry, as ``bentoml serve`` does.
    The home's database (``features.database.database_url(home)``) is migrated first, as ``risingrisk db upgrade`` does.
    """
    config = config or ServiceConfig(security=SecurityConfig(rate_per_second=0.0))
    # the test client addresses the service as http://testserver
    security = config.security.model_copy(update={"trusted_hosts": [*config.security.trusted_hosts, "testserver"]})
    config = config.model_copy(update={"security": security})
    upgrade(database_url(home), legacy_audit=home.audit_db)
    if model is None:
        return configured_service(config, home=home).to_asgi()
    return configured_service(config, home=home, load_model=lambda alias, where: model).to_asgi()


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving_on_loopback(app: Any, *, startup_seconds: float = 60.0) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn in a thread on a free loopback port; yield its base URL, stop it after.

    The caller sets ``PROMETHEUS_MULTIPROC_DIR`` (BentoML's metrics need a folder of their own).
    """
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_seconds
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the service did not start on port {port} within {startup_seconds:.0f} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
