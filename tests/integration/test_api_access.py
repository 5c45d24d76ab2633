"""Who may read the repository API: Airflow users whom the auth manager lets read the ``github_repositories`` DAG,
or the DAG ``GITHUB_ETL_API_DAG_ID`` names.

Airflow's API server app is built as ``airflow api-server`` builds it, with an auth manager standing for one
whose roles grant DAGs one by one (FAB's, Keycloak's): SimpleAuthManager's users and login, except that the
user ``outsider`` may not read ``github_repositories``, as a role of another team would not, and ``reader`` may
not read ``github_search_rust``.
"""

from __future__ import annotations

import dataclasses
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
OTHER_HARVEST = "github_search_rust"
WITHHELD = {("outsider", DAG_ID), ("reader", OTHER_HARVEST)}


class OneDagWithheldAuthManager(SimpleAuthManager):
    """SimpleAuthManager, whose viewer role reads every DAG, except that ``outsider`` may not read this project's
    DAG and ``reader`` may not read another harvest."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        if details is not None and (user.get_name(), details.id) in WITHHELD:
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


@pytest.fixture
def gated_by_another_harvest(airflow_app: Any) -> Iterator[None]:
    """The mounted API as GITHUB_ETL_API_DAG_ID=github_search_rust makes it, its accepted tokens forgotten."""
    (api,) = [route.app for route in airflow_app.routes if getattr(route, "path", None) == PREFIX]
    settings = api.state.settings
    api.state.settings = dataclasses.replace(settings, dag_id=OTHER_HARVEST)
    api.state.accepted_tokens = None
    try:
        yield
    finally:
        api.state.settings = settings
        api.state.accepted_tokens = None


def test_the_readers_of_the_dag_github_etl_api_dag_id_names_read_the_api_and_no_one_else(
    client, gated_by_another_harvest
):
    """A deployment whose harvests have other ids names one of them: its readers are let in, whoever may read
    github_repositories or not."""
    outsider = {"Authorization": f"Bearer {_token(client, 'outsider')}"}
    reader = {"Authorization": f"Bearer {_token(client, 'reader')}"}

    assert client.get(f"{PREFIX}/repositories/count", headers=outsider).status_code == 200
    refused = client.get(f"{PREFIX}/repositories/count", headers=reader)
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": f"Airflow does not let this user read the DAG {OTHER_HARVEST}, whose data this API serves"
    }
    # The insights page names it where it says whose data it shows.
    page = client.get(f"{PREFIX}/ui/").text
    assert f'<meta name="github-etl-dag" content="{OTHER_HARVEST}">' in page
    assert f"<code>{OTHER_HARVEST}</code>" in page and "__DAG_ID__" not in page and DAG_ID not in page


def test_the_openapi_document_names_the_dag_whose_readers_read_the_api():
    from github_etl.api.app import create_app
    from github_etl.api.config import ApiSettings

    assert f"`{DAG_ID}` DAG" in create_app(ApiSettings()).openapi()["info"]["description"]
    described = create_app(ApiSettings(dag_id=OTHER_HARVEST)).openapi()["info"]["description"]
    assert f"`{OTHER_HARVEST}` DAG" in described and DAG_ID not in described
