"""The Airflow UI in a real headless Chromium, as a person uses it.

A LocalExecutor Airflow (:mod:`tests.browser.airflow_server`, started by tests/browser/conftest.py) runs this
project's DAG against the fake GitHub and an emptied warehouse. The test logs in through the login form,
triggers ``github_repositories`` from its trigger form with a small ``sample_size``, waits for the run to
succeed, checks the warehouse, then reads the repository API's Swagger page. Screenshots of each step go to
``.artifacts/browser/``; after a failure also the page in the browser and every Airflow log.

Debian's ``chromium`` and ``chromium-driver`` packages provide the browser and its driver; nothing is
downloaded (selenium-manager stays offline). Without them the test skips.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg2
import pytest
import requests

from github_etl.settings import DAG_ID
from tests.browser.airflow_server import AirflowServerError, LocalAirflow
from tests.browser.conftest import ARTIFACTS_DIR, USERNAME

pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt pins it)")

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

# One worker runs the browser tests, which share one Airflow (tests/browser/conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SAMPLE_SIZE = 8

# A cold page of the React UI (7 MB of scripts) takes several seconds on a two-core machine, and over a minute
# while the rest of the suite keeps both cores busy.
UI_TIMEOUT_SECONDS = 150
# An 8-repository run takes about half a minute; a retried task waits a minute more.
RUN_TIMEOUT_SECONDS = 240
FINISHED_RUN_STATES = frozenset({"success", "failed"})
API_OPERATIONS = {
    "/repositories/count",
    "/repositories",
    "/repositories/{owner}/{name}",
    "/repositories/{owner}/{name}/history",
    "/trending",
    "/languages",
    "/languages/shares",
    "/runs",
}


# -- the test -------------------------------------------------------------------------------------


def test_trigger_form_run_loads_the_sample_and_api_docs_render(
    airflow: LocalAirflow, browser: WebDriver, warehouse_url: str, password: str
) -> None:
    _log_in(browser, f"{airflow.url}/dags/{DAG_ID}", password)

    run_id = _trigger_with_sample_size(browser, SAMPLE_SIZE)

    token = _session_token(browser)
    run = _wait_for_run(airflow, token, run_id)
    assert run["state"] == "success", _describe_run(airflow, token, run_id)
    assert run["conf"]["sample_size"] == SAMPLE_SIZE
    _see_run_succeeded(browser)
    assert _count_repositories(warehouse_url) == SAMPLE_SIZE

    browser.get(f"{airflow.url}/github-etl/docs")
    _wait(browser).until(
        lambda driver: _operation_paths(driver) >= API_OPERATIONS,
        message=f"Swagger UI did not render the operations {sorted(API_OPERATIONS)}",
    )
    _screenshot(browser, "04-api-docs")
    assert _operation_paths(browser) == API_OPERATIONS


# -- steps ----------------------------------------------------------------------------------------


def _log_in(driver: WebDriver, url: str, password: str, username: str = USERNAME) -> None:
    """Open ``url``, which sends an anonymous user to the login form, and sign in there."""
    driver.get(url)
    # Airflow's UI sends an anonymous user on to its login page: a look-up during that navigation is aborted.
    _wait(driver).until(_through_navigation(ec.element_to_be_clickable((By.NAME, "username")))).send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    submit = _wait(driver).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[type=submit]")))
    _screenshot(driver, "01-login")
    submit.click()
    _wait(driver).until(
        lambda driver: urlsplit(driver.current_url).path == urlsplit(url).path,
        message=f"signing in did not lead back to {url}",
    )


def _trigger_with_sample_size(driver: WebDriver, sample_size: int) -> str:
    """Open the trigger form, set ``sample_size`` in its field, submit; the new run's id."""
    _wait(driver).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=trigger-dag-button]"))).click()
    # The React UI renders an integer param as a number input inside a root named after the param.
    field = _wait(driver).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '[id="number-input:element_sample_size"] input'))
    )
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(sample_size))
    _wait(driver).until(
        lambda driver: field.get_attribute("value") == str(sample_size),
        message=f"the sample_size field does not hold {sample_size}",
    )
    # A paused DAG would leave the run queued; the form offers to unpause it with the trigger.
    unpause = driver.find_elements(
        By.XPATH,
        "//input[@type='checkbox'][@aria-labelledby = //*[contains(normalize-space(.), ' on trigger')]/@id]",
    )
    if unpause and not unpause[0].is_selected():
        driver.find_element(By.ID, unpause[0].get_attribute("aria-labelledby")).click()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    _screenshot(driver, "02-trigger-form")
    try:
        submit = _wait(driver).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=trigger-dag-submit]")))
    except TimeoutException:
        raise AssertionError(
            "the trigger form's Trigger button stays disabled with sample_size set; required fields left empty: "
            f"{_empty_required_fields(driver)} (a param whose default is empty must allow null)"
        ) from None
    submit.click()
    # After a trigger the UI opens the new run's page: /dags/<dag_id>/runs/<run_id>.
    _wait(driver).until(
        lambda driver: "/runs/" in urlsplit(driver.current_url).path,
        message="the UI did not open the triggered run",
    )
    return unquote(urlsplit(driver.current_url).path.split("/runs/", 1)[1].split("/", 1)[0])


