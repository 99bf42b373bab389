"""The curl command the demo prints works when pasted: a shell runs it against the service and gets the list (200)."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from features.home import Home
from risingrisk.demo import service_lines
from serving.auth import TokenStore
from service_support import NEIGHBOURHOODS, fit_model, service_app, serving_on_loopback, write_publication



@pytest.fixture()
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Home, str]]:
    home = Home(tmp_path / "home").ensure()
    model = fit_model()
    write_publication(home, model)
    prometheus = tmp_path / "prometheus"
    prometheus.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(prometheus))
    with serving_on_loopback(service_app(home, model)) as base:
        yield home, base


def test_the_printed_curl_command_pasted_into_a_shell_gets_the_list_at_80_columns(served: tuple[Home, str]) -> None:
    assert shutil.which("curl"), "curl must be installed (Debian: apt-get install -y curl) to run this test"
    home, base = served
    neighbourhood = NEIGHBOURHOODS[1]  # "Brook & Fen": a space and an ampersand to quote
    _, token = TokenStore(home.tokens).create(neighbourhoods=[neighbourhood], label="curl test")
    console = Console(file=io.StringIO(), width=80, color_system=None)

    service_lines(console, base=base, neighbourhood=neighbourhood, token=token)

    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert token in lines  # the token alone on its own line
    (command,) = [line for line in lines if line.startswith("curl ")]
    assert len(command) > 80  # longer than the screen, yet on one line
    pasted = subprocess.run(["bash", "-c", command + " -s -o /dev/null -w '%{http_code}'"], capture_output=True, text=True, timeout=60)
    assert pasted.stdout == "200", pasted.stderr
    body = subprocess.run(["bash", "-c", command + " -s"], capture_output=True, text=True, timeout=60).stdout
    assert f'"neighbourhood":"{neighbourhood}"' in body.replace(": ", ":")
