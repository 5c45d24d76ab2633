"""The browser tests' fixtures: one Airflow with this project for them all, Debian's Chromium, the artifacts.

Airflow's four processes take a minute or more to start on a two-core machine, so one is started per
session and shared: the browser tests are one ``xdist_group`` (one worker of make test's runs them) and each
test gets the shared warehouse empty (``warehouse_url``) and a fresh browser profile (``browser``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg2 import sql

from github_etl.settings import DAG_ID
from tests.browser.airflow_server import LocalAirflow
from tests.fake_github import FakeGitHub
from tests.fixtures.github import DEFAULT_FAKE_SETTINGS
from tests.fixtures.postgres import execute_autocommit, new_database, with_database

pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt pins it)")

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = PROJECT_ROOT / ".artifacts" / "browser"
USERNAME = "admin"
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
# Longer than any wait of a browser test (tests/browser/test_ui.py's UI_TIMEOUT_SECONDS).
API_STATEMENT_TIMEOUT_SECONDS = 300
# Emptying the warehouse waits this long for a lock the shared Airflow might still hold.
EMPTY_WAREHOUSE_LOCK_TIMEOUT = "30s"


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver; the tests skip without them."""
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("needs Debian's chromium and chromedriver: apt-get install -y chromium chromium-driver")
    return chromium, chromedriver


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``.artifacts/browser``, emptied: what it holds afterwards is from this run only."""
    shutil.rmtree(ARTIFACTS_DIR, ignore_errors=True)
    ARTIFACTS_DIR.mkdir(parents=True)
    return ARTIFACTS_DIR


@pytest.fixture(scope="session")
def password() -> str:
    """The Airflow user's password, made for this run and never printed."""
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def shared_warehouse_url(pg_server_url: str) -> Iterator[str]:
    """The warehouse database the shared Airflow's ``postgres_default`` names."""
    with new_database(pg_server_url, "github_etl_browser") as name:
        yield with_database(pg_server_url, name)


@pytest.fixture
def warehouse_url(shared_warehouse_url: str) -> str:
    """The shared warehouse, emptied for this test (the DAG's ``prepare`` or the test makes the schema)."""
    execute_autocommit(
        shared_warehouse_url,
        sql.SQL("SET lock_timeout = {}; DROP SCHEMA IF EXISTS github CASCADE").format(
            sql.Literal(EMPTY_WAREHOUSE_LOCK_TIMEOUT)
        ),
    )
    return shared_warehouse_url


@pytest.fixture(scope="session")
def airflow(
    request: pytest.FixtureRequest,
    pg_server_url: str,
    shared_warehouse_url: str,
    password: str,
    artifacts_dir: Path,
    browser_binaries: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalAirflow]:
    """A running Airflow whose connections point at a fake GitHub and the shared warehouse.

    Asks for ``browser_binaries`` so a machine without a browser skips before the minute-long start.
    """
    home = tmp_path_factory.mktemp("browser-airflow")
    with (
        new_database(pg_server_url, "airflow_browser") as metadata_database,
        FakeGitHub(**DEFAULT_FAKE_SETTINGS) as fake,
    ):
        github = {"conn_type": "http", "host": fake.base_url, "password": GITHUB_TOKEN}
        server = LocalAirflow(
            pg_server_url,
            metadata_database,
            home / "airflow",
            username=USERNAME,
            password=password,
            env={
                "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(github),
                "AIRFLOW_CONN_POSTGRES_DEFAULT": shared_warehouse_url,
                "GITHUB_ETL_STAGING_URL": (home / "staging").as_uri(),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                # A test keeps one section of the insights page waiting on a lock it holds: the API's 10 s
                # would answer 503 meanwhile on a busy machine.
                "GITHUB_ETL_API_STATEMENT_TIMEOUT": str(API_STATEMENT_TIMEOUT_SECONDS),
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
                driver.save_screenshot(str(artifacts_dir / f"{request.node.name}-failure.png"))
                # A controlled input mirrors its value into the DOM: the login form would hold the password.
                page = driver.page_source.replace(password, "***")
                (artifacts_dir / f"{request.node.name}-failure.html").write_text(page, encoding="utf-8")
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        commands_log.setLevel(commands_log_level)
