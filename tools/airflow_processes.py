"""Airflow's processes, supervised: one environment, a log each, readiness polls and a stop that leaves nothing.

``make airflow`` (``airflow standalone``), the CeleryExecutor cluster of :mod:`tools.celery_cluster` and
the browser test's LocalExecutor Airflow all run their processes through :class:`AirflowProcesses`:

- each long-running process has a session of its own, so one ``killpg`` reaches it and everything it forks
  (task processes, API server workers), and Ctrl-C in the terminal reaches none of them directly;
- its output goes to ``<log_dir>/<name>.log`` (or to the terminal, for ``airflow standalone``);
- readiness is polled (the API server's health endpoint, the DAG in the metadata database), and every poll
  stops early, quoting the log, when a process dies;
- :meth:`AirflowProcesses.stop` sends SIGTERM to every group, then SIGKILL to whatever is left after a
  grace period, with Ctrl-C held back meanwhile so a second press cannot leave orphans.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

from github_etl.errors import ConfigurationError
from github_etl.settings import DEFAULT_SQL_DIR, GITHUB_API_POOL, POOL_DESCRIPTION, int_env
from tools.waiting import LOG_TAIL_LINES, poll, tail

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
HEALTH_PATH = "/api/v2/monitor/health"
DEFAULT_API_PORT = 8080
# This machine, as NO_PROXY names it when a proxy is set (see airflow_env).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# What the health endpoint reports on; each must be "healthy" before the UI or a run is used.
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
# A process group gets this long to stop on SIGTERM (Celery finishes running tasks) before SIGKILL.
STOP_TIMEOUT_SECONDS = 20.0
# A CLI command such as `airflow pools set` on a busy two-core machine.
COMMAND_TIMEOUT_SECONDS = 120.0
# How often watch() looks at the processes: nothing waits on it, so rarely is enough.
WATCH_INTERVAL_SECONDS = 2.0


class AirflowProcessError(RuntimeError):
    """An Airflow process failed to start or died, a command failed, or a wait ran out of time."""


def see_stored_connections() -> None:
    """Let this process find the connections stored in the metadata database (``airflow connections add``, the UI).

    Outside a task, Airflow's SDK looks for connections in the environment and secrets backends only; the
    run's tasks also see those stored in the metadata database. A preflight sits next to that database, as
    Airflow's own server components do. Call it before Airflow is imported.
    """
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")


def airflow_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow command of the project runs with (explicit settings win)."""
    env = dict(base if base is not None else os.environ)
    defaults = {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # A laptop has a few cores: keep Airflow's own parallelism modest.
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "GITHUB_ETL_SQL_DIR": str(DEFAULT_SQL_DIR),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    _loopback_without_proxy(env)
    # `airflow standalone` starts its components as `airflow ...` found on PATH: the project's venv first.
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH", "")) if p)
    # config/ holds the airflow_local_settings.py a deployment puts in $AIRFLOW_HOME/config.
    paths = [
        str(PROJECT_ROOT / "plugins"),
        str(PROJECT_ROOT),
        str(PROJECT_ROOT / "config"),
        *env.get("PYTHONPATH", "").split(os.pathsep),
    ]
    env["PYTHONPATH"] = os.pathsep.join(p for p in dict.fromkeys(paths) if p)
    return env


def _loopback_without_proxy(env: dict[str, str]) -> None:
    """Add this machine to NO_PROXY when a proxy is set: Airflow's task client (httpx) and urllib send even
    requests to localhost through HTTP_PROXY otherwise, and the proxy cannot reach this machine's API server."""
    if not any(env.get(name) for name in env if name.lower() in ("http_proxy", "https_proxy", "all_proxy")):
        return
    hosts = [host.strip() for name in ("no_proxy", "NO_PROXY") for host in env.get(name, "").split(",")]
    merged = ",".join(dict.fromkeys(host for host in [*hosts, *LOOPBACK_HOSTS] if host))
    # urllib reads either spelling (the lower-case one winning), httpx too: both say the same.
    env["NO_PROXY"] = env["no_proxy"] = merged


def airflow_executable() -> str:
    """The ``airflow`` command of this interpreter's venv."""
    return str(Path(sys.executable).parent / "airflow")


def pool_command(slots: int) -> list[str]:
    """Arguments of the ``airflow`` command that creates or resizes the ``github_api`` pool."""
    return ["pools", "set", GITHUB_API_POOL, str(slots), POOL_DESCRIPTION]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api_port() -> int:
    """The API server's port: ``AIRFLOW__API__PORT``, else Airflow's default."""
    return int_env("AIRFLOW__API__PORT", DEFAULT_API_PORT, minimum=1)


def require_free_port(port: int) -> None:
    """Refuse a port something already listens on: its health answers would pass for ours."""
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise ConfigurationError(
                f"port {port} is in use already (another Airflow?): stop what listens there, "
                f"or choose another port with AIRFLOW__API__PORT={port + 1}"
            )


# Held by `make airflow` and `make run` while they run, so that neither starts where the other serves the same
# metadata database.
HOME_LOCK_NAME = "make-airflow.lock"
# The home locks this process holds: handed to the processes it starts, so that the lock lasts while they run even
# if this process is killed (kill -9, the OOM killer) and they live on.
_HELD_LOCKS: list[int] = []


@contextlib.contextmanager
def holding_home(home: Path) -> Any:
    """Hold ``home``'s lock while the block runs; ConfigurationError if ``make airflow`` or ``make run`` holds it.

    An advisory ``flock``: the system releases it when its holder ends, however it ends, and the processes
    :meth:`AirflowProcesses.start` starts meanwhile hold it with it.
    """
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with (home / HOME_LOCK_NAME).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                f"make airflow or make run is running with AIRFLOW_HOME={home} already: its scheduler and "
                "airflow dags test would run each other's tasks"
            ) from None
        _HELD_LOCKS.append(lock.fileno())
        try:
            yield
        finally:
            _HELD_LOCKS.remove(lock.fileno())


