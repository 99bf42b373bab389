"""Test helper: a model card as a training run writes it (model_card/ beside figures/), with wide tables, a server path and markup in run data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from training.model_card import CardFacts, markdown_table, write_model_card

__all__ = ["HOSTILE", "SECRET_DIR", "write_card"]

#: Run data that would be markup if a page interpreted it: must show as text.
HOSTILE = '<script>alert("card")</script><img src=x onerror=alert(1)>'
#: A server folder the card names; the pages and the API withhold it.
SECRET_DIR = "/srv/risingrisk/secret-data"


def _equity() -> str:
    groups = [f"IMD quintile {q}" for q in range(1, 6)] + ["sex = F", "sex = M", "age 75+"]
    frame = pd.DataFrame({
        "group": groups,
        "rows": [12000 + 1000 * i for i in range(len(groups))],
        "prevalence": [0.0121 + 0.001 * i for i in range(len(groups))],
        "AUROC": [f"0.{801 + i} (0.{780 + i}–0.{822 + i})" for i in range(len(groups))],
        "calibration-in-the-large": [-0.0012 + 0.0003 * i for i in range(len(groups))],
        "selection rate": [0.006 + 0.0001 * i for i in range(len(groups))],
        "true-positive rate": [0.21 + 0.01 * i for i in range(len(groups))],
        "false-positive rate": [0.004 + 0.0002 * i for i in range(len(groups))],
        "false-omission rate": [0.009 + 0.0001 * i for i in range(len(groups))],
        "mean predicted": [0.0119 + 0.001 * i for i in range(len(groups))],
        "observed": [0.0121 + 0.001 * i for i in range(len(groups))],
    })
    return markdown_table(frame, floats="{:.4f}")


def _figure(path: Path, colour: str) -> None:
    figure = Figure(figsize=(4, 3), dpi=60)
    figure.add_subplot().plot([0, 1], [0, 1], color=colour)
    figure.savefig(path)


def write_card(run: Path) -> Path:
    """Write ``run/model_card/model_card.md`` (and .html) and two of its three figures under ``run/figures``; return the card's path.

    The card is rendered by the training run's own template. It names :data:`SECRET_DIR`, carries
    :data:`HOSTILE` in an equity failure, has a wide subgroup table, and its "Subgroup chart"
    figure is missing on disk.
    """
    figures = run / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    _figure(figures / "roc_pr.png", "#005eb8")
    _figure(figures / "calibration.png", "#d5281b")
    predictors = markdown_table(pd.DataFrame({
        "predictor": ["ed_0_3m", "sn_lives_alone"], "group": ["utilisation", "social_need"], "direction": ["raises", "raises"],
        "description": ["A&E attendances in the last 3 months (counted when the record had reached the data store by the index date)",
                        "Lives alone or is socially isolated (coded finding active at the index date)"],
    }))
    small = markdown_table(pd.DataFrame({"model": ["LightGBM", "Tier 1 thresholds"], "AUROC": ["0.812 (0.801–0.823)", "0.702 (0.690–0.713)"]}))
    facts = CardFacts(
        model_name="risingrisk-high-intensity-use", version="3", run_id="run0", created_at="2026-11-24 12:00 UTC",
        experiment="default", outcome="high_intensity_use", outcome_definition="high intensity use", outcome_window=(6, 18),
        data_dir=SECRET_DIR, data_start="2022-11-01", extract_date="2026-10-31", train_dates=["2024-11-01"],
        valid_dates=["2025-02-01", "2025-05-01"], partial_history_rows=0, hyperparameters={"learning_rate": 0.05}, best_iteration=120,
        calibration_method="platt", calibration_cv_brier={"isotonic": 0.0141, "platt": 0.0139}, capacity_per_1000=6.0,
        capacity_fraction=0.0064, top_fractions=[0.01, 0.05],
        headline={"auroc": "0.812", "ppv_capacity": "0.31", "calibration_slope": "0.98"},
        oracle=None, equity_passed=False, equity_failures=[f"sex = F: AUROC 0.600 < 0.65 {HOSTILE}"],
        equity_gates={"min_group_size": 1000, "min_group_positives": 25, "min_group_auroc": 0.65, "max_abs_calibration_in_the_large": 0.02, "gate_level": 0.95},
        n_bootstrap=200,
        tables={"slices": small, "exclusions": small, "predictors": predictors, "missing": small, "performance": small,
                "calibration": small, "equity": _equity(), "intersections": small},
        figures={"ROC and precision-recall curves": "../figures/roc_pr.png", "Calibration plot": "../figures/calibration.png",
                 "Subgroup chart": "../figures/subgroups.png"},
    )
    card, _ = write_model_card(facts, run / "model_card")
    return card
