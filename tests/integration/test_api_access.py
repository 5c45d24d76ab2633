"""Who may read the repository API: Airflow users whom the auth manager lets read the ``github_repositories`` DAG.

Airflow's API server app is built as ``airflow api-server`` builds it, with an auth manager standing for one
whose roles grant DAGs one by one (FAB's, Keycloak's): SimpleAuthManager's users and login, except that the
user ``outsider`` may not read ``github_repositories``, as a role of another team would not.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from starlette.testclient import TestClient

from github_etl.settings import DAG_ID
from tests.fixtures.airflow import api_server_app

pytestmark = pytest.mark.integration

PREFIX = "/github-etl"
PASSWORDS = {name: secrets.token_urlsafe(16) for name in ("reader", "outsider", "boss")}
FORBIDDEN = {"detail": f"Airflow does not let this user read the DAG {DAG_ID}, whose data this API serves"}


class OneDagWithheldAuthManager(SimpleAuthManager):
    """SimpleAuthManager, whose viewer role reads every DAG, except that ``outsider`` may not read this project's."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        if user.get_name() == "outsider" and details is not None and details.id == DAG_ID:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)


@pytest.fixture(scope="module")
def airflow_app(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    passwords_file = tmp_path_factory.mktemp("auth") / "simple_auth_manager_passwords.json"
    roles = {"reader": "viewer", "outsider": "viewer", "boss": "admin"}
    users = {name: (role, PASSWORDS[name]) for name, role in roles.items()}
    with api_server_app(passwords_file, users, auth_manager=f"{__name__}.{OneDagWithheldAuthManager.__name__}") as app:
        yield app


@pytest.fixture
def client(airflow_app: Any, pg_url: str, warehouse: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    with TestClient(airflow_app, base_url="http://127.0.0.1") as client:
        yield client


def _token(client: TestClient, username: str) -> str:
    response = client.post("/auth/token", json={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


@pytest.mark.parametrize("username", ["reader", "boss"])
def test_users_who_may_read_the_dag_read_the_api(client, username):
    headers = {"Authorization": f"Bearer {_token(client, username)}"}

    response = client.get(f"{PREFIX}/repositories/count", headers=headers)

    assert response.status_code == 200
    assert response.json() == {"count": 0}


@pytest.mark.parametrize("url", ["/repositories/count", "/repositories", "/runs", "/trending", "/languages/shares"])
def test_a_user_who_may_not_read_the_dag_is_refused_with_403(client, url):
    headers = {"Authorization": f"Bearer {_token(client, 'outsider')}"}

    # Twice: a refusal is not remembered as an acceptance (GITHUB_ETL_API_AUTH_CACHE_SECONDS).
    for _ in range(2):
        response = client.get(f"{PREFIX}{url}", headers=headers)
        assert response.status_code == 403
        assert response.json() == FORBIDDEN
        assert "WWW-Authenticate" not in response.headers


def test_the_ui_session_cookie_of_a_user_who_may_not_read_the_dag_is_refused(client):
    client.cookies.set("_token", _token(client, "outsider"))

    response = client.get(f"{PREFIX}/repositories/count")

    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_the_openapi_document_declares_the_403(client):
    spec = client.get(f"{PREFIX}/openapi.json").json()

    for path, methods in spec["paths"].items():
        for operation in methods.values():
            assert "403" in operation["responses"], path
