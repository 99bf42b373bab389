"""The floors hold: import-linter's contracts pass and library modules import at the top."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("features", "models", "training", "serving", "risingrisk")


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("lint-imports must be installed with the test extra; got none. Run make test.")
    return found


def test_import_linter_contracts_for_the_floors_and_terminal_libraries_are_kept() -> None:
    result = subprocess.run([_lint_imports()], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _function_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    line = lines[inner.lineno - 1]
                    previous = lines[inner.lineno - 2] if inner.lineno > 1 else ""
                    if "start-up" not in line and "start-up" not in previous:
                        found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    return found


def test_library_modules_import_at_the_top_unless_a_start_up_reason_is_written() -> None:
    offenders = [
        hit
        for package in LIBRARY
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for hit in _function_level_imports(path)
    ]
    assert offenders == [], "imports inside functions (move to the top or comment the start-up reason): " + ", ".join(offenders)
