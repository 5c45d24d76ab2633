"""The project added to an Airflow deployment that already runs, the way its README says, without ``make``.

The deployment's own AIRFLOW_HOME (as an Astronomer project's ``/usr/local/airflow``) receives copies of
``dags/``, ``plugins/`` and ``include/`` next to a DAG and a plugin of its own, whose modules have common
names (``utils``, ``settings``, ``tasks``, ``columns``). Its components run from another directory, with
nothing of this checkout on their ``PYTHONPATH``, no ``GITHUB_ETL_SQL_DIR`` or ``GITHUB_ETL_STAGING_URL``,
and no ``github_api`` pool: nobody ran ``make``. A triggered run must still load the warehouse, with the
SQL and the staging folder found in the copy, and both plugins must serve.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg2
import pytest

from github_etl.settings import DAG_ID, DEADLINE_ALERT_ENV, DEFAULT_POOL_SLOTS, GITHUB_API_POOL
from tests.browser.airflow_server import AirflowApi, LocalAirflow
from tests.fake_github import FakeGitHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
USERNAME = "admin"
USER_DAG_ID = "their_own_dag"
# The deployment's own modules, with names a project could use too; its DAG checks it imports its own.
USER_MODULES = ("utils", "settings", "tasks", "columns")
USER_DAG = f"""
from datetime import datetime

from airflow.sdk import dag, task

import {", ".join(USER_MODULES)}

for module in ({", ".join(USER_MODULES)}):
    assert module.MARKER == "theirs", module


@dag(dag_id="{USER_DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), tags=["theirs"])
def their_own_dag():
    @task
    def hello():
        return utils.MARKER

    hello()


their_own_dag()
"""
USER_PLUGIN = """
from fastapi import FastAPI

from airflow.plugins_manager import AirflowPlugin

app = FastAPI()


@app.get("/hello")
def hello():
    return {"hello": "theirs"}


class TheirPlugin(AirflowPlugin):
    name = "their_plugin"
    fastapi_apps = [{"app": app, "url_prefix": "/theirs", "name": "Theirs"}]
    external_views = [{"name": "Theirs", "href": "theirs/hello", "destination": "nav"}]
"""
RUN_CONF = {"mode": "sample", "sample_size": 8, "shards": 1}
# A sample of 8 through every task, with task processes starting on a busy two-core machine.
RUN_TIMEOUT_SECONDS = 420.0


class DeployedAirflow(LocalAirflow):
    """:class:`LocalAirflow` that finds the project only where the deployment copied it."""

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:  # type: ignore[override]
        env = super()._environment(extra)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in env["PYTHONPATH"].split(os.pathsep) if p and not Path(p).is_relative_to(PROJECT_ROOT)
        )
        # Settings the deployment never made: the tests' session sets some for every test.
        for name in ("GITHUB_ETL_SQL_DIR", "GITHUB_ETL_STAGING_URL", DEADLINE_ALERT_ENV):
            env.pop(name, None)
        return env


def _deployment(home: Path) -> None:
    """An AIRFLOW_HOME with a DAG and a plugin of its own, and this project's folders copied in."""
    for folder in ("dags", "plugins", "include"):
        shutil.copytree(PROJECT_ROOT / folder, home / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for module in USER_MODULES:
        (home / "dags" / f"{module}.py").write_text('MARKER = "theirs"\n', encoding="utf-8")
    (home / "dags" / f"{USER_DAG_ID}.py").write_text(USER_DAG, encoding="utf-8")
    (home / "plugins" / "their_plugin.py").write_text(USER_PLUGIN, encoding="utf-8")
    # The deployment's own .airflowignore at the top of its plugins folder: the package must keep itself out of
    # Airflow's scan of the folder whatever that file says.
    (home / "plugins" / ".airflowignore").write_text("scratch/\n", encoding="utf-8")


@pytest.fixture
def deployment(
    pg_server_url: str, pg_url: str, second_pg_url: str, fake_github: FakeGitHub, tmp_path: Path
) -> DeployedAirflow:
    """The deployment's Airflow, its metadata database empty, its components not started."""
    home = tmp_path / "airflow"
    _deployment(home)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return DeployedAirflow(
        pg_server_url,
        urlsplit(second_pg_url).path.lstrip("/"),
        home,
        username=USERNAME,
        password=secrets.token_urlsafe(16),
        env={
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW_CONN_POSTGRES_DEFAULT": pg_url,
            "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(
                {"conn_type": "http", "host": fake_github.base_url, "password": "ghp_deployment_0123456789"}
            ),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        },
        pool_slots=None,
        cwd=elsewhere,
    )


@pytest.fixture
def airflow(deployment: DeployedAirflow, tmp_path: Path) -> Iterator[LocalAirflow]:
    with deployment.serving(DAG_ID, USER_DAG_ID, logs_to=tmp_path / "airflow-logs") as serving:
        yield serving


def test_a_run_in_an_existing_deployment_without_the_pool_loads_the_warehouse(
    airflow: LocalAirflow, pg_url: str
) -> None:
    api = AirflowApi(airflow, USERNAME)
    assert airflow.query("SELECT pool FROM slot_pool WHERE pool = %s", (GITHUB_API_POOL,)) == []
    api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}, params={"update_mask": "is_paused"})
    run_id = api.call("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": RUN_CONF})["dag_run_id"]
    run_path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"

    state = airflow.poll(
        lambda: (s := api.call("GET", run_path)["state"]) in {"success", "failed"} and s,
        timeout=RUN_TIMEOUT_SECONDS,
        what="the run to end (a run whose pool is missing stays running, its plan task scheduled)",
    )

    assert state == "success"
    # Created as the run started, with the documented default size.
    assert airflow.query("SELECT slots FROM slot_pool WHERE pool = %s", (GITHUB_API_POOL,)) == [(DEFAULT_POOL_SLOTS,)]
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM github.repositories")
        assert cur.fetchone() == (RUN_CONF["sample_size"],)
    # Staged in the deployment's copy of the project, not in this checkout.
    assert list((airflow.home / ".staging").glob(f"dag_id={DAG_ID}/run_id=*"))
    # Both plugins serve from Airflow's API server.
    repositories = api.request("GET", "/github-etl/repositories", params={"limit": 100}).json()
    assert len(repositories["items"]) == RUN_CONF["sample_size"], repositories
    assert api.request("GET", "/theirs/hello").json() == {"hello": "theirs"}
    assert "swagger" in api.request("GET", "/github-etl/docs").text.lower()


def test_airflow_dags_test_runs_the_dag_in_the_deployment(deployment: DeployedAirflow, pg_url: str) -> None:
    deployment.processes.run("db", "migrate", timeout=RUN_TIMEOUT_SECONDS)

    # Airflow's own way to try a DAG, with the deadline alert the deployment has by default.
    output = deployment.processes.run(
        "dags", "test", DAG_ID, "--conf", json.dumps(RUN_CONF), timeout=RUN_TIMEOUT_SECONDS
    )

    assert "DagRun Finished" in output and "state=success" in output, output[-3000:]
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM github.repositories")
        assert cur.fetchone() == (RUN_CONF["sample_size"],)
