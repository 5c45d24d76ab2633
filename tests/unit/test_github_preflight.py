"""``make run``'s first questions: do the GitHub API it will harvest and the warehouse it loads answer at all?"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from threading import Thread

import pytest

import tools.dev
from github_etl.errors import ConfigurationError
from github_etl.settings import DEADLINE_ALERT_ENV
from tests.ports import closed_port
from tools.airflow_processes import StopRequested, airflow_executable, holding_home
from tools.dev import ANONYMOUS_SAMPLE_SIZE, anonymous_defaults
from tools.github_preflight import unreachable_reason
from tools.warehouse_preflight import UNDEFINED

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _preflight(module: str, home: Path, *args: str, **connections: str) -> subprocess.CompletedProcess[str]:
    """Run a preflight as ``make run`` does: its own process, an Airflow home, the connections in the environment."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=_environment(home, **connections),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _environment(home: Path, **variables: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
        **variables,
    }


class _Unavailable(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_fake_github_answers(fake_github):
    assert unreachable_reason(fake_github.base_url) is None


def test_an_http_error_is_an_answer():
    server = HTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert unreachable_reason(f"http://127.0.0.1:{server.server_address[1]}") is None
    finally:
        server.shutdown()
        server.server_close()


def test_a_truncated_body_is_an_answer(fake_github):
    # Retried by the run like any transient fault; it is no reason to stop `make run` as unreachable.
    fake_github.faults.truncate_next = 1

    assert unreachable_reason(fake_github.base_url) is None
    assert fake_github.faults.truncate_next == 0


def test_a_certificate_of_the_companys_ca_is_named_with_the_fix_and_trusted_once_given(monkeypatch, tmp_path):
    from tests.fake_github import FakeGitHub
    from tests.fixtures.tls import make_certificates

    certificates = make_certificates(tmp_path)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeGitHub(repo_count=10, enterprise_version="3.9.0", rate_limiting=False)
    fake.start(ssl_context=certificates.server_context())
    try:
        reason = unreachable_reason(fake.base_url)
        assert reason is not None and "REQUESTS_CA_BUNDLE" in reason and "not trusted" in reason
        monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))
        assert unreachable_reason(fake.base_url) is None
    finally:
        fake.stop()


def test_a_refused_connection_says_so():
    reason = unreachable_reason(f"http://127.0.0.1:{closed_port()}")

    assert reason is not None
    assert "refused" in reason.lower()


@pytest.mark.parametrize("reachable", [True, False])
def test_the_command_resolves_the_connection_and_exits_by_its_answer(fake_github, tmp_path, reachable):
    url = fake_github.base_url if reachable else f"http://127.0.0.1:{closed_port()}"
    connection = json.dumps({"conn_type": "http", "host": url, "password": "ghp_secret_1"})

    result = _preflight("tools.github_preflight", tmp_path, AIRFLOW_CONN_GITHUB_DEFAULT=connection)

    assert result.returncode == (0 if reachable else 1), result.stderr
    if reachable:
        assert result.stdout.strip().splitlines()[-1] == "authenticated"
    else:
        assert f"GitHub at {url} cannot be reached from here" in result.stderr
        # The hint's connection carries a token, so the run it leads to is not held by the anonymous budget.
        assert '"password": "fake-token"' in result.stderr
    assert "ghp_secret_1" not in result.stderr + result.stdout