@contextlib.contextmanager
def running_alone_in(home: Path) -> Any:
    """Hold ``home``'s lock while ``airflow dags test`` runs a DAG there; refused where ``make airflow`` runs, as
    its scheduler would queue the same run's tasks, and the two would fail each other's (TaskAlreadyRunningError,
    deadlocks)."""
    try:
        with holding_home(home):
            yield
    except ConfigurationError as busy:
        if "already" not in str(busy):
            raise
        raise ConfigurationError(
            f"make airflow (or another make run) is running with AIRFLOW_HOME={home}, and its scheduler would run "
            f"this run's tasks too: trigger the run there (the UI's Trigger button, or `AIRFLOW_HOME={home} "
            ".venv/bin/airflow dags trigger github_repositories`), or stop it first"
        ) from None


def api_health(base_url: str) -> dict[str, Any] | None:
    """The API server's health report, or None while it does not answer (or answers with an error)."""
    # The server is this machine's: asked directly, never through a proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base_url}{HEALTH_PATH}", timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def metadata_query(url: str, statement: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on an Airflow metadata database (``postgresql://`` URL)."""
    import psycopg2

    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, tuple(parameters))
            return cursor.fetchall()
    finally:
        connection.close()


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None
    log_file: IO[bytes] | None = field(default=None, repr=False)
    # A Celery worker: its pool's children, each a task's supervisor, share its group and pass a SIGTERM on to
    # their task at once; sent to the worker alone, it makes a warm shutdown, which lets the tasks finish.
    warm_shutdown: bool = False

    def terminate(self) -> None:
        """Ask the process to stop: its leader alone for a warm shutdown, else its whole group."""
        if self.warm_shutdown:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.popen.pid, signal.SIGTERM)
        else:
            self.signal_group(signal.SIGTERM)

    def signal_group(self, signum: int) -> None:
        # The group outlives its leader while any child still runs, so signal it even after the leader exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)


