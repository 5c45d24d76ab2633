"""The repository API against its own OpenAPI document, by a property-based fuzzer (schemathesis).

Every operation gets requests generated from the document the API serves, sent through Airflow's real API
server app with a real login to a warehouse holding repositories, snapshots and summaries. The checks:
no 5xx, every answer as the document describes it (status, content type, body schema), and no request
the document allows refused (a 4xx other than 401/403/404/409/429 for a valid request): the document
states every rule the API enforces. Requests the document does not allow must be refused.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from github_etl.hooks.warehouse import DatabaseConnection
from tests.integration import test_api as api_tests
from tests.integration import test_insights

pytestmark = pytest.mark.integration

# Cases per operation (valid and invalid ones): about a minute for the whole document on a busy machine.
MAX_EXAMPLES = 40

# The API tests' fixtures: the same Airflow app and login.
airflow_app, credentials, token = api_tests.airflow_app, api_tests.credentials, api_tests.token


@pytest.fixture
def api_schema(airflow_app: Any, token: str, pg_url: str, warehouse: DatabaseConnection, monkeypatch) -> Any:
    """The document the API serves, bound to Airflow's app, on a warehouse with data in every table."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    api_tests._insert(warehouse, "repositories", *test_insights.REPOSITORIES)
    test_insights._observe(warehouse, test_insights.STARS)
    return schemathesis.openapi.from_asgi(f"{api_tests.PREFIX}/openapi.json", airflow_app)


@pytest.mark.parametrize(("path", "method"), sorted(api_tests.OPERATIONS))
def test_the_api_keeps_its_openapi_contract(api_schema: Any, token: str, path: str, method: str) -> None:
    operation = api_schema[path][method.upper()]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def keeps_the_contract(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

    keeps_the_contract()
