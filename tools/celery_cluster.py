"""A local Airflow with the CeleryExecutor: several workers on one machine, as a production cluster runs them.

Usage, from the project root::

    python -m tools.celery_cluster up --workers 2          # foreground; Ctrl-C stops every process
    python -m tools.celery_cluster up --broker amqp://guest:guest@127.0.0.1:5672//

What runs: a metadata database ``airflow_celery`` on a PostgreSQL server (the embedded one of
:mod:`tools.embedded_postgres` by default), a Celery broker (Redis by default, RabbitMQ works too),
``airflow db migrate`` and the ``github_api`` pool, then ``airflow scheduler``, ``airflow dag-processor``,
``airflow api-server``, ``airflow triggerer`` and N ``airflow celery worker`` processes. They run under
:class:`tools.airflow_processes.AirflowProcesses`, each in its own process group with its output in a
log folder, and :class:`CeleryCluster` kills every group when it exits, also after a failure.

Every worker reports itself as ``workerK@<host>`` (Airflow's ``hostname_callable`` points at
:func:`worker_hostname`), so the task instances' ``hostname`` column tells which worker ran what.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from github_etl.errors import ConfigurationError
from github_etl.settings import DAG_ID, DEFAULT_POOL_SLOTS, github_api_pool_slots
from tools.airflow_processes import (
    STOP_TIMEOUT_SECONDS,
    AirflowProcessError,
    AirflowProcesses,
    StopRequested,
    airflow_env,
    api_port,
    free_port,
    metadata_query,
    pool_command,
    require_free_port,
    stop_on_signals,
)
from tools.waiting import tail

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
RABBITMQ_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
DEFAULT_DATABASE = "airflow_celery"
DEFAULT_QUEUE = "default"
# Environment variable naming a worker inside its processes; read by worker_hostname().
WORKER_NAME_ENV = "GITHUB_ETL_WORKER_NAME"
# Spelled out rather than derived from __name__, which is "__main__" under ``python -m``.
HOSTNAME_CALLABLE = "tools.celery_cluster.worker_hostname"
# A cold start of six Airflow processes on a two-core laptop takes about half a minute.
STARTUP_TIMEOUT_SECONDS = 180.0
# A broker on this machine or the local network answers in milliseconds.
BROKER_CONNECT_TIMEOUT_SECONDS = 5.0
FINISHED_RUN_STATES = frozenset({"success", "failed"})
# Reads its file at every lookup, so connections can change while the cluster runs (see set_connections).
LOCAL_SECRETS_BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
# What the `airflow` CLI needs to reach the cluster from another shell with only AIRFLOW_HOME set; the
# cluster's processes get them from their environment, the CLI from the home's airflow.cfg.
CLI_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__PLUGINS_FOLDER",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__OPERATORS__DEFAULT_QUEUE",
    "AIRFLOW__SECRETS__BACKEND",
    "AIRFLOW__SECRETS__BACKEND_KWARGS",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
)


class ClusterError(AirflowProcessError):
    """A cluster process failed to start, died, or a wait ran out of time."""


def worker_hostname() -> str:
    """Airflow ``hostname_callable`` of the cluster: ``workerK@<host>`` in a worker, the host name elsewhere.

    The host part is Celery's ``%h`` (``socket.gethostname()``), so the name matches the Celery worker's.
    """
    host = socket.gethostname()
    name = os.environ.get(WORKER_NAME_ENV, "").strip()
    return f"{name}@{host}" if name else host


def require_broker(url: str, *, timeout: float = BROKER_CONNECT_TIMEOUT_SECONDS) -> None:
    """Refuse a broker that does not answer, before anything starts.

    Otherwise every worker fails with a traceback a minute later, after the migration and the other
    processes' start-up.

    :raises ClusterError: naming the broker (without its password) and the reason.
    """
    import kombu
    from kombu.exceptions import OperationalError

    with kombu.Connection(url, connect_timeout=timeout) as connection:
        try:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        except (OSError, OperationalError, *connection.connection_errors) as exc:
            raise ClusterError(
                f"the Celery broker at {without_password(url)} cannot be reached ({exc}): "
                "start it, or name another with --broker"
            ) from None


def database_url(server_url: str, database: str, *, driver: str = "postgresql") -> str:
    """The URL of another database on the same PostgreSQL server.

    :param server_url: ``postgresql://user[:password]@host:port/any``.
    :param database: the database to point at.
    :param driver: the URL scheme, e.g. ``postgresql+psycopg2`` for SQLAlchemy.
    """
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(scheme=driver, path=f"/{database}"))


def without_password(url: str) -> str:
    """A URL fit for printing: the password replaced by ``***``.

    Everything before the last ``@`` is the user and password, as a URL parser does not see it when the
    password holds a ``/``, ``?`` or ``#`` as typed (it would return no password, and the URL whole).
    """
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not separator or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


class CeleryCluster:
    """A CeleryExecutor Airflow on this machine; a context manager that always stops what it started.

    :param database_server_url: ``postgresql://`` URL of the server that holds the metadata database.
    :param broker_url: Celery broker: Redis (``redis://``) or RabbitMQ (``amqp://``).
    :param workers: number of Celery workers.
    :param concurrency: tasks each worker runs at once.
    :param api_port: port of the API server (UI, REST and execution API); a free one when None.
    :param database: name of the metadata database.
    :param reset_database: drop the metadata database first, for a cluster without history (tests).
    :param drop_database_on_stop: drop the metadata database when the cluster stops.
    :param queue: Celery queue of the cluster's tasks; a queue of its own keeps clusters sharing a broker apart.
    :param home: AIRFLOW_HOME; a temporary folder (removed on stop unless ``keep_home``) when None.
    :param keep_home: leave the AIRFLOW_HOME (logs, generated UI password) in place after stopping.
    :param pool_slots: slots of the ``github_api`` pool.
    :param env: extra environment of every Airflow process (connections, ``GITHUB_ETL_*`` settings).
    :param scheduled_runs: let the scheduler create the DAG's scheduled runs; off leaves only triggered runs.
    :param stop_timeout: seconds a process group gets to stop on SIGTERM before SIGKILL.
    :param remove_queue_on_stop: delete the cluster's queue from the broker when it stops (a queue of its own only).
    """

    def __init__(
        self,
        database_server_url: str,
        *,
        broker_url: str = DEFAULT_BROKER_URL,
        workers: int = 2,
        concurrency: int = 2,
        api_port: int | None = None,
        database: str = DEFAULT_DATABASE,
        reset_database: bool = False,
        drop_database_on_stop: bool = False,
        queue: str = DEFAULT_QUEUE,
        home: Path | None = None,
        keep_home: bool = False,
        pool_slots: int = DEFAULT_POOL_SLOTS,
        env: Mapping[str, str] | None = None,
        scheduled_runs: bool = True,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
        remove_queue_on_stop: bool = False,
    ) -> None:
        if workers < 1 or concurrency < 1:
            raise ValueError("a cluster needs at least one worker with at least one slot")
        if remove_queue_on_stop and queue == DEFAULT_QUEUE:
            raise ValueError(f"queue {DEFAULT_QUEUE!r} may be shared; give the cluster a queue of its own to remove")
        # The name goes into CREATE/DROP DATABASE statements, which take no parameters.
        if not database.replace("_", "").isalnum():
            raise ValueError(f"database name {database!r} must be letters, digits and underscores")
        self.database_server_url = database_server_url
        self.broker_url = broker_url
        self.workers = workers
        self.concurrency = concurrency
        self.api_port = api_port or free_port()
        self.database = database
        self.reset_database = reset_database
        self.drop_database_on_stop = drop_database_on_stop
        self.queue = queue
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="github-etl-celery-"))
        self.keep_home = keep_home
        self.pool_slots = pool_slots
        self.scheduled_runs = scheduled_runs
        self.stop_timeout = stop_timeout
        self.remove_queue_on_stop = remove_queue_on_stop
        self.log_dir = self.home / "process-logs"
        self.connections_file = self.home / "connections.json"
        self.metadata_url = database_url(database_server_url, database)
        self.env = self._environment(env or {})
        self.processes = AirflowProcesses(self.env, log_dir=self.log_dir, error=ClusterError, stop_timeout=stop_timeout)

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> CeleryCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Prepare the metadata database, start every process and wait until the cluster can run the DAG."""
        require_broker(self.broker_url)
        self._prepare_home()
        self._create_database()
        # Migrating first, alone, also writes airflow.cfg once, before several processes would race to.
        self.airflow("db", "migrate")
        self._write_cli_config()
        # The pool must exist before the first task is scheduled, not before the processes start:
        # creating it alongside them saves a CLI start-up on a busy machine.
        pool = self.processes.begin(*pool_command(self.pool_slots))
        self.processes.start("scheduler", "scheduler")
        self.processes.start("dag-processor", "dag-processor")
        self.processes.start(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"
        )
        self.processes.start("triggerer", "triggerer", "--skip-serve-logs")
        for number in range(1, self.workers + 1):
            self._start_worker(number)
        self.processes.finish(pool, timeout=timeout)
        self._wait_until_ready(timeout)

    def _prepare_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # A secrets backend of the user's own (Vault, Secrets Manager, their connections file) keeps its connections.
        if self._owns_connections() and not self.connections_file.exists():
            self.set_connections({})

    def _owns_connections(self) -> bool:
        """Whether the cluster's connections live in its own file (set_connections), not a backend of the user's."""
        kwargs = json.dumps({"connections_file_path": str(self.connections_file)})
        return (
            self.env.get("AIRFLOW__SECRETS__BACKEND") == LOCAL_SECRETS_BACKEND
            and self.env.get("AIRFLOW__SECRETS__BACKEND_KWARGS") == kwargs
        )

    def stop(self) -> None:
        """Stop every process (see :meth:`AirflowProcesses.stop`), then clean up what the cluster made; idempotent."""
        self.processes.stop()
        if self.remove_queue_on_stop:
            with contextlib.suppress(Exception):
                self._remove_queue()
        if self.drop_database_on_stop:
            with contextlib.suppress(Exception):
                self._execute_on_server(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self._own_home and not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    # -- driving Airflow ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def airflow(self, *args: str, timeout: float = 120.0) -> str:
        """Run an ``airflow`` CLI command with the cluster's environment; its output, or raise with it on failure."""
        return self.processes.run(*args, timeout=timeout)

    def set_connections(self, connections: Mapping[str, str | Mapping[str, Any]]) -> None:
        """Define Airflow connections for every process at once, without a restart.

        They live in a file read by Airflow's local-filesystem secrets backend at each lookup, ahead of
        ``AIRFLOW_CONN_*`` variables and the metadata database; the file is replaced whole and readable
        by its owner only, as it may hold passwords.

        :param connections: connection id to a URI or to a JSON connection (``conn_type``, ``host``, ...).
        """
        if not self._owns_connections():
            raise ClusterError(
                "connections cannot be set: AIRFLOW__SECRETS__BACKEND and _KWARGS name a secrets backend of their own"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.home, prefix=".connections-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(dict(connections), file)
        os.replace(temporary, self.connections_file)

    def wait_for_dag(self, dag_id: str = DAG_ID, *, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Wait until the DAG processor has stored the DAG; raise with its import error if it has one."""
        self.processes.wait_for_dag(self.metadata_url, dag_id, timeout=timeout)

    def trigger(
        self,
        conf: Mapping[str, Any],
        *,
        dag_id: str = DAG_ID,
        logical_date: datetime | None = None,
        run_id: str | None = None,
    ) -> str:
        """Unpause the DAG and trigger a run with the CLI; returns the run id.

        :param conf: the run's params.
        :param logical_date: the run's logical date; now by default.
        :param run_id: the run's id; a unique ``manual__`` id by default.
        """
        self.wait_for_dag(dag_id)
        moment = (logical_date or datetime.now(UTC)).replace(microsecond=0)
        run_id = run_id or f"manual__{moment.isoformat()}_{uuid.uuid4().hex[:6]}"
        if self.query("SELECT 1 FROM dag WHERE dag_id = %s AND is_paused", (dag_id,)):
            self.airflow("dags", "unpause", dag_id)
        self.airflow(
            "dags", "trigger", dag_id, "-c", json.dumps(dict(conf)), "--logical-date", moment.isoformat(), "-r", run_id
        )
        return run_id

    def wait_for_run(self, run_id: str, *, dag_id: str = DAG_ID, timeout: float = 300.0) -> str:
        """Poll the metadata database until the run finishes; returns ``success`` or raises with the failures.

        :raises ClusterError: when the run fails (with the failed tasks' log tails) or the deadline passes.
        """

        def finished() -> str | None:
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
            state = rows[0][0] if rows else None
            return state if state in FINISHED_RUN_STATES else None

        try:
            state = self.processes.wait(finished, timeout=timeout, what=f"run {run_id} to finish")
        except ClusterError as exc:
            raise ClusterError(f"{exc}\n{self.describe_run(run_id, dag_id=dag_id)}") from None
        if state != "success":
            raise ClusterError(f"run {run_id} ended {state}\n{self.describe_run(run_id, dag_id=dag_id)}")
        return state

    def task_instances(self, run_id: str, *, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        """The run's task instances: ``task_id``, ``map_index``, ``state``, ``hostname``, ``try_number``."""
        rows = self.query(
            "SELECT task_id, map_index, state, hostname, try_number FROM task_instance "
            "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
            (dag_id, run_id),
        )
        keys = ("task_id", "map_index", "state", "hostname", "try_number")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def describe_run(self, run_id: str, *, dag_id: str = DAG_ID) -> str:
        """Task states of a run and the log tails of its failed tasks, for an error message."""
        instances = self.task_instances(run_id, dag_id=dag_id)
        lines = [f"{ti['task_id']}[{ti['map_index']}] {ti['state']} on {ti['hostname']}" for ti in instances]
        for ti in instances:
            if ti["state"] in ("failed", "up_for_retry", "upstream_failed"):
                lines.append(f"--- log of {ti['task_id']}[{ti['map_index']}] ---")
                lines.append(self.task_log(run_id, ti["task_id"], ti["map_index"], dag_id=dag_id))
        return "\n".join(lines)

    def task_log(self, run_id: str, task_id: str, map_index: int = -1, *, dag_id: str = DAG_ID) -> str:
        """The tail of a task's latest log file (Airflow's folder layout), or a note that there is none."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder /= f"map_index={map_index}"
        attempts = sorted(folder.glob("attempt=*.log"))
        return tail(attempts[-1]) if attempts else f"(no log under {folder})"

    def query(self, statement: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata database."""
        return metadata_query(self.metadata_url, statement, parameters)

    # -- internals ---------------------------------------------------------------------------------

    def _environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = airflow_env({**os.environ, **extra})
        # Shared by every process: tokens the API server signs must verify in the workers.
        jwt_secret = env.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_urlsafe(32)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(
                    self.database_server_url, self.database, driver="postgresql+psycopg2"
                ),
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url(self.database_server_url, self.database),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.scheduled_runs),
                # Without scheduled runs nothing starts unasked, so the DAG may start unpaused (one CLI call less).
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(self.scheduled_runs),
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            }
        )
        if urlsplit(self.broker_url).scheme in AMQP_SCHEMES:
            # Airflow acknowledges a task's message when the task ends; RabbitMQ closes the channel of a delivery left
            # unacknowledged past its consumer_timeout (30 min by default), which the worker takes as unrecoverable
            # and exits, and shards run for hours. Acknowledged on receipt, a task lost with its worker is found by
            # Airflow's heartbeats instead.
            env.setdefault("AIRFLOW__CELERY__TASK_ACKS_LATE", "False")
        env.setdefault("AIRFLOW__SECRETS__BACKEND", LOCAL_SECRETS_BACKEND)
        # A connections file of the user's own (backend kwargs given) stays theirs.
        if (
            env["AIRFLOW__SECRETS__BACKEND"] == LOCAL_SECRETS_BACKEND
            and not env.get("AIRFLOW__SECRETS__BACKEND_KWARGS", "").strip()
        ):
            env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps({"connections_file_path": str(self.connections_file)})
        env.pop(WORKER_NAME_ENV, None)
        return env

    def _write_cli_config(self) -> None:
        """Put the cluster's settings into the airflow.cfg that ``airflow db migrate`` wrote in its home.

        Readable by its owner only: the metadata database's URL may hold a password.
        """
        import configparser

        path = self.home / "airflow.cfg"
        config = configparser.ConfigParser(interpolation=None)
        config.read(path, encoding="utf-8")
        for name in CLI_SETTINGS:
            if name in self.env:
                _, section, key = name.lower().split("__", 2)
                if not config.has_section(section):
                    config.add_section(section)
                config.set(section, key, self.env[name])
        handle, temporary = tempfile.mkstemp(dir=self.home, prefix=".airflow-", suffix=".cfg")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            config.write(file)
        os.replace(temporary, path)

    def _remove_queue(self) -> None:
        """Delete the queue and its bindings from the broker, so throwaway clusters leave no keys behind."""
        if urlsplit(self.broker_url).scheme.startswith("redis"):
            import redis

            client = redis.Redis.from_url(self.broker_url)
            try:
                # Kombu's Redis layout: the queue's list (plus one per priority) and its exchange bindings.
                keys = [self.queue, f"_kombu.binding.{self.queue}", f"_kombu.binding_permanent.{self.queue}"]
                keys += client.scan_iter(f"{self.queue}\x06\x16*")
                client.delete(*keys)
            finally:
                client.close()
            return
        import kombu

        with kombu.Connection(self.broker_url) as connection:
            connection.default_channel.queue_delete(self.queue)

    def _execute_on_server(self, statement: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self.database_server_url)
        try:
            connection.autocommit = True  # CREATE/DROP DATABASE refuse to run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _create_database(self) -> None:
        if self.reset_database:
            self._execute_on_server(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        import psycopg2

        connection = psycopg2.connect(self.database_server_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                exists = cursor.fetchone() is not None
        finally:
            connection.close()
        if not exists:
            self._execute_on_server(f'CREATE DATABASE "{self.database}"')

    def _start_worker(self, number: int) -> None:
        name = f"worker{number}"
        self.processes.start(
            name,
            "celery",
            "worker",
            "--concurrency",
            str(self.concurrency),
            "--celery-hostname",
            f"{name}@%h",
            "--queues",
            self.queue,
            "--pid",
            str(self.log_dir / f"{name}.pid"),
            # Logs are files in the shared AIRFLOW_HOME; a log server per worker would fight for one port.
            "--skip-serve-logs",
            env={**self.env, WORKER_NAME_ENV: name},
        )

    def restart_worker(self, number: int, *, timeout: float = 300.0) -> None:
        """A rolling restart of ``workerK``: it finishes its running tasks and exits, then starts again.

        What a deployer does to each worker in turn to bring in new code without failing a task.

        :param timeout: seconds the running tasks get to finish, and the new worker to be ready.
        """
        name = f"worker{number}"
        log = self.processes.log_path(name)
        # The log is appended to: only a "ready." past its present end is the new worker's.
        start = log.stat().st_size
        self.processes.stop_process(name, timeout=timeout)
        self._start_worker(number)
        self.processes.wait(
            lambda: self._worker_ready(number, since=start), timeout=timeout, what=f"{name} after its restart"
        )

    def _worker_ready(self, number: int, *, since: int = 0) -> bool:
        # Celery logs "<hostname> ready." once the worker consumes from its queues.
        with self.processes.log_path(f"worker{number}").open("rb") as log:
            log.seek(since)
            return b" ready." in log.read()

    def _workers_ready(self) -> bool:
        return all(self._worker_ready(number) for number in range(1, self.workers + 1))

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.processes.wait_until_healthy(self.api_url, timeout=timeout)
        self.processes.wait(
            self._workers_ready, timeout=max(1.0, deadline - time.monotonic()), what="the Celery workers"
        )
        self.wait_for_dag(timeout=max(1.0, deadline - time.monotonic()))


def _embedded_server_url() -> str:
    from tools.embedded_postgres import EmbeddedPostgres

    return EmbeddedPostgres().start()


def up(args: argparse.Namespace) -> int:
    """Run a cluster in the foreground until Ctrl-C (or SIGTERM); every process stops with it."""
    from tools.dev import ensure_warehouse

    # Settings first: a malformed one or a port in use stops the cluster before anything starts.
    pool_slots = github_api_pool_slots()
    port = args.port or api_port()
    require_free_port(port)
    server_url = args.database_server or _embedded_server_url()
    extra = airflow_env()
    ensure_warehouse(extra)
    cluster = CeleryCluster(
        server_url,
        broker_url=args.broker,
        workers=args.workers,
        concurrency=args.concurrency,
        api_port=port,
        database=args.database,
        home=args.home,
        keep_home=args.home is not None,
        queue=args.queue,
        pool_slots=pool_slots,
        env={k: v for k, v in extra.items() if k.startswith(("AIRFLOW_CONN_", "GITHUB_"))},
    )
    stop_on_signals()
    try:
        with cluster:
            print(f"Airflow (CeleryExecutor, {args.workers} worker(s) x {args.concurrency}) at {cluster.api_url}")
            print(f"Metadata database: {without_password(cluster.metadata_url)}")
            print(f"Broker: {without_password(args.broker)}; process logs in {cluster.log_dir}")
            print(f"UI password of user admin: {cluster.home / 'simple_auth_manager_passwords.json.generated'}")
            print(f"airflow CLI: AIRFLOW_HOME={cluster.home} .venv/bin/airflow dags trigger {DAG_ID} -c '{{...}}'")
            print("Ctrl-C stops every process.")
            cluster.processes.watch()
    except StopRequested:
        print("Stopped every process of the cluster", file=sys.stderr)
        return 0
    except ClusterError as exc:
        print(f"The cluster stopped: {exc}", file=sys.stderr)
        return 1


def _at_least_one(text: str) -> int:
    """A count of workers or task slots: a cluster of none would start and never run a task."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is fewer than 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.celery_cluster", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run a CeleryExecutor Airflow in the foreground")
    up_parser.add_argument("--workers", type=_at_least_one, default=2, help="Celery workers (default: %(default)s)")
    up_parser.add_argument(
        "--concurrency", type=_at_least_one, default=2, help="tasks per worker (default: %(default)s)"
    )
    up_parser.add_argument(
        "--port", type=int, default=None, help="API server port (default: AIRFLOW__API__PORT, else 8080)"
    )
    broker = os.environ.get("AIRFLOW__CELERY__BROKER_URL", DEFAULT_BROKER_URL)
    up_parser.add_argument(
        "--broker",
        default=broker,
        # Not %(default)s, which is the URL with its password; argparse formats the rest, so its % are doubled.
        help=f"Celery broker (default: {without_password(broker).replace('%', '%%')}; RabbitMQ: {RABBITMQ_BROKER_URL})",
    )
    up_parser.add_argument(
        "--database-server",
        default=os.environ.get("GITHUB_ETL_CELERY_DATABASE_SERVER"),
        help="postgresql:// URL of the server for the metadata database (default: the embedded PostgreSQL)",
    )
    up_parser.add_argument(
        "--database", default=DEFAULT_DATABASE, help="metadata database on that server (default: %(default)s)"
    )
    up_parser.add_argument("--queue", default=DEFAULT_QUEUE, help="Celery queue (default: %(default)s)")
    up_parser.add_argument("--home", type=Path, default=None, help="AIRFLOW_HOME to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    return up(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigurationError as exc:
        # As tools.dev: a malformed setting or a port in use says which and why, no traceback.
        sys.exit(f"make: {exc}")
