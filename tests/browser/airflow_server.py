"""A real Airflow (LocalExecutor) on 127.0.0.1 for the browser test: every component as a subprocess.

:class:`LocalAirflow` migrates a fresh PostgreSQL metadata database, creates the ``github_api`` pool, then
runs ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` in **one process group** with their
output in one log file each, and waits for ``/api/v2/monitor/health`` to report every component healthy.
Stopping signals the whole group (the components and every task process they forked), also after a failure.

Only triggered runs happen: the scheduler creates no scheduled run, so nothing loads data unasked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import psycopg2
import requests

from tests.fixtures.postgres import with_database
from tools.celery_cluster import free_port
from tools.dev import DEFAULT_POOL_SLOTS, airflow_env
from tools.waiting import LOG_TAIL_LINES, tail
from tools.waiting import poll as _poll_until

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
HEALTH_PATH = "/api/v2/monitor/health"
# The execution API builds its routes on its first request (13 s idle, a minute on a busy two-core machine);
# asked once before any task starts, so the first task's start call does not time out.
EXECUTION_WARM_UP_PATH = "/execution/health"
EXECUTION_WARM_UP_TIMEOUT_SECONDS = 120.0
# Task processes' calls to the execution API; the 5 s default is too tight for a machine that also runs
# a browser, and a timed-out call fails the task and costs its retry delay.
EXECUTION_API_TIMEOUT_SECONDS = 30
# Four Airflow processes start in under a minute on an idle two-core machine, in two and a half on a busy one.
STARTUP_TIMEOUT_SECONDS = 240.0
# `airflow db migrate` of an empty PostgreSQL database, on a busy two-core machine.
MIGRATE_TIMEOUT_SECONDS = 180.0
# A process group gets this long to stop on SIGTERM before SIGKILL.
STOP_TIMEOUT_SECONDS = 15.0
# Components whose health the monitor endpoint reports; each must be "healthy" before the UI is used.
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
COMPONENTS: dict[str, list[str]] = {
    # Task logs are files on this machine, read by the API server: no log server (and its fixed port) needed.
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


def poll(condition: Callable[[], Any], **kwargs: Any) -> Any:
    """:func:`tools.waiting.poll`, raising :class:`AirflowServerError` on timeout."""
    return _poll_until(condition, error=AirflowServerError, **kwargs)


class AirflowServerError(RuntimeError):
    """A component failed to start or died, or a wait ran out of time."""


class LocalAirflow:
    """Airflow with this project's dags and plugins, a LocalExecutor and SimpleAuthManager.

    :param server_url: ``postgresql://`` URL of a server where ``database`` exists (empty) for the metadata.
    :param database: name of the metadata database.
    :param home: AIRFLOW_HOME (airflow.cfg, task logs, component logs under ``process-logs/``).
    :param username: the one Airflow user (role admin).
    :param password: its password; written to the auth manager's passwords file only.
    :param env: extra environment of every component (connections, ``GITHUB_ETL_*`` settings).
    :param port: port of the API server (UI, REST and execution API); a free one when None.
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
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.log_dir = home / "process-logs"
        self.passwords_file = home / "simple_auth_manager_passwords.json"
        self.metadata_url = with_database(server_url, database)
        self._username = username
        self._password = password
        self.env = self._environment(env)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._group: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Migrate the metadata database, start every component and wait until all report healthy."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.passwords_file.touch(mode=0o600)
        self.passwords_file.write_text(json.dumps({self._username: self._password}), encoding="utf-8")
        started = time.monotonic()
        # Alone and first: it also writes airflow.cfg once, before several processes would race to.
        self.airflow("db", "migrate", timeout=MIGRATE_TIMEOUT_SECONDS)
        log.info("Metadata database migrated in %.1f s", time.monotonic() - started)
        # The API server lives longest, so it founds the process group.
        self._spawn("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"])
        for name, command in COMPONENTS.items():
            self._spawn(name, command)
        # The pool must exist before the first task is queued, not before the components start.
        self._spawn(
            "pools",
            ["pools", "set", "github_api", str(DEFAULT_POOL_SLOTS), "Concurrent GitHub API tasks (github_etl)"],
        )
        poll(self._healthy, timeout=timeout, what=f"{self.url}{HEALTH_PATH} to report healthy", check=self.check)
        poll(self._pool_created, timeout=timeout, what="the github_api pool", check=self.check)
        log.info("Airflow is healthy at %s after %.1f s", self.url, time.monotonic() - started)
        self._warm_up_execution_api()
        log.info("Execution API ready after %.1f s", time.monotonic() - started)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL whatever is left after a grace period; idempotent."""
        if self._group is not None:
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            for process in self._processes.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever survived SIGTERM, and task processes whose parent already exited.
            self._signal_group(signal.SIGKILL)
            for process in self._processes.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
            self._group = None
        for log_file in self._logs:
            log_file.close()
        self._logs.clear()
        self.passwords_file.unlink(missing_ok=True)

    def wait_for_dag(self, dag_id: str, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Wait until the DAG processor has stored ``dag_id``; raise with the import error if a DAG file has one."""

        def stored() -> bool:
            return bool(self.query("SELECT 1 FROM dag WHERE dag_id = %s AND NOT is_stale", (dag_id,)))

        def importable() -> None:
            self.check()
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors:
                raise AirflowServerError(f"{errors[0][0]} does not import:\n{errors[0][1]}")

        poll(stored, timeout=timeout, what=f"the DAG processor to store {dag_id}", check=importable)

    def query(self, statement: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata database."""
        connection = psycopg2.connect(self.metadata_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, parameters)
                return cursor.fetchall()
        finally:
            connection.close()

    def save_logs(self, destination: Path) -> Path:
        """Copy the component logs and the task logs to ``destination`` (replaced); returns it."""
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir(parents=True)
        shutil.copytree(self.log_dir, destination / "process-logs", dirs_exist_ok=True)
        if (self.home / "logs").is_dir():
            shutil.copytree(self.home / "logs", destination / "task-logs", dirs_exist_ok=True)
        return destination

    # -- checks -----------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise, quoting its log, if a long-running component has exited (or the pool command failed)."""
        for name, process in self._processes.items():
            code = process.poll()
            if code is None or (name == "pools" and code == 0):
                continue
            raise AirflowServerError(f"{name} exited with {code}; its log ends:\n{tail(self._log_path(name))}")

    def health(self) -> dict[str, Any] | None:
        """The monitor endpoint's answer, or None while the API server does not answer."""
        try:
            response = requests.get(f"{self.url}{HEALTH_PATH}", timeout=5)
        except requests.RequestException:
            return None
        return response.json() if response.ok else None

    def _healthy(self) -> bool:
        health = self.health() or {}
        return all(health.get(component, {}).get("status") == "healthy" for component in HEALTH_COMPONENTS)

    def _pool_created(self) -> bool:
        return self._processes["pools"].poll() == 0

    def _warm_up_execution_api(self) -> None:
        try:
            response = requests.get(f"{self.url}{EXECUTION_WARM_UP_PATH}", timeout=EXECUTION_WARM_UP_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise AirflowServerError(f"the execution API did not answer: {exc}") from None
        if not response.ok:
            raise AirflowServerError(f"the execution API answered {response.status_code}: {response.text[:200]}")

    # -- processes --------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float) -> str:
        """Run an ``airflow`` CLI command to completion; its output, or raise quoting it on failure."""
        try:
            result = subprocess.run(
                [self._executable(), *args],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AirflowServerError(f"airflow {' '.join(args[:2])} did not finish within {timeout:.0f} s") from None
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
            raise AirflowServerError(f"airflow {' '.join(args[:2])} exited with {result.returncode}:\n{output}")
        return result.stdout

    def _spawn(self, name: str, command: list[str]) -> None:
        log_file = self._log_path(name).open("ab")
        self._logs.append(log_file)
        # The first process founds the group and every later one joins it: one killpg reaches them all,
        # with the task processes they fork, and Ctrl-C in a terminal reaches none of them directly.
        process = subprocess.Popen(
            [self._executable(), *command],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            process_group=self._group or 0,
        )
        if self._group is None:
            self._group = process.pid
        self._processes[name] = process

    def _signal_group(self, signum: int) -> None:
        # The group outlives its founder while any member still runs, so signal it even after the founder exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._group, signum)

    def _log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    @staticmethod
    def _executable() -> str:
        return str(Path(sys.executable).parent / "airflow")

    def _environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = airflow_env({**os.environ, **extra})
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self._username}:admin",
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
