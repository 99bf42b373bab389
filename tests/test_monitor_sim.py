"""Monitoring on simulated extracts: quiet on clean data at month-ends, and each planted fault flagged by name."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from conftest import SIM_END
from features.codelists import load_codelists
from features.dates import add_months
from features.simulation import simulate
from features.simulation.faults import parse_outage, plant_feed_outage, plant_lag_increase, plant_recoding
from features.simulation.errors import SimulationError
from risingrisk.commands.monitor import monitor_command
from serving.monitoring import KINDS, MonitorConfig, run_monitor, write_report

CLEAN_SEEDS = (101, 202, 303)


def _copy(sim_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    out.mkdir()
    for name in ("persons", "events", "codes"):
        shutil.copy(sim_dir / f"{name}.parquet", out / f"{name}.parquet")
    return out


def _keys(report, severity: str | None = None) -> list[tuple[str, str]]:
    return [(a.kind, a.subject) for a in report.alerts if severity is None or a.severity == severity]


def test_clean_data_raise_no_critical_alert_at_the_last_four_month_ends(sim_dir):
    for k in range(4):
        as_of = add_months(SIM_END, -k)
        report = run_monitor(sim_dir, as_of=as_of, backtest=False)
        assert report.critical == [], (as_of, report.critical)
    assert report.as_of == date(2024, 10, 1)
    assert all(s.reason_not_judged is None and len(s.judged) == 3 for s in report.feeds.settings)


@pytest.mark.slow
def test_clean_data_raise_no_critical_alert_at_any_month_end_over_several_seeds(tmp_path):
    """No critical alert over seeds x month-ends (8,000 people each; benchmarks/bench_monitor.py records the rate)."""
    runs = critical = 0
    short = []
    for seed in CLEAN_SEEDS:
        out = tmp_path / f"seed{seed}"
        simulate(people=8_000, seed=seed, out=out, start=date(2021, 1, 1), end=date(2025, 1, 1))
        as_of = date(2022, 1, 1)
        while as_of <= date(2025, 1, 1):
            report = run_monitor(out, as_of=as_of, backtest=False)
            runs += 1
            critical += sum(a.kind != "short_history" for a in report.critical)
            short += [as_of for a in report.critical if a.kind == "short_history"]
            as_of = add_months(as_of, 1)
    assert runs == len(CLEAN_SEEDS) * 37
    assert critical == 0
    # the 24-month lookback is covered from 2023-01-01: every earlier month end, and only those, is refused for it
    assert sorted(set(short)) == [add_months(date(2022, 1, 1), k) for k in range(12)]
    assert len(short) == 12 * len(CLEAN_SEEDS)


def test_a_feed_outage_is_a_critical_alert_naming_the_setting(sim_dir, tmp_path):
    data = _copy(sim_dir, tmp_path)
    fault = plant_feed_outage(data, *parse_outage("nhs111:60"))
    assert fault.rows_removed > 0 and fault.since == (SIM_END - timedelta(days=60)).isoformat()
    report = run_monitor(data, backtest=False)
    assert _keys(report, "critical") == [("feed_drop", "nhs111")]
    assert "nhs111" in report.critical[0].message


def test_a_partial_month_outage_is_flagged_too(sim_dir, tmp_path):
    data = _copy(sim_dir, tmp_path)
    plant_feed_outage(data, "emergency_admission", 20)
    report = run_monitor(data, backtest=False)
    assert _keys(report, "critical") == [("feed_drop", "emergency_admission")]


def test_a_recoded_concept_is_reported_as_a_new_unmapped_code(sim_dir, tmp_path):
    data = _copy(sim_dir, tmp_path)
    since = SIM_END - timedelta(days=75)
    listed = load_codelists()
    with duckdb.connect() as con:
        con.register("listed", listed)
        code = con.execute(
            f"SELECT c.code FROM read_parquet('{(data / 'codes.parquet').as_posix()}') c JOIN listed l USING (code) "
            "WHERE c.recorded_at >= ? GROUP BY c.code ORDER BY count(*) DESC, c.code LIMIT 1", [since]
        ).fetchone()[0]
    new_code = "9990001000000107"
    fault = plant_recoding(data, code, new_code, since)
    assert fault.rows_changed >= MonitorConfig().new_code_min_rows
    report = run_monitor(data, backtest=False)
    assert report.critical == []
    assert ("unmapped_codes", new_code) in _keys(report, "warning")
    assert [c.code for c in report.new_codes] == [new_code]
    assert report.new_codes[0].rows == fault.rows_changed


@pytest.mark.slow
def test_a_recoded_single_code_category_collapses_its_new_onsets(tmp_path):
    """Every code of one category replaced: its new-onset rate collapses (a second, larger population)."""
    data = tmp_path / "data"
    simulate(people=60_000, seed=77, out=data, start=date(2021, 1, 1), end=date(2025, 1, 1))
    listed = load_codelists()
    sizes = listed.groupby("category")["code"].nunique()
    single = sorted(sizes[sizes == 1].index)
    with duckdb.connect() as con:
        con.register("listed", listed)
        category, code = con.execute(
            f"SELECT l.category, l.code FROM read_parquet('{(data / 'codes.parquet').as_posix()}') c JOIN listed l USING (code) "
            f"WHERE l.category IN ({', '.join(repr(c) for c in single)}) AND c.start_date >= DATE '2024-06-01' "
            "GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    plant_recoding(data, code, "9990011000000103", date(2024, 11, 1))
    report = run_monitor(data, backtest=False)
    assert ("unmapped_codes", f"category:{category}") in _keys(report, "warning")
    assert ("unmapped_codes", "9990011000000103") in _keys(report, "warning")


def test_a_recording_lag_increase_is_flagged_naming_the_setting(sim_dir, tmp_path):
    data = _copy(sim_dir, tmp_path)
    fault = plant_lag_increase(data, 21, SIM_END - timedelta(days=90), setting="outpatient")
    assert fault.rows_changed > 0
    report = run_monitor(data, backtest=False)
    assert ("recording_lag", "outpatient") in _keys(report, "warning")
    assert [k for k in _keys(report) if k[0] == "recording_lag"] == [("recording_lag", "outpatient")]


def test_outage_text_must_name_a_setting_and_days():
    assert parse_outage("ed:30") == ("ed", 30)
    with pytest.raises(SimulationError, match="SETTING:DAYS"):
        parse_outage("a&e:30")


def test_the_report_files_hold_the_alert_schema_and_a_self_contained_page(sim_dir, tmp_path):
    data = _copy(sim_dir, tmp_path)
    plant_feed_outage(data, "ambulance", 45)
    report = run_monitor(data, backtest=False)
    paths = write_report(report, tmp_path / "out")
    document = json.loads(paths["json"].read_text())
    assert document["alerts"][0] == {"kind": "feed_drop", "subject": "ambulance", "severity": "critical", "message": report.alerts[0].message}
    assert all(set(a) == {"kind", "subject", "severity", "message"} and a["kind"] in KINDS for a in document["alerts"])
    assert document["counts"]["critical"] == 1
    page = paths["html"].read_text()
    assert page.count("<svg") == len(report.feeds.settings) + 1
    assert "http://" not in page and "https://" not in page and "src=" not in page


def test_the_monitor_command_exits_non_zero_on_a_critical_alert(sim_dir, tmp_path):
    data = _copy(sim_dir, tmp_path)
    plant_feed_outage(data, "gp", 40)
    app = typer.Typer()
    app.command()(monitor_command)
    result = CliRunner().invoke(
        app, ["--data", str(data), "--out", str(tmp_path / "out"), "--home", str(tmp_path / "home"), "--no-mlflow"],
        terminal_width=200,
    )
    assert result.exit_code == 1, result.output
    assert "feed_drop" in result.output and "gp" in result.output
    assert (tmp_path / "out" / "monitor.html").exists()


@pytest.mark.slow
def test_the_report_is_logged_to_mlflow(sim_dir, tmp_path):
    from features.home import Home
    from serving.monitoring.tracking import log_report
    from training.tracking import client

    data = _copy(sim_dir, tmp_path)
    plant_feed_outage(data, "gp", 40)
    report = run_monitor(data, backtest=False)
    home = Home(tmp_path / "home")
    run_id = log_report(report, home, paths=write_report(report, tmp_path / "out"))
    run = client(home).get_run(run_id)
    assert run.data.metrics["alerts_critical"] == 1.0
    assert run.data.tags["alert.feed_drop_gp"] == "critical"
    assert sorted(a.path for a in client(home).list_artifacts(run_id, "monitoring")) == ["monitoring/monitor.html", "monitoring/monitor.json"]


@pytest.mark.slow
def test_a_backtest_of_a_publication_scored_with_its_own_outcome_has_auroc_one(sim_dir, tmp_path):
    from features.build import build_features
    from serving.publish import publish

    as_of = date(2022, 6, 1)
    table = build_features(sim_dir, as_of=[as_of], labels=True)
    cohort = table[table["in_cohort"] & table["label_high_intensity_use"].notna()]
    population = pd.DataFrame({
        "person_id": cohort["person_id"].to_numpy(),
        "neighbourhood": cohort["neighbourhood"].to_numpy(),
        "score": cohort["label_high_intensity_use"].astype(float).to_numpy() * 0.5 + 0.25,
        "list_rank": pd.array([None] * len(cohort), dtype="Int64"),
    })
    empty = pd.DataFrame({"person_id": pd.Series([], dtype=str)})
    root = tmp_path / "publications"
    publish(root, population=population, lists=empty, features=empty, timeline=empty, metadata={"as_of": as_of.isoformat()})
    config = MonitorConfig(backtest_ages_months=(0, 12))
    report = run_monitor(sim_dir, publications=root, config=config, today=date(2025, 1, 1))
    fresh, aged = report.backtest
    assert (fresh.age_months, aged.age_months) == (0, 12)
    assert fresh.auroc == 1.0 and fresh.people == len(cohort) and fresh.unlabelled == 0
    assert fresh.observed_overall == pytest.approx(cohort["label_high_intensity_use"].mean())
    assert aged.auroc < 1.0
    assert ("stale", report.staleness.publication_id) in _keys(report, "warning")


def test_drift_is_measured_against_the_current_publication(sim_dir, tmp_path):
    import numpy as np

    from serving.monitoring import DriftInputs
    from serving.monitoring.errors import MonitorInputError
    from serving.publish import publish

    rng = np.random.default_rng(4)
    n = 4000
    ids = [f"P{i:06d}" for i in range(n)]
    population = pd.DataFrame({"person_id": ids, "neighbourhood": rng.choice(["A", "B"], n), "score": rng.beta(3, 30, n),
                               "list_rank": pd.array([None] * n, dtype="Int64")})
    features = pd.DataFrame({"person_id": ids, "ed_0_3m": rng.poisson(1.5, n), "age": rng.integers(0, 90, n)})
    empty = pd.DataFrame({"person_id": pd.Series([], dtype=str)})
    root = tmp_path / "publications"
    publish(root, population=population, lists=empty, features=features, timeline=empty, metadata={"as_of": "2024-12-31"})
    reference = pd.DataFrame({"ed_0_3m": rng.poisson(0.3, n), "age": rng.integers(0, 90, n), "neighbourhood": rng.choice(["A", "B"], n)})
    drift = DriftInputs(reference=reference, reference_scores=rng.beta(1, 30, n))  # features: the publication's
    report = run_monitor(sim_dir, publications=root, drift=drift, today=date(2025, 1, 10))
    assert ("feature_drift", "ed_0_3m") in _keys(report, "warning")
    assert ("score_drift", "score") in _keys(report, "warning")
    assert ("feature_drift", "age") not in _keys(report)
    assert report.backtest == [] and report.staleness.age_days == 10 and not report.staleness.stale
    with pytest.raises(MonitorInputError, match="drift needs the population scored now"):
        run_monitor(sim_dir, drift=drift)
