"""The package carries what it needs: the default experiment, code lists, templates, migrations and mappings."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from training.config import PACKAGED_EXPERIMENT, ExperimentConfig, load_config

ROOT = Path(__file__).resolve().parents[1]

#: Data files a wheel must hold (glob patterns inside the wheel) for the product to run outside the repository.
PACKAGE_DATA = (
    "training/default_experiment.toml",
    "training/templates/*.j2",
    "features/codelists/*.csv",
    "features/database/migrations/env.py",
    "features/database/migrations/versions/*.py",
    "features/importers/*.toml",
    "serving/templates/*.html",
    "serving/static/risingrisk.css",
    "serving/static/nhsuk/nhsuk-frontend.min.css",
    "serving/static/nhsuk/LICENCE.txt",
    "serving/static/nhsuk/images/*.svg",
)


def test_the_packaged_default_experiment_is_the_repository_copy_byte_for_byte() -> None:
    assert PACKAGED_EXPERIMENT.read_bytes() == (ROOT / "experiments" / "default.toml").read_bytes()


def test_train_without_a_config_reads_the_packaged_default_which_equals_the_code_defaults() -> None:
    assert load_config(None) == ExperimentConfig()


def test_the_default_experiment_loads_from_any_working_folder(tmp_path: Path) -> None:
    code = "from training.config import load_config, ExperimentConfig; assert load_config(None) == ExperimentConfig(); print('ok')"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.slow
def test_the_wheel_holds_every_data_file_the_product_reads(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = tmp_path.glob("risingrisk-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    missing = [pattern for pattern in PACKAGE_DATA if not any(Path(name).match(pattern) for name in names)]
    assert missing == []
    for source in ROOT.glob("features/codelists/*.csv"):
        assert f"features/codelists/{source.name}" in names