class AirflowProcesses:
    """Airflow processes started with one environment, watched, and all stopped together.

    :param env: environment of every process (see :func:`airflow_env`).
    :param log_dir: folder of the processes' logs, ``<name>.log`` each; None sends output to the terminal.
    :param error: the exception class raised when a process dies, a command fails or a wait times out.
    :param stop_timeout: seconds a process group gets to stop on SIGTERM before SIGKILL.
    :param cwd: the working directory of every process.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        log_dir: Path | None,
        error: type[AirflowProcessError] = AirflowProcessError,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
        cwd: Path = PROJECT_ROOT,
    ) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.log_dir = log_dir
        self.error = error
        self.stop_timeout = stop_timeout
        self._processes: list[_Process] = []
        self._commands: list[subprocess.Popen[str]] = []

    # -- starting ---------------------------------------------------------------------------------

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        """Start ``airflow <args>`` as the long-running process ``name``, in a session of its own.

        :param env: the environment instead of the common one (e.g. with a worker's name added).
        """
        log_path = log_file = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_path(name)
            log_file = log_path.open("ab")
        popen = subprocess.Popen(
            [airflow_executable(), *args],
            env=dict(env if env is not None else self.env),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT if log_file is not None else None,
            start_new_session=True,
            pass_fds=tuple(_HELD_LOCKS),
        )
        self._processes.append(
            _Process(name, popen, log_path, log_file, warm_shutdown=args[:2] == ("celery", "worker"))
        )

    def begin(self, *args: str) -> subprocess.Popen[str]:
        """Start the CLI command ``airflow <args>`` alongside the others; :meth:`finish` collects it."""
        command = subprocess.Popen(
            [airflow_executable(), *args],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._commands.append(command)
        return command

    def finish(self, command: subprocess.Popen[str], *, timeout: float = COMMAND_TIMEOUT_SECONDS) -> str:
        """The output of a command :meth:`begin` started; raise quoting it when it fails or outlasts ``timeout``."""
        what = "airflow " + " ".join(command.args[1:3])
        try:
            output, _ = command.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            command.kill()
            command.communicate()
            raise self.error(f"{what} did not finish within {timeout:.0f} s") from None
        finally:
            if command.poll() is not None:
                self._commands.remove(command)
        if command.returncode != 0:
            lines = "\n".join(output.splitlines()[-LOG_TAIL_LINES:])
            raise self.error(f"{what} exited with {command.returncode}:\n{lines}")
        return output

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> str:
        """Run ``airflow <args>`` to completion; its output, or raise quoting it on failure."""
        return self.finish(self.begin(*args), timeout=timeout)

    # -- watching ---------------------------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        if self.log_dir is None:
            raise ValueError("these processes write to the terminal, not to log files")
        return self.log_dir / f"{name}.log"

    def check(self) -> None:
        """Raise, quoting its log, if a long-running process has exited."""
        for process in self._processes:
            code = process.popen.poll()
            if code is not None:
                end = f"; its log ends:\n{tail(process.log_path)}" if process.log_path is not None else ""
                raise self.error(f"{process.name} exited with {code}{end}")

    def wait(
        self, condition: Callable[[], Any], *, timeout: float, what: str, check: Callable[[], None] | None = None
    ) -> Any:
        """The first truthy value of ``condition()``, polled while every process runs (see :meth:`check`).

        :param check: what to check between tries instead of :meth:`check` (it should call it too).
        """
        return poll(condition, timeout=timeout, what=what, check=check or self.check, error=self.error)

    def wait_until_healthy(self, base_url: str, *, timeout: float, components: Sequence[str] = ()) -> None:
        """Wait until the API server at ``base_url`` answers its health endpoint with ``components`` healthy."""

        def healthy() -> bool:
            health = api_health(base_url)
            return health is not None and all(
                health.get(component, {}).get("status") == "healthy" for component in components
            )

        self.wait(healthy, timeout=timeout, what=f"{base_url}{HEALTH_PATH} to report healthy")

    def wait_for_dag(self, metadata_url: str, dag_id: str, *, timeout: float) -> None:
        """Wait until the DAG processor has stored ``dag_id``; raise with the import error if a DAG file has one."""

        def stored() -> bool:
            return bool(metadata_query(metadata_url, "SELECT 1 FROM dag WHERE dag_id = %s AND NOT is_stale", (dag_id,)))

        def importable() -> None:
            self.check()
            errors = metadata_query(metadata_url, "SELECT filename, stacktrace FROM import_error")
            if errors:
                raise self.error(f"{errors[0][0]} does not import:\n{errors[0][1]}")

        self.wait(stored, timeout=timeout, what=f"the DAG processor to store {dag_id}", check=importable)

    def watch(self) -> NoReturn:
        """Block until a process exits, then raise (see :meth:`check`); Ctrl-C goes through."""
        while True:
            self.check()
            time.sleep(WATCH_INTERVAL_SECONDS)

    def wait_for_exit(self, name: str) -> int:
        """Block until the process ``name`` exits; its exit code. Ctrl-C and SIGTERM go through."""
        return next(p for p in self._processes if p.name == name).popen.wait()

    def returncode(self, name: str) -> int | None:
        """The exit code of the process ``name``, None while it runs."""
        return next(p.popen.poll() for p in self._processes if p.name == name)

    # -- stopping ---------------------------------------------------------------------------------

    def stop_process(self, name: str, *, timeout: float) -> int:
        """Stop the process ``name`` alone, as :meth:`stop` asks it to; its exit code.

        A Celery worker stops warm: it takes no new task and exits once its running tasks have finished,
        which ``timeout`` must leave time for.

        :raises: the ``error`` class if it is still running after ``timeout`` seconds (it is left running).
        """
        process = next(p for p in self._processes if p.name == name)
        process.terminate()
        try:
            code = process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.error(f"{name} was asked to stop and still runs after {timeout:g} s") from None
        self._processes.remove(process)
        if process.log_file is not None:
            process.log_file.close()
        return code

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after the grace period; idempotent.

        Ctrl-C, SIGTERM and SIGHUP are held back while stopping (and delivered afterwards), so a second Ctrl-C
        cannot leave processes behind.
        """
        held = set(STOP_SIGNALS)
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            self._stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)

    def _stop(self) -> None:
        commands, self._commands = self._commands, []
        for command in commands:
            command.kill()
            command.communicate()
        processes, self._processes = self._processes, []
        # Airflow runs every task in a process group of its own, which no signal to its worker's group
        # reaches; found now, as a task whose worker dies is no longer the worker's descendant.
        task_groups = _groups_of_descendants(p.popen.pid for p in processes)
        for process in processes:
            process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        task_groups |= _groups_of_descendants(p.popen.pid for p in processes)
        for group in task_groups:
            # Tasks still running after the grace period, which their workers would have waited for.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        for process in processes:
            # Whatever survived SIGTERM, and children whose leader already exited.
            process.signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=5)
            if process.log_file is not None:
                process.log_file.close()


