"""A real Airflow (LocalExecutor) on 127.0.0.1 for the browser test: every component as a subprocess.

:class:`LocalAirflow` migrates a fresh PostgreSQL metadata database, creates the ``github_api`` pool, then
runs ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` under
:class:`tools.airflow_processes.AirflowProcesses` (a process group and a log file each), and waits for
``/api/v2/monitor/health`` to report every component healthy. Stopping signals every group (the components
and every task process they forked), also after a failure.

Only triggered runs happen: the scheduler creates no scheduled run, so nothing loads data unasked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from github_etl.settings import DEFAULT_POOL_SLOTS
from tests.fixtures.airflow import SIMPLE_AUTH_MANAGER
from tests.fixtures.postgres import with_database
from tools.airflow_processes import (
    HEALTH_COMPONENTS,
    PROJECT_ROOT,
    AirflowProcessError,
    AirflowProcesses,
    airflow_env,
    free_port,
    metadata_query,
    pool_command,
)

log = logging.getLogger(__name__)


# The execution API builds its routes on its first request (13 s idle, a minute on a busy two-core machine);
# asked once before any task starts, so the first task's start call does not time out.
EXECUTION_WARM_UP_PATH = "/execution/health"
EXECUTION_WARM_UP_TIMEOUT_SECONDS = 120.0
# Task processes' calls to the execution API; the 5 s default is too tight for a machine that also runs
# a browser, and a timed-out call fails the task and costs its retry delay.
EXECUTION_API_TIMEOUT_SECONDS = 30
# One REST call of a test to the API server.
API_TIMEOUT_SECONDS = 60
# Four Airflow processes start in under a minute on an idle two-core machine, in two and a half on a busy one.
STARTUP_TIMEOUT_SECONDS = 240.0
# `airflow db migrate` of an empty PostgreSQL database, on a busy two-core machine.
MIGRATE_TIMEOUT_SECONDS = 180.0
# A process group gets this long to stop on SIGTERM before SIGKILL. Nothing of a test's Airflow needs a graceful
# stop (its metadata database is dropped, its home is the test's), and the triggerer alone would take 10 s or
# more: it waits that long for its trigger runner, whatever it runs.
STOP_TIMEOUT_SECONDS = 3.0
COMPONENTS: dict[str, list[str]] = {
    # Task logs are files on this machine, read by the API server: no log server (and its fixed port) needed.
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


def dags_folder_of_team(team: str) -> dict[str, str]:
    """Environment of an Airflow in multi-team mode whose DAGs folder (its one bundle) belongs to ``team``; the
    team must exist before the DAG processor starts (:class:`LocalAirflow`'s ``teams``)."""
    bundle = {
        "name": "dags-folder",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {},
        "team_name": team,
    }
    return {
        "AIRFLOW__CORE__MULTI_TEAM": "True",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([bundle]),
    }


class AirflowServerError(AirflowProcessError):
    """A component failed to start or died, or a wait ran out of time."""


class LocalAirflow:
    """Airflow with this project's dags and plugins, a LocalExecutor and SimpleAuthManager.

    :param server_url: ``postgresql://`` URL of a server where ``database`` exists (empty) for the metadata.
    :param database: name of the metadata database.
    :param home: AIRFLOW_HOME (airflow.cfg, task logs, component logs under ``process-logs/``).
    :param username: an Airflow user of role admin.
    :param password: its password; written to the auth manager's passwords file only.
    :param other_users: more users, each name with its ``simple_auth_manager_users`` role (``viewer``) or role
        and teams (``viewer:team_a|team_b``); passwords made here, in the passwords file.
    :param teams: teams created before any component starts (``[core] multi_team`` mode).
    :param env: extra environment of every component (connections, ``GITHUB_ETL_*`` settings).
    :param port: port of the API server (UI, REST and execution API); a free one when None.
    :param pool_slots: slots of the ``github_api`` pool created at start; None creates none.
    :param cwd: the working directory of every component.
    :param triggerer: start a triggerer; without one, deferred tasks wait for their timeout, as in a deployment
        that runs none.
    """

    def __init__(
        self,
        server_url: str,
        database: str,
        home: Path,
        *,
        username: str,
        password: str,
        env: Mapping[str, str],
        port: int | None = None,
        pool_slots: int | None = DEFAULT_POOL_SLOTS,
        cwd: Path = PROJECT_ROOT,
        other_users: Mapping[str, str] | None = None,
        teams: tuple[str, ...] = (),
        triggerer: bool = True,
    ) -> None:
        self.home = home
        self.components = {name: command for name, command in COMPONENTS.items() if triggerer or name != "triggerer"}
        self.pool_slots = pool_slots
        self.port = port or free_port()
        self.log_dir = home / "process-logs"
        self.passwords_file = home / "simple_auth_manager_passwords.json"
        self.metadata_url = with_database(server_url, database)
        self._username = username
        self._users = {username: "admin", **(other_users or {})}
        self._passwords = {name: secrets.token_urlsafe(16) for name in self._users} | {username: password}
        self._teams = teams
        self.env = self._environment(env)
        self.processes = AirflowProcesses(
            self.env, log_dir=self.log_dir, error=AirflowServerError, stop_timeout=STOP_TIMEOUT_SECONDS, cwd=cwd
        )

    @classmethod
    def for_test(
        cls,
        server_url: str,
        metadata_url: str,
        warehouse_url: str,
        tmp_path: Path,
        *,
        username: str,
        other_users: Mapping[str, str] | None = None,
        teams: tuple[str, ...] = (),
        triggerer: bool = True,
        **env: str,
    ) -> LocalAirflow:
        """One test's Airflow: metadata in ``metadata_url``'s (empty) database on ``server_url``, home and
        staging under ``tmp_path``, loading into ``warehouse_url``; ``env`` adds to its environment."""
        return cls(
            server_url,
            urlsplit(metadata_url).path.lstrip("/"),
            tmp_path / "airflow",
            username=username,
            password=secrets.token_urlsafe(16),
            other_users=other_users,
            teams=teams,
            triggerer=triggerer,
            env={
                "AIRFLOW_CONN_POSTGRES_DEFAULT": warehouse_url,
                "GITHUB_ETL_STAGING_URL": (tmp_path / "staging").as_uri(),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                **env,
            },
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Migrate the metadata database, start every component and wait until all report healthy."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.passwords_file.touch(mode=0o600)
        self.passwords_file.write_text(json.dumps(self._passwords), encoding="utf-8")
        started = time.monotonic()
        # Alone and first: it also writes airflow.cfg once, before several processes would race to.
        self.processes.run("db", "migrate", timeout=MIGRATE_TIMEOUT_SECONDS)
        # Before the DAG processor, which refuses a bundle of a team that does not exist.
        for team in self._teams:
            self.processes.run("teams", "create", team)
        log.info("Metadata database migrated in %.1f s", time.monotonic() - started)
        self.processes.start(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"
        )
        for name, command in self.components.items():
            self.processes.start(name, *command)
        # The pool must exist before the first task is queued, not before the components start.
        pool = None if self.pool_slots is None else self.processes.begin(*pool_command(self.pool_slots))
        # Without a triggerer, its health is not waited for.
        healthy = [name for name in HEALTH_COMPONENTS if name != "triggerer" or "triggerer" in self.components]
        self.processes.wait_until_healthy(self.url, timeout=timeout, components=healthy)
        if pool is not None:
            self.processes.finish(pool, timeout=timeout)
        log.info("Airflow is healthy at %s after %.1f s", self.url, time.monotonic() - started)
        self._warm_up_execution_api()
        log.info("Execution API ready after %.1f s", time.monotonic() - started)

    def stop(self) -> None:
        """Stop every component and the task processes they forked (see :meth:`AirflowProcesses.stop`); idempotent."""
        self.processes.stop()
        self.passwords_file.unlink(missing_ok=True)

    @contextlib.contextmanager
    def serving(self, *dag_ids: str, logs_to: Path) -> Iterator[LocalAirflow]:
        """Started with ``dag_ids`` stored; then stopped, its logs copied to ``logs_to`` to read after a failure."""
        try:
            self.start()
            for dag_id in dag_ids:
                self.wait_for_dag(dag_id)
            yield self
        finally:
            self.stop()
            self.save_logs(logs_to)

    def wait_for_dag(self, dag_id: str, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Wait until the DAG processor has stored ``dag_id``; raise with the import error if a DAG file has one."""
        self.processes.wait_for_dag(self.metadata_url, dag_id, timeout=timeout)

    def query(self, statement: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata database."""
        return metadata_query(self.metadata_url, statement, parameters)

    def poll(self, condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
        """The first truthy value of ``condition()``; raise when a component dies or ``timeout`` passes."""
        return self.processes.wait(condition, timeout=timeout, what=what)

    def save_logs(self, destination: Path) -> Path:
        """Copy the component logs and the task logs to ``destination`` (replaced); returns it."""
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir(parents=True)
        shutil.copytree(self.log_dir, destination / "process-logs", dirs_exist_ok=True)
        if (self.home / "logs").is_dir():
            shutil.copytree(self.home / "logs", destination / "task-logs", dirs_exist_ok=True)
        return destination

    # -- internals ---------------------------------------------------------------------------------

    def _warm_up_execution_api(self) -> None:
        try:
            response = requests.get(f"{self.url}{EXECUTION_WARM_UP_PATH}", timeout=EXECUTION_WARM_UP_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise AirflowServerError(f"the execution API did not answer: {exc}") from None
        if not response.ok:
            raise AirflowServerError(f"the execution API answered {response.status_code}: {response.text[:200]}")

    def _environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = airflow_env({**os.environ, **extra})
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, whose lock errors Airflow's scheduler does not
                # recognise: a critical section found busy would end the scheduler instead of being retried.
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url.replace(
                    "postgresql://", "postgresql+psycopg2://", 1
                ),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in self._users.items()),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": str(EXECUTION_API_TIMEOUT_SECONDS),
                # Only triggered runs: a scheduled run would load its own sample next to the one under test.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                # Two cores: a few task processes at a time are enough for a small run.
                "AIRFLOW__CORE__PARALLELISM": "4",
            }
        )
        # Shared by every component: tokens the API server signs must verify wherever they are checked.
        if not env.get("AIRFLOW__API_AUTH__JWT_SECRET"):
            env["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.token_urlsafe(32)
        return env


class AirflowApi:
    """Airflow's REST API and the plugins' apps as a test's one user, with a token from the simple auth manager.

    :param airflow: the running Airflow.
    :param username: the user of :class:`LocalAirflow`, whose password its passwords file holds.
    """

    def __init__(self, airflow: LocalAirflow, username: str) -> None:
        self.url = airflow.url
        response = requests.post(
            f"{airflow.url}/auth/token",
            json={"username": username, "password": json.loads(airflow.passwords_file.read_text())[username]},
            timeout=API_TIMEOUT_SECONDS,
        )
        assert response.status_code == 201, f"POST /auth/token answered {response.status_code}: {response.text}"
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON answer of Airflow's REST API at ``/api/v2{path}``; fails the test on an error status."""
        return self.request(method, f"/api/v2{path}", **kwargs).json()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The answer at ``path`` under the API server's root; fails the test on an error status."""
        response = requests.request(
            method, f"{self.url}{path}", headers=self.headers, timeout=API_TIMEOUT_SECONDS, **kwargs
        )
        assert response.ok, f"{method} {path} answered {response.status_code}: {response.text[:300]}"
        return response