@pytest.fixture
def metadata(airflow_db, tmp_path) -> dict[str, str]:
    """A metadata database of the test's own, copied from the session's (tests/conftest.py) once it is set up,
    so that nothing else in the suite holds or writes it while the preflights read it."""
    session = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    copy = tmp_path / "airflow.db"
    with closing(sqlite3.connect(session)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{copy}"}


@pytest.fixture
def stored_connection(metadata, tmp_path):
    """Connections stored as a user stores them, ``airflow connections add``, in the test's metadata database."""

    def store(conn_id: str, uri: str) -> None:
        command = [airflow_executable(), "connections", "add", conn_id, "--conn-uri", uri]
        subprocess.run(command, env=_environment(tmp_path, **metadata), capture_output=True, timeout=120, check=True)

    return store


def test_the_command_reads_a_connection_stored_in_the_metadata_database(
    fake_github, tmp_path, metadata, stored_connection
):
    # The run's tasks read it through the API server; the preflight, a process of its own, must find it too.
    stored_connection("github_default", f"http://:ghp_secret_2@{fake_github.base_url.removeprefix('http://')}")

    result = _preflight("tools.github_preflight", tmp_path, **metadata)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "authenticated"
    assert "ghp_secret_2" not in result.stderr + result.stdout


def test_a_malformed_app_connection_stops_the_command_with_its_message_and_no_traceback(tmp_path):
    extra = {"app_id": 31337, "installation_id": "one", "private_key": "-----BEGIN RSA PRIVATE KEY-----\\nMIIsecret\\n"}
    connection = json.dumps({"conn_type": "http", "host": "http://127.0.0.1:1", "extra": extra})

    result = _preflight("tools.github_preflight", tmp_path, AIRFLOW_CONN_GITHUB_DEFAULT=connection)

    assert result.returncode == 1
    assert "'installation_id'" in result.stderr
    assert "Traceback" not in result.stderr and "MIIsecret" not in result.stderr + result.stdout


def test_a_warehouse_connection_stored_in_the_metadata_database_is_used_not_the_embedded_one(
    pg_url, tmp_path, metadata, stored_connection
):
    """``airflow connections add postgres_default ...`` configures the warehouse, as the environment does."""
    database = metadata
    assert _preflight("tools.warehouse_preflight", tmp_path, "--defined", **database).returncode == UNDEFINED

    stored_connection("postgres_default", uri=pg_url)
    assert _preflight("tools.warehouse_preflight", tmp_path, "--defined", **database).returncode == 0
    env = _environment(tmp_path, **database)
    tools.dev.ensure_warehouse(env)

    assert "AIRFLOW_CONN_POSTGRES_DEFAULT" not in env  # no embedded PostgreSQL put in its place
    assert _preflight("tools.warehouse_preflight", tmp_path, **database).returncode == 0
    # The run's summary, a process of its own too, reads the same warehouse.
    summary = _preflight("tools.summary", tmp_path, **database)
    assert summary.stdout == "No run has been loaded yet.\n", summary.stderr


@pytest.mark.parametrize("reachable", [True, False])
def test_the_warehouse_is_asked_once_and_an_unreachable_one_stops_make_run_at_once(pg_url, tmp_path, reachable):
    # With nothing listening, a run retried each connection and each task: minutes before the error.
    url = pg_url if reachable else f"postgresql://etl:pg_secret_7@127.0.0.1:{closed_port()}/warehouse"

    result = _preflight("tools.warehouse_preflight", tmp_path, AIRFLOW_CONN_POSTGRES_DEFAULT=url)

    assert result.returncode == (0 if reachable else 1), result.stderr
    if not reachable:
        assert "cannot connect to the warehouse at 127.0.0.1:" in result.stderr
        assert "after 1 attempt:" in result.stderr  # once, no retries
        assert "AIRFLOW_CONN_POSTGRES_DEFAULT" in result.stderr
    assert "pg_secret_7" not in result.stderr + result.stdout


def test_with_connections_in_a_secrets_backend_the_hints_name_its_entries(tmp_path):
    """Airflow reads the backend's entry before any AIRFLOW_CONN_* variable: a hint to export one changed nothing."""
    github = {"conn_type": "http", "host": f"http://127.0.0.1:{closed_port()}", "password": "ghp_secret_1"}
    warehouse = f"postgresql://etl:pg_secret_7@127.0.0.1:{closed_port()}/warehouse"
    connections = tmp_path / "connections.json"
    connections.write_text(json.dumps({"github_default": github, "postgres_default": warehouse}))
    backend = {
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(connections)}),
    }

    to_github = _preflight("tools.github_preflight", tmp_path, **backend)
    assert to_github.returncode == 1, to_github.stderr
    assert f"make github_default in the connections file {connections}" in to_github.stderr
    assert "export AIRFLOW_CONN_GITHUB_DEFAULT" not in to_github.stderr
    to_warehouse = _preflight("tools.warehouse_preflight", tmp_path, **backend)
    assert to_warehouse.returncode == 1, to_warehouse.stderr
    assert f"correct the connection postgres_default in the connections file {connections}" in to_warehouse.stderr
    shown = to_github.stderr + to_github.stdout + to_warehouse.stderr + to_warehouse.stdout
    assert "ghp_secret_1" not in shown and "pg_secret_7" not in shown


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({}, {"sample_size": ANONYMOUS_SAMPLE_SIZE}),
        ({"mode": "sample", "seed": 3}, {"mode": "sample", "seed": 3, "sample_size": ANONYMOUS_SAMPLE_SIZE}),
        ({"sample_size": 500}, {"sample_size": 500}),
        ({"mode": "search", "query": "language:go"}, {"mode": "search", "query": "language:go"}),
    ],
)
def test_make_run_without_a_token_samples_what_the_anonymous_budget_pays_for(conf, expected):
    assert anonymous_defaults(conf) == expected


def test_make_run_without_a_token_leaves_a_scheduled_census_as_it_is(monkeypatch):
    """A conf without a mode runs the DAG's: with GITHUB_ETL_SCHEDULED_MODE=census, no sample_size to refuse."""
    monkeypatch.setenv("GITHUB_ETL_SCHEDULED_MODE", "census")
    assert anonymous_defaults({}) == {}


