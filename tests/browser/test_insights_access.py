"""The GitHub insights page, in a real headless Chromium, for a user whom Airflow does not let read the DAG.

A live Airflow in multi-team mode whose DAGs folder belongs to ``team_a``; ``carol``, a viewer of ``team_b``,
logs in through Airflow's login form and opens the page from the navigation: every section must say that
Airflow withholds the DAG from her, not that the API failed or that she should log in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from github_etl.hooks.warehouse import DatabaseConnection
from github_etl.settings import DAG_ID
from tests.browser.airflow_server import dags_folder_of_team
from tests.browser.test_insights_ui import NAVIGATION_ITEM, SECTIONS, _enter_page, _messages
from tests.browser.test_ui import _log_in, _wait

pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt pins it)")

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

WITHHELD = f"Airflow does not let this user read the {DAG_ID} DAG, whose data this page shows."


def test_insights_page_says_airflow_withholds_the_dag_from_a_user_of_another_team(
    local_airflow, browser_binaries: tuple[str, str], browser: WebDriver, warehouse: DatabaseConnection, tmp_path: Path
) -> None:
    server = local_airflow(
        other_users={"carol": "viewer:team_b"}, teams=("team_a", "team_b"), **dags_folder_of_team("team_a")
    )
    with server.serving(DAG_ID, logs_to=tmp_path / "airflow-logs"):
        password = json.loads(server.passwords_file.read_text())["carol"]
        _log_in(browser, f"{server.url}/", password, username="carol")
        _wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, NAVIGATION_ITEM))).click()
        _enter_page(browser)

        assert _messages(browser) == dict.fromkeys(SECTIONS, WITHHELD)
