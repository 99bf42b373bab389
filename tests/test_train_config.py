"""The experiment config: the shipped default.toml equals the code defaults, misspelt keys get a suggestion, ranges are checked."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from features.errors import ConfigError as FeaturesConfigError
from models.config import DEFAULT_CAPACITY_PER_1000, LightGBMConfig
from models.risk_model import RiskModel
from training.config import ExperimentConfig, PromotionConfig, load_config
from training.errors import ConfigError, TrainingError
from training.promote import _promotion_config
from training.record import flatten

DEFAULT_TOML = Path(__file__).resolve().parents[1] / "experiments" / "default.toml"


def test_the_shipped_default_toml_equals_the_code_defaults_key_by_key() -> None:
    shipped, code = load_config(DEFAULT_TOML).to_dict(), ExperimentConfig().to_dict()
    assert set(shipped) == set(code)
    for key in code:
        assert shipped[key] == code[key], key
    assert load_config(DEFAULT_TOML) == ExperimentConfig()


def test_the_shipped_default_toml_spells_out_every_model_split_and_evaluation_setting() -> None:
    written = load_config(DEFAULT_TOML)
    for section in ("model", "split", "evaluation", "baselines", "calibration", "equity", "promotion"):
        table = getattr(written, section)
        # model_fields_set holds the keys the file gave: every setting of these tables is written out (None-valued ones aside).
        assert {k for k, v in table if v is not None} <= table.model_fields_set, section


def test_risk_model_keyword_defaults_are_the_lightgbm_config_defaults() -> None:
    signature = inspect.signature(RiskModel)
    defaults = {name: parameter.default for name, parameter in signature.parameters.items()}
    # ``directions`` is data (from the predictor declarations), not a hyperparameter: no directions, no constraints.
    assert defaults.pop("directions") is None
    assert defaults == LightGBMConfig().model_dump()
    params = RiskModel().get_params()
    assert params.pop("directions") is None
    assert params == ExperimentConfig().model.model_dump()
    assert (defaults["min_child_samples"], defaults["random_state"]) == (200, 7)


def test_the_capacity_default_is_the_one_shared_constant() -> None:
    assert ExperimentConfig().evaluation.capacity_per_1000 == DEFAULT_CAPACITY_PER_1000 == 6.0


def test_a_misspelt_model_key_says_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"key 'model.min_child_sample' is not a setting; did you mean 'min_child_samples'\?"):
        ExperimentConfig.load({"model": {"min_child_sample": 5}})


def test_a_misspelt_top_level_key_says_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text('outcom = "high_intensity_use"\n')
    with pytest.raises(ConfigError, match=r"exp.toml key 'outcom' is not a setting; did you mean 'outcome'\?"):
        load_config(path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"model": {"learning_rate": 0}}, "model.learning_rate must be > 0; got 0.0. Use e.g. 0.05."),
        ({"split": {"calibration_fraction": 1.5}}, "split.calibration_fraction must be strictly between 0 and 1; got 1.5. Use e.g. 0.4."),
        ({"evaluation": {"capacity_per_1000": 0}}, "evaluation.capacity_per_1000 must be in (0, 1000); got 0.0. Use e.g. 6."),
        ({"promotion": {"slope_range": [1.2, 1.3]}}, "promotion.slope_range must be [low, high] around 1; got [1.2, 1.3]. Use e.g. [0.9, 1.1]."),
        ({"calibration": {"methods": ["isotonic"]}}, "calibration.methods must be a non-empty subset of ['smoothed_isotonic', 'beta', 'platt']; got ['isotonic']. Fix the names."),
        ({"outcome": "death"}, "outcome must be one of ['high_intensity_use', 'emergency_admission']; got 'death'. Fix the top-level outcome."),
    ],
)
def test_an_out_of_range_value_names_the_key_the_value_and_the_fix(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ExperimentConfig.load(table)
    assert str(raised.value) == message


def test_config_errors_are_training_errors_and_features_config_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        ExperimentConfig.load({"baselines": {"logistic_c": -1}})
    assert isinstance(raised.value, TrainingError) and isinstance(raised.value, FeaturesConfigError)


def test_the_features_table_takes_the_experiment_outcome_and_rejects_another() -> None:
    config = ExperimentConfig.load({"outcome": "emergency_admission", "features": {"hiu_ed": 4}})
    assert (config.features.outcome, config.features.hiu_ed, config.label_column) == ("emergency_admission", 4, "label_emergency_admission")
    with pytest.raises(ConfigError, match=r"\[features\] outcome must match the top-level outcome 'high_intensity_use'; got 'emergency_admission'"):
        ExperimentConfig.load({"features": {"outcome": "emergency_admission"}})


def test_to_dict_round_trips_including_dates_and_nested_tables() -> None:
    config = ExperimentConfig.load({
        "name": "dated",
        "split": {"train_dates": ["2024-12-01"], "valid_dates": ["2025-03-01"], "min_history_months": 12},
        "model": {"num_leaves": 15},
        "features": {"windows": [[0, 6], [6, 12]]},
    })
    plain = config.to_dict()
    assert plain["split"]["train_dates"] == ["2024-12-01"]
    assert plain["model"]["num_leaves"] == 15
    assert ExperimentConfig.load(plain) == config


def test_promotion_settings_are_read_back_from_the_runs_flattened_mlflow_params() -> None:
    config = ExperimentConfig.load({"promotion": {"auroc_tolerance": 0.01, "slope_range": [0.8, 1.2]}})
    params = flatten(config.to_dict())
    assert (params["promotion.auroc_tolerance"], params["promotion.slope_range"]) == ("0.01", "[0.8, 1.2]")
    assert _promotion_config(params) == PromotionConfig(auroc_tolerance=0.01, slope_range=(0.8, 1.2))
