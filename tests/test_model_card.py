"""The model card: every TRIPOD+AI section present in Markdown and HTML; tables rendered exactly."""

from __future__ import annotations

import pandas as pd

from training.model_card import REQUIRED_SECTIONS, CardFacts, markdown_table, render_model_card, write_model_card


def _facts(oracle: dict[str, float] | None) -> CardFacts:
    table = markdown_table(pd.DataFrame({"model": ["LightGBM"], "AUROC": ["0.812 (0.801–0.823)"]}))
    return CardFacts(
        model_name="risingrisk-high-intensity-use", version="3", run_id="abc", created_at="2026-11-24 12:00 UTC",
        experiment="default", outcome="high_intensity_use", outcome_definition="high intensity use", outcome_window=(6, 18),
        data_dir="/data", data_start="2022-11-01", extract_date="2026-10-31", train_dates=["2024-11-01"],
        valid_dates=["2025-02-01", "2025-05-01"], partial_history_rows=0, hyperparameters={"learning_rate": 0.05}, best_iteration=120,
        calibration_method="platt", calibration_cv_brier={"isotonic": 0.0141, "platt": 0.0139}, capacity_per_1000=6.0,
        capacity_fraction=0.0064, top_fractions=[0.01, 0.05], headline={"auroc": "0.812", "ppv_capacity": "0.3", "calibration_slope": "1.0"},
        oracle=oracle, equity_passed=False, equity_failures=["sex = F: AUROC 0.600 < 0.65"],
        equity_gates={"min_group_size": 1000, "min_group_positives": 25, "min_group_auroc": 0.65, "max_abs_calibration_in_the_large": 0.02, "gate_level": 0.95},
        n_bootstrap=200, tables={k: table for k in ("slices", "exclusions", "predictors", "missing", "performance", "calibration", "equity", "intersections")},
        figures={"Calibration plot": "../figures/calibration.png"},
    )


def test_model_card_shows_the_constraint_comparison_listed_calibration_and_the_list_policy_tables(tmp_path) -> None:
    facts = _facts(None)
    extra = {
        "constraints": "| model | auroc |\n|---|---|\n| unconstrained | 0.801 |",
        "listed_calibration": "| model | observed − predicted |\n|---|---|\n| LightGBM | 0.010 |",
        "policies": "| policy | ppv |\n|---|---|\n| stratified | 0.210 |",
        "policy_bands": "| attribute | band | risk |\n|---|---|---|\n| age_band | 5-11 | 0.030 |",
    }
    facts = CardFacts(**{**facts.__dict__, "hyperparameters": {"monotone": True, "monotone_method": "basic"}, "tables": {**facts.tables, **extra}})
    markdown, _ = render_model_card(facts)
    assert "method `basic`" in markdown
    for table in extra.values():
        assert table in markdown
    assert "no one is shown 0% or 100%" in markdown


def test_model_card_has_every_required_section_in_markdown_and_html(tmp_path) -> None:
    md_path, html_path = write_model_card(_facts(None), tmp_path)
    markdown, html = md_path.read_text(), html_path.read_text()
    for section in REQUIRED_SECTIONS:
        assert f"\n## {section}\n" in markdown
        assert f"<h2>{section}</h2>" in html
    assert "<table>" in html and '<img src="../figures/calibration.png"' in html


def test_model_card_states_failed_equity_gates_and_the_oracle_ratio() -> None:
    markdown, _ = render_model_card(_facts({"oracle_auroc": 0.9, "model_auroc": 0.81, "ratio": 0.9}))
    assert "Equity gates: **FAILED**" in markdown
    assert "- sex = F: AUROC 0.600 < 0.65" in markdown
    assert "a group failing only when its whole 95%\ninterval lies beyond the threshold" in markdown
    assert "**90.0%** of the" in markdown


def test_markdown_table_formats_floats_and_shows_missing_as_a_dash() -> None:
    frame = pd.DataFrame({"group": ["1", "missing"], "auroc": [0.81234, float("nan")], "count": [10, 2]})
    assert markdown_table(frame) == "| group | auroc | count |\n|---|---|---|\n| 1 | 0.812 | 10 |\n| missing | – | 2 |"


def test_model_card_says_how_many_training_rows_had_unobserved_counts_only_when_some_did() -> None:
    facts = _facts(None)
    assert "set missing (not zero)" not in render_model_card(facts)[0]
    markdown, _ = render_model_card(CardFacts(**{**facts.__dict__, "partial_history_rows": 12345}))
    assert "- 12,345 training rows sit at dates with less history than the longest count window" in markdown
    assert f"months before {facts.data_start} are unobserved and set missing (not zero)" in markdown
