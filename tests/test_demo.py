"""The demo takes an empty home to a published, token-protected list, and is safe to run twice."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from features.home import home
from risingrisk.cli import app
from risingrisk.demo import DEMO_LABEL, STAGES, run_demo
from serving.auth import TokenStore
from serving.publish import current_publication

#: A fast experiment with gates wide enough for a small population.
FAST = {
    "name": "demo-test",
    "split": {"train_step_months": 1, "n_train_dates": 2},
    "model": {"n_estimators": 60, "learning_rate": 0.1, "early_stopping_rounds": 10, "min_child_samples": 50},
    "calibration": {"folds": 3},
    "evaluation": {"n_bootstrap": 20, "shap_sample": 500},
    "equity": {"min_group_auroc": 0.5, "max_abs_calibration_in_the_large": 0.5},
    "promotion": {"slope_range": [0.5, 2.0], "auroc_tolerance": 1.0, "ece_tolerance": 1.0},
}


@pytest.mark.slow
def test_demo_publishes_lists_with_a_token_per_neighbourhood_prints_a_clean_log_and_reruns_safely(tmp_path: Path) -> None:
    where = home(tmp_path / "home")
    experiment = tmp_path / "fast.toml"
    experiment.write_text(tomli_w.dumps(FAST))

    ran = CliRunner().invoke(
        app, ["demo", "--people", "12000", "--seed", "3", "--home", str(where.root), "--experiment", str(experiment), "--no-serve"],
        env={"COLUMNS": "80"}, terminal_width=80,
    )

    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    # Off a terminal: one line per stage with its duration, in order, then the total; no library chatter anywhere.
    assert [re.sub(r"\d+\.\d s$", "N s", line) for line in lines[: len(STAGES) + 1]] == [
        *(f"demo: {stage} … N s" for stage in STAGES), "demo: finished in N s",
    ]
    for chatter in ("INFO", "Successfully registered", "Created version", "alembic", "Warning"):
        assert chatter not in ran.output
    assert "Successfully registered model" in (where.root / "logs" / "risingrisk.log").read_text()
    assert "…" not in ran.output.replace(" … ", " ")  # only the stage lines' separator; no figure is cut
    assert max(len(line) for line in lines if not line.startswith(("demo:", "risingrisk serve"))) <= 80
    assert "Promoted: v1 is now the champion." in ran.output
    # --no-serve: no URL for a server that is not running; how to start it instead.
    assert "http://" not in ran.output and "curl" not in ran.output
    assert f"risingrisk serve --home {where.root} --host 127.0.0.1 --port 3000" in lines
    tokens_file = where.root / "demo" / "tokens.txt"
    assert "stores only their hashes" in " ".join(ran.output.split()) and "readable by you only" in " ".join(ran.output.split())
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    first_tokens = dict(line.split("\t") for line in tokens_file.read_text().splitlines())

    publication = current_publication(where)
    assert publication is not None
    list_sizes = publication.metadata["list_sizes"]
    lists = publication.lists()
    assert lists.groupby("neighbourhood").size().to_dict() == {k: v for k, v in list_sizes.items() if v}
    assert set(first_tokens) == {*list_sizes, "PHM"}
    store = TokenStore(where.tokens)
    for neighbourhood in list_sizes:
        principal = store.authenticate(f"Bearer {first_tokens[neighbourhood]}")
        assert principal is not None and principal.neighbourhoods == frozenset({neighbourhood})
    simulated = where.root / "demo" / "population-12000-seed3" / "persons.parquet"
    simulated_at = simulated.stat().st_mtime_ns

    stages: list[str] = []
    second = run_demo(people=12_000, seed=3, where=where, experiment=experiment, progress=lambda task, done, total: stages.append(task))

    assert list(dict.fromkeys(stages)) == list(STAGES)
    assert simulated.stat().st_mtime_ns == simulated_at  # the population is reused
    assert second.trained is not None and second.trained.version == "2"
    assert second.promotion is not None and second.promotion.challenger_version == "2"
    assert second.champion_version == ("2" if second.promotion.promoted else "1")
    assert store.authenticate(f"Bearer {first_tokens['PHM']}") is None  # the first run's tokens are revoked
    live = [r for r in store.records() if r.label == DEMO_LABEL and r.revoked_at is None]
    assert len(live) == len(list_sizes) + 1
    assert dict(line.split("\t") for line in tokens_file.read_text().splitlines()) == second.tokens


@pytest.mark.slow
def test_a_demo_whose_model_is_not_promoted_stops_with_the_reasons_and_no_traceback(tmp_path: Path) -> None:
    where = home(tmp_path / "home")
    experiment = tmp_path / "strict.toml"
    experiment.write_text(tomli_w.dumps({**FAST, "equity": {**FAST["equity"], "min_group_size": 1, "min_group_positives": 1, "min_group_auroc": 0.999, "gate_level": 0.0}}))

    ran = CliRunner().invoke(
        app, ["demo", "--people", "3000", "--seed", "3", "--home", str(where.root), "--experiment", str(experiment), "--no-serve"],
        env={"COLUMNS": "200"}, terminal_width=200,
    )

    assert ran.exit_code == 1
    said = " ".join(ran.output.split())
    assert "demo: promote … " in said
    assert "demo stopped: the demo needs a champion model to score with, and the model it trained was not promoted: " in said
    assert "Traceback" not in ran.output and "│" not in ran.output
