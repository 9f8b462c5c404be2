"""Schemathesis against ``/openapi.json`` with an admin token: no request makes a 5xx, and
every 2xx answer matches its documented response model.

Each operation's Hypothesis strategy is driven here directly (``schemathesis.pytest``'s
fixture loader does not run under pytest 9: it reads a node attribute pytest 9 removed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

import test_api_fixtures as fa
from callwatch.store import Store

filled_store = fa.filled_store
_filled_file = fa._filled_file

EXAMPLES = 25


def test_no_request_makes_a_server_error(
    filled_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWATCH_API_DOCS", "open")  # the schema is read from /openapi.json
    app, _, tokens = fa.make_app(filled_store, tmp_path)
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    # /api/live is an endless stream (see test_api_live) and /readyz answers 503 by design
    # while the service is not started; everything else is fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
        path=["/api/live", "/readyz"]
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert "GET /api/calls" in labels and "POST /api/callbacks" in labels and len(labels) >= 10
    calls = 0

    def fuzz(operation: schemathesis.APIOperation) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )
            calls += 1

        run()

    for operation in operations:
        fuzz(operation)
    assert calls >= len(operations) * 5