def _wait_for_run(airflow: LocalAirflow, token: str, run_id: str) -> dict[str, Any]:
    """The run as the REST API reports it once finished; polled with the browser session's token."""

    def finished() -> dict[str, Any] | None:
        run = _rest(airflow, token, f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}")
        return run if run["state"] in FINISHED_RUN_STATES else None

    try:
        return airflow.poll(finished, timeout=RUN_TIMEOUT_SECONDS, what=f"run {run_id} to finish")
    except AirflowServerError as exc:
        raise AssertionError(f"{exc}\n{_describe_run(airflow, token, run_id)}") from None


def _see_run_succeeded(driver: WebDriver) -> None:
    """Reload the run's page and wait for its header to show the state a person reads."""
    driver.refresh()
    badge = (By.CSS_SELECTOR, "[data-testid=header-card] [data-testid=state-badge]")
    _wait(driver).until(
        ec.text_to_be_present_in_element(badge, "Success"), message="the run page does not show Success"
    )
    _screenshot(driver, "03-run-success")


# -- helpers --------------------------------------------------------------------------------------


def _through_navigation(condition: Callable[[WebDriver], Any]) -> Callable[[WebDriver], Any]:
    """``condition``, not yet met while the page is navigating away (its look-ups are aborted meanwhile)."""

    def check(driver: WebDriver) -> Any:
        try:
            return condition(driver)
        except WebDriverException as exc:
            if "aborted by navigation" in (exc.msg or ""):
                return False
            raise

    return check


def _wait(driver: WebDriver) -> WebDriverWait:
    return WebDriverWait(driver, UI_TIMEOUT_SECONDS)


def _screenshot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS_DIR / f"{name}.png"))


def _session_token(driver: WebDriver) -> str:
    """The JWT the login form left in the browser: the UI's own credential for the REST API."""
    cookie = driver.get_cookie("_token")
    assert cookie is not None, "no _token cookie after logging in"
    return cookie["value"]


def _rest(airflow: LocalAirflow, token: str, path: str) -> dict[str, Any]:
    response = requests.get(f"{airflow.url}/api/v2{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, f"GET {path} answered {response.status_code}: {response.text[:300]}"
    return response.json()


def _describe_run(airflow: LocalAirflow, token: str, run_id: str) -> str:
    """Each task instance's state, for a failure message (the logs are saved as artifacts)."""
    instances = _rest(airflow, token, f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances")
    states = [f"{ti['task_id']}[{ti['map_index']}]={ti['state']}" for ti in instances["task_instances"]]
    return f"run {run_id}: {', '.join(sorted(states))}; Airflow logs in {ARTIFACTS_DIR / 'airflow-logs'}"


def _empty_required_fields(driver: WebDriver) -> list[str]:
    fields = driver.find_elements(By.CSS_SELECTOR, "[role=dialog] input[required], [role=dialog] textarea[required]")
    return [
        field.get_attribute("name") or field.get_attribute("id") for field in fields if not field.get_attribute("value")
    ]


def _operation_paths(driver: WebDriver) -> set[str]:
    return {element.text for element in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}


def _count_repositories(url: str) -> int:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM github.repositories")
            return cursor.fetchone()[0]
    finally:
        connection.close()
