"""The repository API against its own OpenAPI document, by a property-based fuzzer (schemathesis).

Every operation gets requests generated from the document the API serves, sent through Airflow's real API
server app with a real login to a warehouse holding repositories, snapshots and summaries. The checks:
no 5xx, every answer as the document describes it (status, content type, body schema), and no request
the document allows refused (a 4xx other than 401/403/404/409/429 for a valid request): the document
states every rule the API enforces. Requests the document does not allow must be refused. The answers a client
handles besides these keep the document too: the 401 of a request without a login and the 503 of a warehouse
that cannot be reached, headers included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

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


# A few requests per operation: the refusal does not depend on the parameters.
REFUSAL_EXAMPLES = 5


@pytest.fixture
def warehouse_down(monkeypatch) -> Iterator[None]:
    """A warehouse at a port where nothing listens: every data request gets a 503."""
    with contextlib.closing(api_tests._closed_port()) as sock:
        port = sock.getsockname()[1]
        monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", f"postgresql://etl@127.0.0.1:{port}/warehouse")
        yield


@pytest.mark.parametrize(("path", "method"), sorted(api_tests.OPERATIONS))
@pytest.mark.parametrize(("login", "expected"), [(False, 401), (True, 503)], ids=["no-login", "warehouse-down"])
def test_refusals_keep_the_openapi_contract(
    airflow_app: Any, token: str, warehouse_down: None, path: str, method: str, login: bool, expected: int
) -> None:
    schema = schemathesis.openapi.from_asgi(f"{api_tests.PREFIX}/openapi.json", airflow_app)
    operation = schema[path][method.upper()]
    headers = {"Authorization": f"Bearer {token}"} if login else {}

    @given(case=operation.as_strategy())
    @settings(max_examples=REFUSAL_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def refused_as_documented(case: Any) -> None:
        response = case.call(headers=headers)
        assert response.status_code == expected, response.text
        # A 503 is the answer documented here, not a failure of the server.
        case.validate_response(response, headers=headers, excluded_checks=[not_a_server_error])

    refused_as_documented()
