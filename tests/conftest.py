"""Test session setup: an isolated Airflow home and the project's fixtures.

Airflow reads its configuration when first imported, so the environment is prepared here, before any
test module imports it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from github_etl.settings import DEFAULT_SQL_DIR

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="github-etl-airflow-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_AIRFLOW_HOME / "logs"),
        "GITHUB_ETL_SQL_DIR": str(DEFAULT_SQL_DIR),
        # dag.test cannot finish a run of a DAG with a deadline alert (see github_etl.alerts.late_run_alert).
        "GITHUB_ETL_RUN_DEADLINE_ALERT": "false",
        # Tests never wait for real: every back-off and rate-limit pause is scaled down here, by configuration.
        "GITHUB_ETL_BACKOFF_BASE": "0.01",
        "GITHUB_ETL_BACKOFF_MAX": "0.05",
        "GITHUB_ETL_SECONDARY_MIN_WAIT": "0.05",
        "GITHUB_ETL_RESET_JITTER": "0.05",
        "GITHUB_ETL_READ_TIMEOUT": "5",
        # The fakes' budgets are tiny and their windows short; a test of the reserve sets its own.
        "GITHUB_ETL_QUOTA_RESERVE": "0",
        "GITHUB_ETL_CONNECT_TIMEOUT": "2",
    }
)
for _inherited in (
    "AIRFLOW_CONN_GITHUB_DEFAULT",
    "AIRFLOW_CONN_POSTGRES_DEFAULT",
    "AIRFLOW_CONN_AWS_DEFAULT",
    "GITHUB_ETL_STAGING_URL",
    "GITHUB_API_URL",
    "GITHUB_TOKEN",
):
    os.environ.pop(_inherited, None)

# Tests that run Airflow's own processes, a minute or more each, start first: with the suite spread over
# workers (make test's -n), the many short tests then fill the gaps, where one long test left for last would
# keep a worker busy while the others wait.
LONG_FIRST = (
    "tests/integration/test_celery.py",
    "tests/integration/test_deadline_alert.py",
    "tests/browser/",
    "tests/e2e/test_make_run.py",
    "tests/e2e/test_xcom_backend.py",
    "tests/e2e/test_app_login.py",
    "tests/e2e/test_backfill.py",
    "tests/e2e/test_existing_deployment.py",
    "tests/e2e/test_s3_lifecycle.py",
    "tests/e2e/test_no_triggerer.py",
    "tests/browser/test_access.py",
    "tests/unit/test_load_bench.py",
    "tests/unit/test_dag_bench.py",
)

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.github",
    "tests.fixtures.s3",
    "tests.fixtures.airflow",
    "tests.scripted_http",
]


def pytest_unconfigure(config: object) -> None:
    """The session's Airflow home (metadata database, logs) goes with the session."""
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FIRST))