def _groups_of_descendants(pids: Iterable[int]) -> set[int]:
    """Process groups of the processes' descendants, other than their own groups and this process's."""
    import psutil

    leaders = set(pids)
    groups: set[int] = set()
    for pid in leaders:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                with contextlib.suppress(OSError):
                    groups.add(os.getpgid(child.pid))
    return groups - leaders - {os.getpgrp()}


class StopRequested(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived; :attr:`signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# Set once a signal has asked to stop. A signal to the process group of `make airflow` reaches this
# process twice (directly, and passed on by make), the second possibly while the first one's stop is
# under way: raising again there would abandon that stop with every process still running.
_STOP_REQUESTED = threading.Event()


# What stops the processes: Ctrl-C, SIGTERM, and the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _request_stop(signum: int, _frame: object) -> None:
    if _STOP_REQUESTED.is_set():
        return
    _STOP_REQUESTED.set()
    raise StopRequested(signum)


def stop_on_signals() -> None:
    """Turn Ctrl-C, SIGTERM (from make, a supervisor or kill) and SIGHUP (the terminal closed, an ssh session
    dropped) into :class:`StopRequested`.

    Installed explicitly: a shell that starts a command in the background makes it ignore Ctrl-C. Only
    the first signal raises; later ones find the stop it started already under way. The processes started run in
    sessions of their own and never get the terminal's SIGHUP: without a stop they would live on as orphans.
    """
    _STOP_REQUESTED.clear()
    for signum in STOP_SIGNALS:
        signal.signal(signum, _request_stop)
