"""A bounded schemathesis run over the app's own OpenAPI spec, with a valid admin key: no
request the spec allows may get a 5xx, and every response must match its own schema."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.serving.test_scores import app, trained  # noqa: F401 - fixtures reused

MAX_EXAMPLES = int(os.environ.get("FORECAST_FUZZ_EXAMPLES", "30"))  # per operation: bounded


def test_no_server_error_and_responses_match_the_spec(app, api_keys):  # noqa: F811
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"X-API-Key": api_keys["admin"]}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run: no flaky CI
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        check()