@pytest.mark.parametrize(("configured", "expected"), [(None, "false"), ("true", "true")])
def test_make_run_leaves_out_the_deadline_alert_dag_test_cannot_finish(monkeypatch, tmp_path, configured, expected):
    """``airflow dags test`` of a DAG with a deadline alert ends in a traceback after the run succeeded."""
    commands: list[tuple[tuple[str, ...], dict[str, str]]] = []

    def airflow(env, *args, check=True):
        commands.append((args, dict(env)))
        return subprocess.CompletedProcess(args, 0)

    def answered(args, **kwargs):
        return subprocess.CompletedProcess(args, 0, stdout="http://127.0.0.1:1 token\n")

    def foreground(env, *args):
        commands.append((args, dict(env)))
        return 0

    monkeypatch.setattr(tools.dev, "airflow", airflow)
    monkeypatch.setattr(tools.dev, "foreground", foreground)
    monkeypatch.setattr(tools.dev, "ensure_warehouse", lambda env: None)
    monkeypatch.setattr(tools.dev, "setup", lambda env: None)
    monkeypatch.setattr(tools.dev.subprocess, "run", answered)
    env = {"AIRFLOW_HOME": str(tmp_path)} | ({} if configured is None else {DEADLINE_ALERT_ENV: configured})
    assert tools.dev.run(env, "{}", "2026-11-01T00:00:00+00:00") == 0
    (dag_test,) = [env for args, env in commands if args[:2] == ("dags", "test")]
    assert dag_test[DEADLINE_ALERT_ENV] == expected


@pytest.mark.parametrize(("level", "warned"), [("DEBUG", True), ("debug", True), ("INFO", False), (None, False)])
def test_make_run_at_debug_warns_that_dag_test_prints_masked_secrets(monkeypatch, tmp_path, capsys, level, warned):
    """Airflow's in-process runner of ``airflow dags test`` logs each MaskSecret request, secret included, at DEBUG."""
    monkeypatch.setattr(tools.dev, "foreground", lambda env, *args: 0)
    monkeypatch.setattr(tools.dev, "ensure_warehouse", lambda env: None)
    monkeypatch.setattr(tools.dev, "setup", lambda env: None)
    monkeypatch.setattr(
        tools.dev.subprocess, "run", lambda args, **kwargs: subprocess.CompletedProcess(args, 0, stdout="token\n")
    )
    env = {"AIRFLOW_HOME": str(tmp_path)} | ({} if level is None else {"AIRFLOW__LOGGING__LOGGING_LEVEL": level})

    assert tools.dev.run(env, "{}", "2026-11-01T00:00:00+00:00") == 0
    assert ("prints every secret the run masks" in capsys.readouterr().err) is warned


@pytest.mark.parametrize(
    ("interrupted", "signal_raised", "expected"),
    [
        pytest.param("tools.github_preflight", KeyboardInterrupt(), 130, id="ctrl-c-in-the-preflight"),
        pytest.param("tools.summary", StopRequested(signal.SIGINT), 130, id="ctrl-c-in-the-summary"),
        pytest.param("tools.summary", StopRequested(signal.SIGTERM), 143, id="sigterm-in-the-summary"),
    ],
)
def test_make_run_stopped_between_its_steps_exits_by_the_signal_without_a_traceback(
    monkeypatch, tmp_path, interrupted, signal_raised, expected
):
    def answered(args, **kwargs):
        if interrupted in args:
            raise signal_raised
        return subprocess.CompletedProcess(args, 0, stdout="http://127.0.0.1:1 token\n")

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr(tools.dev, "foreground", lambda env, *args: 0)
    monkeypatch.setattr(tools.dev, "ensure_warehouse", lambda env: None)
    monkeypatch.setattr(tools.dev, "setup", lambda env: None)
    monkeypatch.setattr(tools.dev.subprocess, "run", answered)
    assert tools.dev.main(["run", "--params", "{}"]) == expected


def test_make_run_refuses_while_make_airflow_serves_its_home_and_asks_nothing(monkeypatch, tmp_path):
    # make airflow's scheduler would queue the same run's tasks: TaskAlreadyRunningError, deadlocks.
    def asked(args, **kwargs):
        raise AssertionError(f"nothing should run, yet {args} did")

    monkeypatch.setattr(tools.dev.subprocess, "run", asked)
    with (
        holding_home(tmp_path),
        pytest.raises(ConfigurationError, match=r"make airflow \(or another make run\) is") as refused,
    ):
        tools.dev.run({"AIRFLOW_HOME": str(tmp_path)}, "{}", None)
    assert "airflow dags trigger" in str(refused.value)
    # Once make airflow has ended (its lock goes with it), make run goes on to its preflight.
    with pytest.raises(AssertionError, match="github_preflight"):
        tools.dev.run({"AIRFLOW_HOME": str(tmp_path)}, "{}", None)


