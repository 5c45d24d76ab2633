"""Local developer commands behind ``make run``, ``make airflow`` and ``make test``.

Prepares an Airflow home inside the project, provides a warehouse (the configured
``AIRFLOW_CONN_POSTGRES_DEFAULT``, or an embedded project-local PostgreSQL) and runs Airflow with this
project's dags and plugins.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from github_etl.errors import ConfigurationError
from github_etl.params import scheduled_mode
from github_etl.settings import DAG_ID, DEADLINE_ALERT_ENV, github_api_pool_slots
from tools.airflow_processes import (
    HEALTH_COMPONENTS,
    AirflowProcessError,
    AirflowProcesses,
    StopRequested,
    airflow_env,
    airflow_executable,
    api_port,
    holding_home,
    pool_command,
    require_free_port,
    running_alone_in,
    stop_on_signals,
)
from tools.warehouse_preflight import UNDEFINED

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Discovering the id space costs GitHub about 35 requests, enriching without a token one per repository.
ANONYMOUS_SAMPLE_SIZE = 20
# A foreground command (`airflow dags test`) gets this long to stop on SIGTERM before SIGKILL: the
# run's task may be in the middle of a load, which rolls back either way.
FOREGROUND_STOP_TIMEOUT_SECONDS = 10.0
# Airflow's in-process runner of `airflow dags test` logs each secret a task asks it to mask, in clear, at DEBUG
# (Airflow 3.3; the supervisor of `make airflow` and of a deployment omits those messages' bodies).
DEBUG_SHOWS_SECRETS = (
    "AIRFLOW__LOGGING__LOGGING_LEVEL=DEBUG: `airflow dags test` prints every secret the run masks (tokens, "
    "passwords, keys) in clear, in its 'Sending request ... MaskSecret' lines: keep this output private, or use INFO."
)
# `airflow standalone` migrates, creates a user and starts four components: minutes on a busy laptop.
STANDALONE_STARTUP_TIMEOUT_SECONDS = 300.0


def ensure_warehouse(env: dict[str, str]) -> None:
    """Use the configured warehouse, or start the embedded one and point ``postgres_default`` at it.

    Configured means ``AIRFLOW_CONN_POSTGRES_DEFAULT``, or a ``postgres_default`` Airflow finds elsewhere:
    a secrets backend, or stored in this home's metadata database (``airflow connections add``).
    """
    if env.get("AIRFLOW_CONN_POSTGRES_DEFAULT"):
        return
    defined = subprocess.run(
        [sys.executable, "-m", "tools.warehouse_preflight", "--defined"], env=env, cwd=PROJECT_ROOT, check=False
    )
    if defined.returncode == 0:
        print("Warehouse: the Airflow connection postgres_default", file=sys.stderr)
        return
    if defined.returncode != UNDEFINED:
        raise SystemExit("Could not read Airflow's connections (see above).")
    result = subprocess.run(
        [sys.executable, "-m", "tools.embedded_postgres", "start"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit("Could not start the embedded PostgreSQL (see above); or set AIRFLOW_CONN_POSTGRES_DEFAULT.")
    url = result.stdout.strip().splitlines()[-1]
    env["AIRFLOW_CONN_POSTGRES_DEFAULT"] = url
    print(f"Warehouse: embedded PostgreSQL at {url}", file=sys.stderr)


def airflow(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([airflow_executable(), *args], env=env, check=check, text=True)


def setup(env: dict[str, str]) -> None:
    """Create or upgrade the metadata database and the ``github_api`` pool (idempotent), and fail the runs a
    stopped or killed ``make run`` left unfinished."""
    slots = github_api_pool_slots()  # read first: a malformed value stops before minutes of migration
    Path(env["AIRFLOW_HOME"]).mkdir(exist_ok=True)
    airflow(env, "db", "migrate")
    airflow(env, *pool_command(slots))
    fail_stopped_runs(env)


def fail_stopped_runs(env: dict[str, str]) -> None:
    """Mark failed what ``airflow dags test`` left running here (see ``tools.stopped_runs``)."""
    subprocess.run([sys.executable, "-m", "tools.stopped_runs"], env=env, cwd=PROJECT_ROOT, check=False)


def run(env: dict[str, str], params: str, date: str | None) -> int:
    try:
        conf = json.loads(params or "{}")
    except json.JSONDecodeError as exc:
        raise SystemExit(f"PARAMS is not JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise SystemExit(
            f"PARAMS must be a JSON object of the DAG's params, like '{{\"sample_size\": 500}}'; got {params}"
        )
    # Held while the run runs: a make airflow started meanwhile would have its scheduler run this run's tasks too.
    with running_alone_in(Path(env["AIRFLOW_HOME"])):
        return _run(env, conf, date)


def _run(env: dict[str, str], conf: dict[str, object], date: str | None) -> int:
    logical_date = date or datetime.now(UTC).replace(microsecond=0).isoformat()
    # A GitHub that cannot be reached would take minutes of retries to report; asked first, it takes seconds.
    preflight = subprocess.run(
        [sys.executable, "-m", "tools.github_preflight"],
        env=env,
        cwd=PROJECT_ROOT,
        check=False,
        stdout=subprocess.PIPE,
        text=True,
    )
    if preflight.returncode:
        return preflight.returncode
    if preflight.stdout.strip().endswith("anonymous"):
        conf = anonymous_defaults(conf)
    ensure_warehouse(env)
    # The same for a configured warehouse that does not answer: seconds instead of minutes of retries.
    warehouse = subprocess.run(
        [sys.executable, "-m", "tools.warehouse_preflight"], env=env, cwd=PROJECT_ROOT, check=False
    )
    if warehouse.returncode:
        return warehouse.returncode
    setup(env)
    if env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "").strip().upper() == "DEBUG":
        print(DEBUG_SHOWS_SECRETS, file=sys.stderr)
    started = datetime.now(UTC)
    try:
        returncode = foreground(dag_test_env(env), "dags", "test", DAG_ID, logical_date, "--conf", json.dumps(conf))
    except StopRequested as stop:
        # Left running, it would hold the DAG's one active run for good, in make airflow's scheduler too.
        fail_stopped_runs(env)
        print("Stopped the run, and every process it started.", file=sys.stderr)
        return 128 + stop.signum
    summary = subprocess.run(
        [sys.executable, "-m", "tools.summary", "--since", started.isoformat()],
        env=env,
        cwd=PROJECT_ROOT,
        text=True,
        check=False,
    )
    return returncode or summary.returncode


def foreground(env: dict[str, str], *args: str) -> int:
    """``airflow <args>`` until it ends, its output in the terminal; its exit code.

    Ctrl-C or SIGTERM raise :class:`StopRequested` once the command and every process it started have
    stopped. ``airflow dags test`` waiting out a deferral (a spent GitHub budget, up to an hour) does not
    stop on SIGTERM, which make passes on; run in a session of its own, it is stopped as ``make airflow``
    stops its processes: SIGTERM to its group, SIGKILL for what still runs after the grace period.
    """
    stop_on_signals()
    processes = AirflowProcesses(env, log_dir=None, stop_timeout=FOREGROUND_STOP_TIMEOUT_SECONDS)
    try:
        processes.start(args[0], *args)
        return processes.wait_for_exit(args[0])
    finally:
        processes.stop()


def dag_test_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of ``airflow dags test``: without the late-run alert unless it is asked for explicitly.

    Airflow 3.3's ``dag.test`` cannot finish a run of a DAG with a deadline alert (see
    ``github_etl.alerts.late_run_alert``): the run succeeds, then the command ends in a traceback and
    status 1. A run in the foreground, with nothing to call the alert back, does not need it.
    """
    return {DEADLINE_ALERT_ENV: "false", **env}


