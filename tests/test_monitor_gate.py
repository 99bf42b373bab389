"""The publication gate: every score carries a monitoring report, a feed outage stops the lists unless accepted, drift uses the model's reference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.dates import add_months, extract_date
from features.home import Home
from features.simulation.faults import plant_feed_outage
from risingrisk.cli import app
from serving.monitoring import read_report
from serving.publish import current_publication, list_publications
from training.record import drift_reference
from training.registry import MODEL_NAME, load_model, log_and_register
from training.split import IndexDates
from model_support import small_model, tracked_home

REFERENCE_ROWS = 3000


def _copy(sim_dir: Path, out: Path) -> Path:
    out.mkdir()
    for name in ("persons", "events", "codes"):
        shutil.copy(sim_dir / f"{name}.parquet", out / f"{name}.parquet")
    return out


@pytest.fixture(scope="module")
def home(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A home with the champion (registered with a drift reference) and a 'legacy' version registered without one."""
    extract = extract_date(sim_dir)
    dates = IndexDates(train=(add_months(extract, -30), add_months(extract, -27)), valid=(add_months(extract, -24), add_months(extract, -21)))
    small = small_model(sim_dir, dates)
    where = tracked_home(tmp_path_factory)
    reference = drift_reference(small.model, small.data, rows=REFERENCE_ROWS, seed=7)
    example = small.data.X.head(5)
    with mlflow.start_run():
        log_and_register(small.model, name=MODEL_NAME, example=example, metadata=small.metadata, aliases=("champion",), drift_reference=reference)
    with mlflow.start_run():
        log_and_register(small.model, name=MODEL_NAME, example=example, metadata=small.metadata, aliases=("legacy",))
    return where


def _score(where: Home, data: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["score", "--home", str(where.root), "--data", str(data), "--out", str(out), *extra])


@pytest.mark.slow
def test_the_champions_drift_reference_is_a_sample_of_training_rows_with_their_calibrated_scores(home: Home) -> None:
    champion, legacy = load_model("champion", home=home), load_model("legacy", home=home)
    reference = champion.drift_reference()
    assert reference is not None and len(reference) == REFERENCE_ROWS
    assert list(reference.columns) == [*champion.feature_names, "neighbourhood", "score"]
    assert reference["neighbourhood"].notna().all()
    assert reference["score"].to_numpy() == pytest.approx(champion.model.predict_proba(reference[champion.feature_names])[:, 1])
    assert legacy.drift_reference_path is None and legacy.drift_reference() is None


@pytest.mark.slow
def test_a_clean_extract_is_published_with_its_report_and_drift_against_the_reference(home: Home, sim_dir: Path, tmp_path: Path) -> None:
    result = _score(home, sim_dir, tmp_path / "pubs")
    assert result.exit_code == 0, result.output
    report = read_report(home.root / "monitoring")
    assert report is not None and report["counts"]["critical"] == 0
    assert report["notes"] == []
    assert len(report["drift"]["features"]) == len(load_model("champion", home=home).feature_names)
    assert report["drift"]["score"]["name"] == "score"
    publication = current_publication(tmp_path / "pubs")
    meta = publication.metadata["monitoring"]
    assert meta["alerts"]["critical"] == 0 and meta["accepted_alerts"] == [] and meta["accepted_by"] is None
    assert meta["report"] == "monitoring/monitor.json"
    assert json.loads((publication.path / meta["report"]).read_text())["created_at"] == report["created_at"]
    runs = mlflow.search_runs(experiment_names=["risingrisk"], filter_string="tags.`risingrisk.stage` = 'monitor'")
    assert meta["mlflow_run_id"] in set(runs["run_id"])


