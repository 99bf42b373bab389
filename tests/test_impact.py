"""Impact evaluation: planted effects recovered, regression to the mean not mistaken for an effect, balance, controls."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.simulation import SimulationConfig, simulate
from features.simulation.enrolment import PATHWAY_CODE, enrol_after_bursts
from features.simulation.errors import SimulationError
from risingrisk.commands.impact import impact_command
from training.impact import ImpactConfig, MEASURES, evaluate_impact, extract_enrolments, write_impact
from training.impact.balance import CONVERGENCE_SMD

from impact_support import burst_population, mechanism_b_population, planted_population

WINDOW = {"enrol_from": date(2022, 1, 1), "enrol_to": date(2023, 12, 1)}
#: Largest error of the A&E rate ratio on the fixed-seed populations below: the corrected estimator's errors are
#: 0.002 (simulator, approximate balance within 0.02 SD; 0.005 before approximate balancing), 0.030 (mechanism B) and 0.006
#: (AR(1) process); the estimator that censored and reweighted later
#: enrolments missed the first two by 0.162 and 0.073 (benchmarks/results/impact_bias.json has the bias over 24 runs).
TOLERANCE = 0.04


@pytest.fixture(scope="session")
def planted_result(tmp_path_factory):
    data = planted_population(tmp_path_factory.mktemp("impact") / "data", people=40_000, seed=11, rate_ratio=0.75)
    return data, evaluate_impact(data, config=ImpactConfig(**WINDOW))


@pytest.fixture(scope="session")
def null_result(tmp_path_factory):
    data = planted_population(tmp_path_factory.mktemp("impact0") / "data", people=40_000, seed=12, rate_ratio=1.0)
    return data, evaluate_impact(data, config=ImpactConfig(**WINDOW))


@pytest.fixture(scope="session")
def mechanism_b_result(tmp_path_factory):
    data = mechanism_b_population(tmp_path_factory.mktemp("mechanism_b") / "data", people=20_000, seed=11, rate_ratio=0.75)
    return data, evaluate_impact(data, config=ImpactConfig(**WINDOW))


@pytest.fixture(scope="session")
def burst(tmp_path_factory):
    population = burst_population(tmp_path_factory.mktemp("burst") / "data", people=8_000, seed=1, rate_ratio=0.75)
    return population, evaluate_impact(population.data, holdout=population.holdout, ranks=population.ranks)


@pytest.mark.slow
def test_planted_rate_ratio_of_075_is_recovered_within_004_and_covered_by_the_ci(planted_result):
    _, result = planted_result
    ed = result.measures["ed"]
    assert abs(ed.rate_ratio - 0.75) <= TOLERANCE
    assert ed.ci_low <= 0.75 <= ed.ci_high


@pytest.mark.slow
def test_planted_rate_ratio_of_075_is_recovered_within_004_on_mechanism_b(mechanism_b_result):
    _, result = mechanism_b_result
    ed = result.measures["ed"]
    assert abs(ed.rate_ratio - 0.75) <= TOLERANCE and ed.ci_low <= 0.75 <= ed.ci_high
    assert result.naive["ed"] < 0.6 and result.max_smd_after < 0.1


@pytest.mark.slow
def test_with_no_effect_the_ci_covers_one_while_the_naive_ratio_shows_a_fall_over_20_percent(null_result):
    _, result = null_result
    for measure in ("ed", "emergency_admission"):
        assert result.measures[measure].ci_low <= 1.0 <= result.measures[measure].ci_high
    assert result.naive["ed"] < 0.8


@pytest.mark.slow
def test_every_covariate_is_balanced_below_01_after_matching(planted_result):
    _, result = planted_result
    assert result.max_smd_after < 0.1
    assert max(abs(row.smd_before) for row in result.balance) > 1.0  # the enrolled were very different before


@pytest.mark.slow
def test_impact_json_reports_how_controls_were_weighted_and_its_figures_match_the_weights_used(planted_result, tmp_path):
    _, result = planted_result
    balance = result.to_json()["balance"]
    per_person = result.pairs.loc[~result.pairs["treated"]].groupby("person_id")["weight"].sum()
    assert balance["control_people"] == len(per_person) == result.n_controls
    assert balance["effective_sample_size_controls"] == pytest.approx(per_person.sum() ** 2 / (per_person**2).sum(), rel=1e-9)
    assert balance["effective_sample_size_controls"] < balance["control_people"]
    assert balance["weighting"] in {"entropy", "approximate_entropy"}
    assert balance["max_abs_smd_after"] == max(abs(row["smd_after"]) for row in balance["covariates"])
    assert result.balancing.max_smd == pytest.approx(balance["max_abs_smd_after"], abs=1e-9)  # balance table computes it anew
    assert balance["least_achievable_max_abs_smd"] <= balance["max_abs_smd_after"] <= balance["tolerance"] + CONVERGENCE_SMD
    assert balance["max_abs_smd_after"] < balance["max_abs_smd_matching_weights"]
    page = write_impact(result, tmp_path).html.read_text()
    assert f"Effective sample size of the controls: {balance['effective_sample_size_controls']:.0f} of {result.n_controls} people" in page


@pytest.mark.slow
def test_a_person_enrolled_before_the_window_start_is_never_a_control(planted_result):
    data, result = planted_result
    enrolments = extract_enrolments(data, config=result.config).dates
    before = set(enrolments.loc[enrolments["enrolled_on"] < pd.Timestamp(WINDOW["enrol_from"]), "person_id"])
    assert len(before) > 0
    assert before.isdisjoint(result.pairs["person_id"])


@pytest.mark.slow
def test_controls_enrolled_later_keep_being_followed_with_their_enrolment_recorded_after_day_zero(planted_result):
    data, result = planted_result
    enrolled = extract_enrolments(data, config=result.config).dates.set_index("person_id")["enrolled_on"]
    controls = result.pairs[~result.pairs["treated"]]
    later = controls[controls["person_id"].isin(enrolled.index)]
    assert len(later) > 0 and controls["stop"].isna().all()
    assert (later["later_enrolment"].to_numpy() == later["person_id"].map(enrolled).to_numpy()).all()
    assert (later["later_enrolment"] >= later["trial"] + pd.offsets.MonthBegin(1)).all()
    assert controls.loc[~controls["person_id"].isin(enrolled.index), "later_enrolment"].isna().all()
    later_doc = result.to_json()["later_enrolment"]
    assert later_doc["handling"] == "adjust" and later_doc["control_rows_enrolled_later"] == len(later)
    assert 0 < later_doc["share_of_control_events_after_it"]["ed"] < 0.5


@pytest.mark.slow
def test_with_censor_a_control_enrolled_later_is_followed_until_the_first_day_of_that_month(planted_result):
    data, _ = planted_result
    result = evaluate_impact(data, config=ImpactConfig(**WINDOW, later_enrolment="censor", bootstrap=100))
    controls = result.pairs[~result.pairs["treated"]]
    later = controls[controls["later_enrolment"].notna()]
    assert len(later) > 0
    assert (later["stop"] == later["later_enrolment"].dt.to_period("M").dt.start_time).all()
    assert controls.loc[controls["later_enrolment"].isna(), "stop"].isna().all()
    assert "censored from that month's first day" in result.to_json()["method"]


@pytest.mark.slow
def test_impact_json_has_the_issue_shape_and_the_html_fetches_nothing(planted_result, tmp_path):
    _, result = planted_result
    files = write_impact(result, tmp_path)
    doc = json.loads(files.json.read_text())
    assert set(doc) >= {"measures", "method", "balance"}
    assert set(doc["measures"]) == set(MEASURES)
    for values in doc["measures"].values():
        assert {k: type(values[k]) for k in ("rate_ratio", "ci_low", "ci_high", "naive_pre_post_ratio")} == dict.fromkeys(
            ("rate_ratio", "ci_low", "ci_high", "naive_pre_post_ratio"), float)
        assert isinstance(values["n_enrolled"], int) and isinstance(values["n_controls"], int)
    page = files.html.read_text()
    assert "<svg" in page and "src=" not in page and "href=" not in page and "@import" not in page


@pytest.mark.slow
def test_the_method_recovers_a_planted_effect_on_an_ar1_burst_process(burst):
    _, result = burst
    ed = result.measures["ed"]
    assert abs(ed.rate_ratio - 0.75) <= TOLERANCE and ed.ci_low <= 0.75 <= ed.ci_high
    assert result.naive["ed"] < 0.6  # regression to the mean makes the naive fall far larger than 25%
    assert result.max_smd_after < 0.1


@pytest.mark.slow
def test_the_randomised_holdout_comparison_covers_the_planted_effect(burst):
    population, result = burst
    assert result.randomised_n == {"n_listed": int((population.holdout["arm"] == "listed").sum()),
                                   "n_holdout": int((population.holdout["arm"] == "holdout").sum())}
    ed = result.randomised["ed"]
    assert ed.ci_low <= 0.75 <= ed.ci_high and ed.ci_high < 1.0
    assert result.discontinuity["ed"]["bandwidth"] == 150
    assert result.discontinuity["ed"]["n_listed"] == 150 and result.discontinuity["ed"]["n_not_listed"] == 150


def _tiny(tmp_path: Path) -> Path:
    persons = pd.DataFrame({"person_id": ["A", "B", "C"], "birth_date": date(1970, 1, 1), "sex": "F", "practice": "P",
                            "neighbourhood": "N", "registered_from": date(2015, 1, 1), "registered_to": None, "death_date": None})
    events = pd.DataFrame({"person_id": ["A"], "event_date": pd.Timestamp("2022-01-05"), "setting": "ed"})
    codes = pd.DataFrame({"person_id": ["A", "A", "B", "Z"], "code": [PATHWAY_CODE, PATHWAY_CODE, PATHWAY_CODE, PATHWAY_CODE],
                          "code_system": ["snomed", None, "SNOMED", "snomed"],
                          "start_date": [date(2022, 3, 1), date(2022, 2, 1), date(2022, 5, 1), date(2022, 1, 1)]})
    for name, frame in (("persons", persons), ("events", events), ("codes", codes)):
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    return tmp_path


def test_enrolments_from_codes_and_actions_are_merged_to_the_earliest_date_and_duplicates_counted(tmp_path):
    actions = pd.DataFrame({"person_id": ["B", "C"], "action_date": ["2022-04-10", "2022-06-01"]})
    enrolments = extract_enrolments(_tiny(tmp_path), config=ImpactConfig(), actions=actions)
    assert enrolments.dates.assign(enrolled_on=enrolments.dates["enrolled_on"].dt.date).to_dict("list") == {
        "person_id": ["A", "B", "C"], "enrolled_on": [date(2022, 2, 1), date(2022, 4, 10), date(2022, 6, 1)]}
    assert (enrolments.code_rows, enrolments.action_rows, enrolments.duplicates_merged, enrolments.unknown_people) == (4, 2, 2, 1)


def test_an_unreadable_action_date_is_an_error_naming_the_row(tmp_path):
    actions = pd.DataFrame({"person_id": ["B", "C"], "action_date": ["2022-04-10", "soon"]})
    with pytest.raises(ValueError, match="row 1 column action_date must be a date; got 'soon'"):
        extract_enrolments(_tiny(tmp_path), config=ImpactConfig(), actions=actions)


def test_planting_with_rate_ratio_one_removes_no_events_and_is_deterministic(tmp_path):
    truths = []
    for name in ("a", "b"):
        out = tmp_path / name
        simulate(people=2000, seed=5, out=out, start=date(2021, 1, 1), end=date(2023, 1, 1),
                 config=SimulationConfig(icp_per_month_in_crisis=0.0))
        rows = len(pd.read_parquet(out / "events.parquet"))
        truths.append(enrol_after_bursts(out, seed=3, rate_ratio=1.0, first_month=date(2021, 6, 1), last_month=date(2022, 6, 1),
                                         burst_threshold=2))
        assert len(pd.read_parquet(out / "events.parquet")) == rows
    assert truths[0] == truths[1] and truths[0].enrolled > 0 and sum(truths[0].removed_events.values()) == 0
    codes = pd.read_parquet(tmp_path / "a" / "codes.parquet")
    assert int((codes["code"] == PATHWAY_CODE).sum()) == truths[0].enrolled


def test_planting_refuses_a_folder_that_already_has_the_simulators_own_pathway(tmp_path):
    simulate(people=3000, seed=5, out=tmp_path, start=date(2021, 1, 1), end=date(2023, 1, 1),
             config=SimulationConfig(icp_per_month_in_crisis=0.5))
    with pytest.raises(SimulationError, match="icp_per_month_in_crisis=0.0"):
        enrol_after_bursts(tmp_path, seed=1, rate_ratio=0.75, first_month=date(2021, 6, 1), last_month=date(2022, 6, 1))


@pytest.mark.slow
def test_the_impact_command_writes_json_html_and_an_mlflow_run(burst, tmp_path, monkeypatch):
    population, _ = burst
    monkeypatch.setenv("RISINGRISK_HOME", str(tmp_path / "home"))
    app = typer.Typer()
    app.command()(impact_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["impact-command", "--data", str(population.data), "--out", str(tmp_path / "out"),
                                      "--from", "2022-01-01", "--to", "2023-12-01"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "A&E attendances" in result.output and "Naive before/after" in result.output
    doc = json.loads((tmp_path / "out" / "impact.json").read_text())
    assert doc["window"] == {"enrol_from": "2022-01-01", "enrol_to": "2023-12-01", "follow_up_months": 12}
    balance = doc["balance"]
    assert f"Effective sample size of the controls: {balance['effective_sample_size_controls']:.0f} of" in " ".join(result.output.split())
    assert (tmp_path / "out" / "impact.html").exists() and (tmp_path / "home" / "mlflow.db").exists()


def test_the_impact_command_reports_a_bad_window_without_a_traceback(tmp_path):
    app = typer.Typer()
    app.command()(impact_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["impact-command", "--data", str(_tiny(tmp_path)), "--out", str(tmp_path / "o"),
                                      "--from", "2022-01-15"])
    assert result.exit_code == 2
    assert "enrol_from must be the first day of a month" in result.output
