"""The Airflow UI in a real headless Chromium, as a person uses it.

A LocalExecutor Airflow (:mod:`tests.browser.airflow_server`) runs this project's DAG against the fake GitHub
and the test's warehouse. The test logs in through the login form, triggers ``github_repositories`` from its
trigger form with a small ``sample_size``, waits for the run to succeed, checks the warehouse, then reads the
repository API's Swagger page. Screenshots of each step go to ``.artifacts/browser/``; after a failure also
the page in the browser and every Airflow log.

Debian's ``chromium`` and ``chromium-driver`` packages provide the browser and its driver; nothing is
downloaded (selenium-manager stays offline). Without them the test skips.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg2
import pytest
import requests
from psycopg2 import sql

from github_etl.settings import DAG_ID
from tests.browser.airflow_server import AirflowServerError, LocalAirflow
from tests.fake_github import FakeGitHub
from tests.fixtures.postgres import execute_autocommit

pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt pins it)")

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = PROJECT_ROOT / ".artifacts" / "browser"
USERNAME = "admin"
SAMPLE_SIZE = 8
GITHUB_TOKEN = "test-token-0123456789"  # the fake GitHub's; not a secret
# The browser's zone: west of UTC, where a warehouse date read as UTC midnight would show as the day before.
BROWSER_TIME_ZONE = "America/New_York"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Wide enough for the UI's desktop layout, tall enough for the trigger form's fields.
    "--window-size=1400,1000",
)
# A cold page of the React UI (7 MB of scripts) on a busy two-core machine takes several seconds.
UI_TIMEOUT_SECONDS = 60
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


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver; the test skips without them."""
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("needs Debian's chromium and chromedriver: apt-get install -y chromium chromium-driver")
    return chromium, chromedriver


@pytest.fixture
def artifacts_dir() -> Path:
    """``.artifacts/browser``, emptied: what it holds afterwards is from this run only."""
    shutil.rmtree(ARTIFACTS_DIR, ignore_errors=True)
    ARTIFACTS_DIR.mkdir(parents=True)
    return ARTIFACTS_DIR


@pytest.fixture
def metadata_database(pg_server_url: str) -> Iterator[str]:
    """Name of an empty database for Airflow's metadata, dropped after the test."""
    name = f"airflow_browser_{uuid.uuid4().hex[:12]}"
    execute_autocommit(pg_server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        # FORCE ends the sessions of Airflow processes that were killed mid-transaction.
        execute_autocommit(
            pg_server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def password() -> str:
    """The Airflow user's password, made for this run and never printed."""
    return secrets.token_urlsafe(16)


@pytest.fixture
def airflow(
    request: pytest.FixtureRequest,
    pg_server_url: str,
    metadata_database: str,
    pg_url: str,
    fake_github: FakeGitHub,
    password: str,
    artifacts_dir: Path,
    browser_binaries: tuple[str, str],
    tmp_path: Path,
) -> Iterator[LocalAirflow]:
    """A running Airflow whose connections point at the fake GitHub and this test's warehouse.

    Asks for ``browser_binaries`` so a machine without a browser skips before the minute-long start.
    """
    github = {"conn_type": "http", "host": fake_github.base_url, "password": GITHUB_TOKEN}
    server = LocalAirflow(
        pg_server_url,
        metadata_database,
        tmp_path / "airflow",
        username=USERNAME,
        password=password,
        env={
            "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(github),
            "AIRFLOW_CONN_POSTGRES_DEFAULT": pg_url,
            "GITHUB_ETL_STAGING_URL": (tmp_path / "staging").as_uri(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        },
    )
    failures_before = request.session.testsfailed
    try:
        server.start()
        server.wait_for_dag(DAG_ID)
    except BaseException:
        server.stop()
        server.save_logs(artifacts_dir / "airflow-logs")
        raise
    try:
        yield server
    finally:
        server.stop()
        if request.session.testsfailed > failures_before:
            server.save_logs(artifacts_dir / "airflow-logs")


@pytest.fixture
def browser(
    request: pytest.FixtureRequest,
    browser_binaries: tuple[str, str],
    artifacts_dir: Path,
    password: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile; the page is saved when the test fails."""
    chromium, chromedriver = browser_binaries
    # selenium-manager would look for (and download) a browser or driver; the paths are given instead.
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("TZ", BROWSER_TIME_ZONE)
    # At DEBUG it logs every command's payload, the typed password included.
    commands_log = logging.getLogger("selenium.webdriver.remote.remote_connection")
    commands_log_level = commands_log.level
    commands_log.setLevel(logging.INFO)
    profile = tmp_path / "chromium-profile"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    # Its INFO log records every command's payload, the typed password included.
    service = Service(
        executable_path=chromedriver,
        service_args=["--log-level=WARNING"],
        log_output=str(tmp_path / "chromedriver.log"),
    )
    driver = webdriver.Chrome(options=options, service=service)
    failures_before = request.session.testsfailed
    try:
        yield driver
    finally:
        if request.session.testsfailed > failures_before:
            with contextlib.suppress(Exception):
                _screenshot(driver, "failure")
                # A controlled input mirrors its value into the DOM: the login form would hold the password.
                page = driver.page_source.replace(password, "***")
                (artifacts_dir / "failure.html").write_text(page, encoding="utf-8")
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        commands_log.setLevel(commands_log_level)


# -- the test -------------------------------------------------------------------------------------


def test_trigger_form_run_loads_the_sample_and_api_docs_render(
    airflow: LocalAirflow, browser: WebDriver, pg_url: str, password: str
) -> None:
    _log_in(browser, f"{airflow.url}/dags/{DAG_ID}", password)

    run_id = _trigger_with_sample_size(browser, SAMPLE_SIZE)

    token = _session_token(browser)
    run = _wait_for_run(airflow, token, run_id)
    assert run["state"] == "success", _describe_run(airflow, token, run_id)
    assert run["conf"]["sample_size"] == SAMPLE_SIZE
    _see_run_succeeded(browser)
    assert _count_repositories(pg_url) == SAMPLE_SIZE

    browser.get(f"{airflow.url}/github-etl/docs")
    _wait(browser).until(
        lambda driver: _operation_paths(driver) >= API_OPERATIONS,
        message=f"Swagger UI did not render the operations {sorted(API_OPERATIONS)}",
    )
    _screenshot(browser, "04-api-docs")
    assert _operation_paths(browser) == API_OPERATIONS


# -- steps ----------------------------------------------------------------------------------------


def _log_in(driver: WebDriver, url: str, password: str) -> None:
    """Open ``url``, which sends an anonymous user to the login form, and sign in there."""
    driver.get(url)
    # Airflow's UI sends an anonymous user on to its login page: a look-up during that navigation is aborted.
    _wait(driver).until(_through_navigation(ec.element_to_be_clickable((By.NAME, "username")))).send_keys(USERNAME)
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
