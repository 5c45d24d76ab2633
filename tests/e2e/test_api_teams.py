"""Who reads the repository API in a live Airflow whose DAG bundles belong to teams (``[core] multi_team``).

SimpleAuthManager's users ``alice`` (viewer of ``team_a``, which owns the DAGs folder) and ``carol`` (viewer
of ``team_b``): Airflow's own REST API shows ``github_repositories`` to alice and not to carol, and so does
the repository API, with any credential Airflow takes (docs/api.md, *Who may read*).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from github_etl.hooks.warehouse import DatabaseConnection
from github_etl.settings import DAG_ID
from tests.browser.airflow_server import API_TIMEOUT_SECONDS, LocalAirflow, dags_folder_of_team

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

FORBIDDEN = {"detail": f"Airflow does not let this user read the DAG {DAG_ID}, whose data this API serves"}


@pytest.fixture
def airflow(local_airflow, warehouse: DatabaseConnection, tmp_path: Path) -> Iterator[LocalAirflow]:
    server = local_airflow(
        other_users={"alice": "viewer:team_a", "carol": "viewer:team_b"},
        teams=("team_a", "team_b"),
        **dags_folder_of_team("team_a"),
    )
    with server.serving(DAG_ID, logs_to=tmp_path / "airflow-logs") as serving:
        yield serving


def _token(airflow: LocalAirflow, username: str) -> str:
    password = json.loads(airflow.passwords_file.read_text())[username]
    response = requests.post(
        f"{airflow.url}/auth/token", json={"username": username, "password": password}, timeout=API_TIMEOUT_SECONDS
    )
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def _get(airflow: LocalAirflow, path: str, **kwargs) -> requests.Response:
    return requests.get(f"{airflow.url}{path}", timeout=API_TIMEOUT_SECONDS, **kwargs)


def test_only_the_team_owning_the_dag_reads_the_api(airflow: LocalAirflow) -> None:
    tokens = {name: _token(airflow, name) for name in ("alice", "carol", "admin")}

    def as_user(name: str, path: str) -> requests.Response:
        return _get(airflow, path, headers={"Authorization": f"Bearer {tokens[name]}"})

    # Airflow's own answer for the DAG, which the API follows.
    assert as_user("alice", f"/api/v2/dags/{DAG_ID}").status_code == 200
    assert as_user("carol", f"/api/v2/dags/{DAG_ID}").status_code == 403

    for name in ("alice", "admin"):
        response = as_user(name, "/github-etl/repositories/count")
        assert (response.status_code, response.json()) == (200, {"count": 0}), name
    for path in (
        "/github-etl/repositories/count",
        "/github-etl/repositories",
        "/github-etl/runs",
        "/github-etl/trending",
    ):
        refused = as_user("carol", path)
        assert (refused.status_code, refused.json()) == (403, FORBIDDEN), path
    # The UI's session cookie is the same user.
    by_cookie = _get(airflow, "/github-etl/runs", cookies={"_token": tokens["carol"]})
    assert (by_cookie.status_code, by_cookie.json()) == (403, FORBIDDEN)
    anonymous = _get(airflow, "/github-etl/runs")
    assert (anonymous.status_code, anonymous.headers["WWW-Authenticate"]) == (401, "Bearer")