@pytest.mark.slow
def test_a_feed_outage_stops_the_publication_and_the_previous_lists_stay_current(home: Home, sim_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pubs"
    assert _score(home, sim_dir, out).exit_code == 0
    before = current_publication(out)
    data = _copy(sim_dir, tmp_path / "outage")
    plant_feed_outage(data, "nhs111", 60)
    result = _score(home, data, out)
    assert result.exit_code == 1, result.output
    assert "feed_drop:nhs111" in result.output and "nothing was published" in result.output
    assert current_publication(out).id == before.id
    assert [p.id for p in list_publications(out)] == [before.id]
    report = read_report(home.root / "monitoring")
    assert [(a["kind"], a["subject"]) for a in report["alerts"] if a["severity"] == "critical"] == [("feed_drop", "nhs111")]


@pytest.mark.slow
def test_scoring_a_date_the_extract_does_not_cover_back_to_the_lookback_is_refused(home: Home, sim_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pubs"
    result = _score(home, sim_dir, out, "--as-of", "2022-07-01")  # events start January 2021: 18 of the 24 months
    assert result.exit_code == 1, result.output
    assert "short_history:events" in result.output and "nothing was published" in result.output
    assert list_publications(out) == []
    report = read_report(home.root / "monitoring")
    critical = [a for a in report["alerts"] if a["severity"] == "critical"]
    assert [(a["kind"], a["subject"]) for a in critical] == [("short_history", "events")]
    assert "Score on 2023-01-01 or later, or export history from 2020-07-01" in critical[0]["message"]


@pytest.mark.slow
def test_a_scoring_date_before_the_current_lists_is_refused_before_any_work_and_a_backtest_goes_elsewhere(
    home: Home, sim_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pubs"
    assert _score(home, sim_dir, out).exit_code == 0
    before = current_publication(out)
    result = _score(home, sim_dir, out, "--as-of", "2024-06-01")
    assert result.exit_code == 2, result.output
    assert f"must not be earlier than the current lists' ({before.id}, as of {before.metadata['as_of']}); got 2024-06-01" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert [p.id for p in list_publications(out)] == [before.id]
    assert _score(home, sim_dir, tmp_path / "backtest", "--as-of", "2024-06-01").exit_code == 0


@pytest.mark.slow
def test_an_accepted_outage_is_published_and_the_acceptance_recorded(home: Home, sim_dir: Path, tmp_path: Path) -> None:
    data = _copy(sim_dir, tmp_path / "outage")
    plant_feed_outage(data, "nhs111", 60)
    result = _score(home, data, tmp_path / "pubs", "--accept-alert", "feed_drop:nhs111", "--accepted-by", "Dr A Lead")
    assert result.exit_code == 0, result.output
    meta = current_publication(tmp_path / "pubs").metadata["monitoring"]
    assert [(a["kind"], a["subject"], a["severity"]) for a in meta["accepted_alerts"]] == [("feed_drop", "nhs111", "critical")]
    assert meta["accepted_by"] == "Dr A Lead" and meta["accepted_at"] is not None
    assert meta["alerts"]["critical"] == 1


@pytest.mark.slow
def test_a_model_registered_without_a_reference_skips_drift_with_a_note(home: Home, sim_dir: Path, tmp_path: Path) -> None:
    result = _score(home, sim_dir, tmp_path / "pubs", "--model", "legacy")
    assert result.exit_code == 0, result.output
    report = read_report(home.root / "monitoring")
    assert report["drift"] is None
    assert report["notes"] == [
        f"drift not measured: the model ({MODEL_NAME} v2) was registered without a drift reference sample; retrain to measure drift"
    ]
    assert current_publication(tmp_path / "pubs").metadata["monitoring"]["notes"] == report["notes"]


def test_a_malformed_accepted_alert_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["score", "--home", str(tmp_path), "--data", str(tmp_path), "--accept-alert", "nhs111"])
    assert result.exit_code == 2
    assert "KIND:SUBJECT" in result.output and not (tmp_path / "monitoring").exists()


def test_simulate_plants_the_faults_it_is_asked_for_and_records_them(tmp_path: Path) -> None:
    out = tmp_path / "d"
    result = CliRunner().invoke(app, [
        "simulate", "--people", "500", "--seed", "3", "--out", str(out), "--start", "2022-01-01", "--end", "2023-01-01",
        "--outage", "nhs111:30", "--recode", "X1:X2:2022-06-01", "--lag-increase", "20:2022-10-01:ed",
    ])
    assert result.exit_code == 0, result.output
    assert "Planted faults" in result.output
    faults = json.loads((out / "_truth" / "faults.json").read_text())
    assert [(f["kind"], f["subject"], f["since"]) for f in faults] == [
        ("feed_outage", "nhs111", "2022-12-01"), ("recoding", "X2", "2022-06-01"), ("lag_increase", "ed", "2022-10-01"),
    ]
    events = pd.read_parquet(out / "events.parquet")
    assert not ((events["setting"] == "nhs111") & (pd.to_datetime(events["event_date"]) >= pd.Timestamp(faults[0]["since"]))).any()
    assert faults[0]["rows_removed"] > 0 and faults[2]["rows_changed"] > 0


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--outage", "nhs111", "SETTING:DAYS"),
    ("--recode", "X1:2022-06-01", "CODE:NEWCODE:YYYY-MM-DD"),
    ("--lag-increase", "20:2022-10-01:nowhere", "DAYS:YYYY-MM-DD[:SETTING]"),
    ("--lag-increase", "20:October", "YYYY-MM-DD"),
])
def test_simulate_refuses_a_malformed_fault_before_simulating(tmp_path: Path, option: str, value: str, says: str) -> None:
    result = CliRunner().invoke(app, ["simulate", "--people", "500", "--seed", "3", "--out", str(tmp_path / "d"), option, value])
    assert result.exit_code == 2
    assert says in result.output and not (tmp_path / "d").exists()
