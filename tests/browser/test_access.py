"""Who reads the repository API and the insights page in a live Airflow whose DAG bundles belong to teams.

One Airflow in multi-team mode (``[core] multi_team``) whose DAGs folder belongs to ``team_a``, with
SimpleAuthManager's users ``alice`` (viewer of ``team_a``) and ``carol`` (viewer of ``team_b``): Airflow's own
REST API shows ``github_repositories`` to alice and not to carol, and so does the repository API, with any
credential Airflow takes (docs/api.md, *Who may read*); the insights page tells carol so in every section.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from github_etl.settings import DAG_ID
from tests.browser.airflow_server import API_TIMEOUT_SECONDS, LocalAirflow, dags_folder_of_team
from tests.fixtures.postgres import new_database, with_database

pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt pins it)")

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.test_insights_ui import NAVIGATION_ITEM, SECTIONS, _enter_page, _messages
from tests.browser.test_ui import _log_in, _wait

# One worker runs the module, so that its Airflow is started once for both tests.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900), pytest.mark.xdist_group("teams")]

FORBIDDEN = {"detail": f"Airflow does not let this user read the DAG {DAG_ID}, whose data this API serves"}
WITHHELD = f"Airflow does not let this user read the {DAG_ID} DAG, whose data this page shows."


@pytest.fixture(scope="module")
def airflow(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAirflow]:
    """The multi-team Airflow, loading into a warehouse with its schema and no data."""
    home = tmp_path_factory.mktemp("teams-airflow")
    with (
        new_database(pg_server_url, "airflow_teams") as metadata,
        new_database(pg_server_url, "github_etl_teams") as name,
    ):
        warehouse_url = with_database(pg_server_url, name)
        db = DatabaseConnection(warehouse_url, connect_retries=0)
        try:
            apply_schema(db)
        finally:
            db.close()
        server = LocalAirflow.for_test(
            pg_server_url,
            with_database(pg_server_url, metadata),
            warehouse_url,
            home,
            username="admin",
            other_users={"alice": "viewer:team_a", "carol": "viewer:team_b"},
            teams=("team_a", "team_b"),
            **dags_folder_of_team("team_a"),
        )
        with server.serving(DAG_ID, logs_to=home / "airflow-logs") as serving:
            yield serving


def _password(airflow: LocalAirflow, username: str) -> str:
    return json.loads(airflow.passwords_file.read_text())[username]


def _token(airflow: LocalAirflow, username: str) -> str:
    response = requests.post(
        f"{airflow.url}/auth/token",
        json={"username": username, "password": _password(airflow, username)},
        timeout=API_TIMEOUT_SECONDS,
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


@pytest.mark.browser
def test_insights_page_says_airflow_withholds_the_dag_from_a_user_of_another_team(
    browser: WebDriver, airflow: LocalAirflow
) -> None:
    _log_in(browser, f"{airflow.url}/", _password(airflow, "carol"), username="carol")
    _wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, NAVIGATION_ITEM))).click()
    _enter_page(browser)

    assert _messages(browser) == dict.fromkeys(SECTIONS, WITHHELD)
