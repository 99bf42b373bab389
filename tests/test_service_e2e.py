"""End to end: simulated population -> features -> registered champion -> `risingrisk score` -> the service over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from features.build import build_features
from features.config import FeatureConfig
from features.dates import add_months, extract_date
from features.definitions import predictor_names
from features.home import Home
from models.risk_model import RiskModel
from risingrisk.cli import app
from service_support import service_app
from serving.auth import TokenStore
from serving.publish import current_publication
from training.registry import MODEL_NAME, log_and_register
from training.tracking import configure_tracking

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Register a small champion trained on the simulated population, score it with the CLI, serve the home."""
    config = FeatureConfig()
    extract = extract_date(sim_dir)
    dates = [add_months(extract, -m) for m in (24, 21)]
    table = build_features(sim_dir, as_of=dates, labels=True, config=config)
    table = table[table["in_cohort"] & table[config.label_column].notna()]
    names = predictor_names(config)
    part = {d: table[table["as_of"] == pd.Timestamp(d)] for d in dates}
    label = lambda frame: frame[config.label_column].astype(int).to_numpy()  # noqa: E731
    model = RiskModel(n_estimators=60, learning_rate=0.1, num_leaves=15, min_child_samples=50, early_stopping_rounds=15, n_jobs=1)
    model.fit(part[dates[0]][names], label(part[dates[0]]), X_valid=part[dates[1]][names], y_valid=label(part[dates[1]]))
    # a test model: the later date serves for early stopping and calibration alike
    model.calibrate(part[dates[1]][names], label(part[dates[1]]), method="platt")
    root = tmp_path_factory.mktemp("e2e-home")
    home = Home(root).ensure()
    configure_tracking(home)
    with mlflow.start_run():
        log_and_register(
            model, name=MODEL_NAME, example=part[dates[0]][names].head(5), aliases=("champion",),
            metadata={"feature_names": names, "outcome": config.outcome, "feature_config": config.to_dict(),
                      "training_window": {"train": [str(dates[0])], "calibrate": [str(dates[1])]}},
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISINGRISK_HOME", str(root))
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        scored = CliRunner().invoke(app, ["score", "--data", str(sim_dir)])
        assert scored.exit_code == 0, scored.output
        publication = current_publication(home)
        assert publication is not None
        neighbourhood = max(publication.metadata["list_sizes"], key=publication.metadata["list_sizes"].get)
        token = TokenStore(home.tokens).create(neighbourhoods=[neighbourhood])[1]
        with TestClient(service_app(home)) as client:
            yield {"client": client, "publication": publication, "neighbourhood": neighbourhood,
                   "headers": {"Authorization": f"Bearer {token}"}, "sim_dir": sim_dir}


def test_the_served_list_is_the_published_list_of_the_scored_population(pipeline: dict[str, Any]) -> None:
    client, publication, nb = pipeline["client"], pipeline["publication"], pipeline["neighbourhood"]
    assert client.get("/readyz").status_code == 200
    body = client.get(f"/v1/neighbourhoods/{nb}/list", headers=pipeline["headers"]).json()
    lists = publication.lists()
    expected = lists[lists["neighbourhood"] == nb].sort_values("rank")
    assert [p["person_id"] for p in body["people"]] == list(expected["person_id"])
    assert len(body["people"]) == publication.metadata["list_sizes"][nb] > 0
    assert body["model_version"] == "1" and body["as_of"] == publication.metadata["as_of"]


def test_a_served_explanation_matches_the_published_score_and_the_raw_events(pipeline: dict[str, Any]) -> None:
    client, publication, nb = pipeline["client"], pipeline["publication"], pipeline["neighbourhood"]
    lists = publication.lists()
    person = lists[(lists["neighbourhood"] == nb) & (lists["rank"] == 1)]["person_id"].iloc[0]
    body = client.get(f"/v1/people/{person}/explanation", headers=pipeline["headers"]).json()
    published = publication.population().set_index("person_id").loc[person, "score"]
    assert body["score"] == pytest.approx(published, abs=1e-12)
    assert sum(r["contribution"] for r in body["reasons"]) == pytest.approx(body["score"] - body["base_score"], abs=1e-9)

    # the timeline counts the person's raw events in the 24 calendar months before as_of (recorded by as_of)
    as_of = pd.Timestamp(date.fromisoformat(publication.metadata["as_of"]))
    events = pd.read_parquet(pipeline["sim_dir"] / "events.parquet")
    events = events[events["person_id"] == person]
    when = pd.to_datetime(events["event_date"])
    recorded = pd.to_datetime(events["recorded_at"]).fillna(when) if "recorded_at" in events else when
    first = (as_of - pd.DateOffset(days=1)).to_period("M") - 23
    seen = events[(when < as_of) & (recorded <= as_of) & (when.dt.to_period("M") >= first)]
    expected = seen.groupby([when[seen.index].dt.strftime("%Y-%m"), seen["setting"].astype(str)]).size()
    served = {(m["month"], s): c for m in body["timeline"] for s, c in m["counts"].items() if c}
    assert served == {k: int(v) for k, v in expected.items()}
    assert sum(served.values()) > 0
