"""The README's configuration reference is generated from the typed configs and kept current."""

from __future__ import annotations

from pathlib import Path

from risingrisk.config_reference import END, START, reference_markdown
from training.config import ExperimentConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_configuration_reference_is_the_generated_one() -> None:
    text = README.read_text()
    block = START + text.split(START, 1)[1].split(END, 1)[0] + END
    assert block == reference_markdown(), "regenerate it: python -m risingrisk.config_reference --write README.md"


def test_every_experiment_setting_appears_with_its_description() -> None:
    reference = reference_markdown()
    for name, field in ExperimentConfig.model_fields["split"].annotation.model_fields.items():
        assert f"| `split.{name}` |" in reference
        assert field.description and field.description.split(".")[0].replace("|", "\\|") in reference
    assert "| `model.min_child_samples` | `200` |" in reference
    assert "| `features.outcome_window` | `[6, 18]` |" in reference


def test_the_capacity_file_is_documented_by_its_key_paths_with_the_shared_capacity_default() -> None:
    reference = reference_markdown()
    assert "| `capacity.per_thousand` | `6.0` |" in reference and "| `evaluation.capacity_per_1000` | `6.0` |" in reference
    for key in ("capacity.rule", "capacity.weights", "capacity.overrides", "caseload.suppress_months", "caseload.reasons"):
        assert f"| `{key}` |" in reference
