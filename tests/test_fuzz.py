"""Schemathesis fuzzes the served API from its own OpenAPI description, with a PHM and a neighbourhood token: no 5xx, no schema violations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from features.home import Home
from service_support import fit_model, service_app, serving_on_loopback, write_publication
from serving.auth import TokenStore

pytestmark = pytest.mark.slow

#: Generated requests per operation, token and mode (bounded so CI stays quick).
EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]



@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The service under uvicorn on a loopback port (no rate limit, so every generated request is answered), with two tokens."""
    home = Home(tmp_path_factory.mktemp("home")).ensure()
    model = fit_model()
    write_publication(home, model)
    store = TokenStore(home.tokens)
    tokens = {"phm": store.create(phm=True)[1], "alpha": store.create(neighbourhoods=["Alpha Vale"])[1]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path_factory.mktemp("prometheus")))
        with serving_on_loopback(service_app(home, model)) as base:
            yield {"base": base, "tokens": tokens}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("token", ["phm", "alpha"])
def test_fuzzing_every_operation_finds_no_server_error_and_no_answer_outside_the_schema(
    served: dict[str, Any], token: str, mode: GenerationMode
) -> None:
    spec = requests.get(served["base"] + "/docs.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = {"Authorization": f"Bearer {served['tokens'][token]}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            case.call_and_validate(base_url=served["base"], headers=headers, checks=CHECKS, timeout=30)

        try:
            call()
        except Unsatisfiable:
            # an operation without parameters or body has no invalid request to generate
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as error:  # noqa: BLE001 - every operation's failure is collected and shown together
            failures.append(f"{operation.label}: {type(error).__name__}: {str(error)[:800]}")
    assert operations == len([m for item in spec["paths"].values() for m in item if m in ("get", "post", "put", "patch", "delete")])
    assert failures == []
