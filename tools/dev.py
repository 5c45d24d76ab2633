"""Local developer commands behind ``make run``, ``make airflow`` and ``make test``.

Prepares an Airflow home inside the project, provides a warehouse (the configured
``AIRFLOW_CONN_POSTGRES_DEFAULT``, or an embedded project-local PostgreSQL) and runs Airflow with this
project's dags and plugins.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
DAG_ID = "github_repositories"
# Concurrent API tasks across the whole Airflow: a token allows ~100 concurrent requests, but serial is safest.
DEFAULT_POOL_SLOTS = 4
# Discovering the id space costs GitHub about 35 requests, enriching without a token one per repository.
ANONYMOUS_SAMPLE_SIZE = 20


def airflow_env(base: dict[str, str] | None = None) -> dict[str, str]:
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
        "GITHUB_ETL_SQL_DIR": str(PROJECT_ROOT / "include" / "sql" / "github_repositories"),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    # `airflow standalone` starts its components as `airflow ...` found on PATH: the project's venv first.
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH", "")) if p)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def ensure_warehouse(env: dict[str, str]) -> None:
    """Use the configured warehouse, or start the embedded one and point ``postgres_default`` at it."""
    if env.get("AIRFLOW_CONN_POSTGRES_DEFAULT"):
        return
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
    return subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env, check=check, text=True)


def setup(env: dict[str, str]) -> None:
    """Create or upgrade the metadata database and the ``github_api`` pool (idempotent)."""
    AIRFLOW_HOME.mkdir(exist_ok=True)
    airflow(env, "db", "migrate")
    slots = env.get("GITHUB_ETL_POOL_SLOTS", str(DEFAULT_POOL_SLOTS))
    airflow(env, "pools", "set", "github_api", slots, "Concurrent GitHub API tasks (github_etl)")


def run(env: dict[str, str], params: str, date: str | None) -> int:
    try:
        conf = json.loads(params or "{}")
    except json.JSONDecodeError as exc:
        raise SystemExit(f"PARAMS is not JSON: {exc}") from None
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
    setup(env)
    result = airflow(env, "dags", "test", DAG_ID, logical_date, "--conf", json.dumps(conf), check=False)
    summary = subprocess.run([sys.executable, "-m", "tools.summary"], env=env, cwd=PROJECT_ROOT, text=True, check=False)
    return result.returncode or summary.returncode


def anonymous_defaults(conf: dict[str, object]) -> dict[str, object]:
    """Without a token, a default sample the anonymous budget pays for at once instead of after an hour's wait."""
    if conf.get("mode", "sample") != "sample" or "sample_size" in conf:
        return conf
    print(
        f"No GitHub token: sampling {ANONYMOUS_SAMPLE_SIZE} repositories, what GitHub's anonymous budget "
        "(60 requests an hour) pays for. Set a token as the password of AIRFLOW_CONN_GITHUB_DEFAULT for more, "
        "or choose with PARAMS='{\"sample_size\": N}'.",
        file=sys.stderr,
    )
    return {**conf, "sample_size": ANONYMOUS_SAMPLE_SIZE}


def standalone(env: dict[str, str]) -> int:
    """``airflow standalone`` in its own process group; Ctrl-C (or SIGTERM) stops every process it started."""
    ensure_warehouse(env)
    setup(env)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "airflow"), "standalone"], env=env, start_new_session=True
    )

    def stop(signum: int, _frame: object) -> None:
        # Further Ctrl-C presses must not interrupt the shutdown half-way and leave orphans behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("Stopping Airflow (every process it started)...", file=sys.stderr)
        _terminate_group(process)
        sys.exit(128 + signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return process.wait()


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    # Components that outlived their parent's SIGTERM (or the parent itself) are killed outright.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


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
    if args.command == "run":
        return run(env, args.params, args.date)
    if args.command == "setup":
        ensure_warehouse(env)
        setup(env)
        return 0
    return standalone(env)


if __name__ == "__main__":
    sys.exit(main())
