"""The demo takes an empty home to a published, token-protected list, and is safe to run twice."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from risingrisk.demo import DEMO_LABEL, run_demo
from features.home import home
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
def test_demo_publishes_lists_with_a_token_per_neighbourhood_and_reruns_safely(tmp_path: Path) -> None:
    where = home(tmp_path / "home")
    experiment = tmp_path / "fast.toml"
    experiment.write_text(tomli_w.dumps(FAST))
    stages: list[str] = []

    first = run_demo(people=12_000, seed=3, where=where, experiment=experiment, on_stage=stages.append)

    assert stages == ["simulate", "validate", "train", "promote", "score and publish", "tokens"]
    publication = current_publication(where)
    assert publication is not None and publication.id == first.publication_id
    lists = publication.lists()
    assert lists.groupby("neighbourhood").size().to_dict() == {k: v for k, v in first.list_sizes.items() if v}
    store = TokenStore(where.tokens)
    for neighbourhood in first.list_sizes:
        principal = store.authenticate(f"Bearer {first.tokens[neighbourhood]}")
        assert principal is not None and principal.neighbourhoods == frozenset({neighbourhood})

    second = run_demo(people=12_000, seed=3, where=where, experiment=experiment)

    assert second.seconds["simulate"] < first.seconds["simulate"]  # the population is reused
    assert second.trained.version == "2"
    assert store.authenticate(f"Bearer {first.tokens['PHM']}") is None  # the first run's tokens are revoked
    live = [r for r in store.records() if r.label == DEMO_LABEL and r.revoked_at is None]
    assert len(live) == len(first.list_sizes) + 1