def anonymous_defaults(conf: dict[str, object]) -> dict[str, object]:
    """Without a token, a default sample the anonymous budget pays for at once instead of after an hour's wait."""
    if conf.get("mode", scheduled_mode()) != "sample" or "sample_size" in conf:
        return conf
    print(
        f"No GitHub token: sampling {ANONYMOUS_SAMPLE_SIZE} repositories, what GitHub's anonymous budget "
        "(60 requests an hour) pays for. Set a token as the password of AIRFLOW_CONN_GITHUB_DEFAULT for more, "
        "or choose with PARAMS='{\"sample_size\": N}'.",
        file=sys.stderr,
    )
    return {**conf, "sample_size": ANONYMOUS_SAMPLE_SIZE}


def standalone(env: dict[str, str]) -> int:
    """``airflow standalone``, its output in the terminal; Ctrl-C (or SIGTERM) stops every process it started.

    It holds its AIRFLOW_HOME's lock while it runs: ``make run`` there would race its scheduler.
    """
    port = api_port()
    require_free_port(port)
    with holding_home(Path(env["AIRFLOW_HOME"])):
        return _standalone(env, port)


def _standalone(env: dict[str, str], port: int) -> int:
    # Task supervisors report to the execution API, which Airflow looks for on port 8080 whatever
    # [api] port says: on another port every task would fail before it starts.
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://localhost:{port}/execution/")
    ensure_warehouse(env)
    setup(env)
    url = f"http://localhost:{port}"
    stop_on_signals()
    processes = AirflowProcesses(env, log_dir=None)
    try:
        processes.start("standalone", "standalone")
        try:
            processes.wait_until_healthy(url, timeout=STANDALONE_STARTUP_TIMEOUT_SECONDS, components=HEALTH_COMPONENTS)
            print(f"Airflow is ready at {url}", file=sys.stderr)
        except AirflowProcessError as exc:
            processes.check()
            # Still running, only not where it was looked for (airflow.cfg may name another port): keep it.
            print(f"Airflow is still starting: {exc}", file=sys.stderr)
        processes.watch()
    except StopRequested as stop:
        print("Stopping Airflow (every process it started)...", file=sys.stderr)
        return 128 + stop.signum
    except AirflowProcessError as exc:
        print(exc, file=sys.stderr)
        return processes.returncode("standalone") or 1
    finally:
        processes.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dev")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="one full DAG run (airflow dags test) and its summary")
    run_parser.add_argument("--params", default=os.environ.get("PARAMS", "{}"))
    run_parser.add_argument("--date", default=os.environ.get("DATE") or None)
    commands.add_parser("setup", help="metadata database and pool")
    commands.add_parser("airflow", help="airflow standalone with this project")
    args = parser.parse_args(argv)
    env = airflow_env()
    try:
        if args.command == "run":
            return run(env, args.params, args.date)
        if args.command == "setup":
            ensure_warehouse(env)
            setup(env)
            return 0
        return standalone(env)
    except KeyboardInterrupt as stop:
        # Ctrl-C or SIGTERM between the steps that stop their processes themselves (a preflight, the
        # migration, the summary): the step's process got the signal too, and a traceback says nothing more.
        return 128 + getattr(stop, "signum", signal.SIGINT)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigurationError as exc:
        # A malformed setting (GITHUB_ETL_POOL_SLOTS=nan): its message says which and why, no traceback.
        sys.exit(f"make: {exc}")