def test_make_airflow_is_refused_while_make_run_runs_in_its_home(monkeypatch, tmp_path):
    # Its scheduler would queue the tasks of the run airflow dags test runs (the DAG unpaused earlier, say).
    seen: list[str] = []

    def foreground(env, *args):
        try:
            with holding_home(tmp_path):
                seen.append("make airflow started")
        except ConfigurationError:
            seen.append("make airflow refused")
        return 0

    monkeypatch.setattr(tools.dev, "foreground", foreground)
    monkeypatch.setattr(tools.dev, "ensure_warehouse", lambda env: None)
    monkeypatch.setattr(tools.dev, "setup", lambda env: None)
    monkeypatch.setattr(
        tools.dev.subprocess, "run", lambda args, **kwargs: subprocess.CompletedProcess(args, 0, stdout="token\n")
    )

    assert tools.dev.run({"AIRFLOW_HOME": str(tmp_path)}, "{}", "2026-11-01T00:00:00+00:00") == 0
    assert seen == ["make airflow refused"]


@pytest.mark.parametrize("params", ["[1]", "null", '"sample_size=500"'])
def test_params_that_are_json_but_no_object_are_refused_naming_params(monkeypatch, tmp_path, params):
    def asked(args, **kwargs):
        raise AssertionError(f"nothing should run, yet {args} did")

    monkeypatch.setattr(tools.dev.subprocess, "run", asked)
    with pytest.raises(SystemExit, match="PARAMS must be a JSON object"):
        tools.dev.run({"AIRFLOW_HOME": str(tmp_path)}, params, None)


def test_a_second_make_airflow_on_the_same_home_is_refused(tmp_path):
    with (
        holding_home(tmp_path),
        pytest.raises(ConfigurationError, match="make airflow or make run is running"),
        holding_home(tmp_path),
    ):
        pass


# make run / make airflow, and make airflow EXECUTOR=celery.
LOCAL_COMMANDS = [
    pytest.param(("tools.dev", "setup"), id="make run"),
    pytest.param(("tools.dev", "airflow"), id="make airflow"),
    pytest.param(("tools.celery_cluster", "up", "--workers", "1"), id="make airflow EXECUTOR=celery"),
]


@pytest.mark.parametrize("command", LOCAL_COMMANDS)
def test_a_malformed_setting_stops_the_local_commands_with_its_message_and_no_traceback(tmp_path, command):
    result = _preflight(
        *command[:1],
        tmp_path,
        *command[1:],
        AIRFLOW__API__PORT=str(closed_port()),
        AIRFLOW_CONN_POSTGRES_DEFAULT=f"postgresql://postgres@127.0.0.1:{closed_port()}/none",
        GITHUB_ETL_CELERY_DATABASE_SERVER=f"postgresql://postgres@127.0.0.1:{closed_port()}/none",
        GITHUB_ETL_POOL_SLOTS="nan",
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "make: GITHUB_ETL_POOL_SLOTS must be a finite number, got 'nan'"


@pytest.mark.parametrize("command", [c for c in LOCAL_COMMANDS if "airflow" in c.id])
def test_an_api_port_in_use_stops_make_airflow_before_anything_starts(tmp_path, command):
    # Another process answering there would pass for our API server's health.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _preflight(
            *command[:1],
            tmp_path,
            *command[1:],
            AIRFLOW__API__PORT=str(port),
            AIRFLOW_CONN_POSTGRES_DEFAULT=f"postgresql://postgres@127.0.0.1:{closed_port()}/none",
            GITHUB_ETL_CELERY_DATABASE_SERVER=f"postgresql://postgres@127.0.0.1:{closed_port()}/none",
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"make: port {port} is in use already (another Airflow?): stop what listens there, "
        f"or choose another port with AIRFLOW__API__PORT={port + 1}"
    )


def test_make_airflow_on_another_port_points_its_tasks_at_that_api_server(monkeypatch, tmp_path) -> None:
    """Airflow's task supervisors find the execution API on port 8080 unless told otherwise."""
    started: list[dict[str, str]] = []

    class Processes:
        def __init__(self, env, **kwargs):
            started.append(dict(env))

        def start(self, *args):
            raise tools.dev.StopRequested(2)

        def stop(self):
            pass

    port = closed_port()
    monkeypatch.setenv("AIRFLOW__API__PORT", str(port))
    monkeypatch.setattr(tools.dev, "AirflowProcesses", Processes)
    monkeypatch.setattr(tools.dev, "ensure_warehouse", lambda env: None)
    monkeypatch.setattr(tools.dev, "setup", lambda env: None)
    monkeypatch.setattr(tools.dev, "stop_on_signals", lambda: None)

    assert tools.dev.standalone({"AIRFLOW_HOME": str(tmp_path)}) == 130
    assert started[0]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://localhost:{port}/execution/"
