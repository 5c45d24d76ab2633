"""``make run`` as a user runs it: the whole command, its Airflow run in the foreground, stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tools.waiting import poll

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _processes_with_home(home: Path) -> list[int]:
    """Pids of the processes whose environment names ``home`` as AIRFLOW_HOME."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environment = (entry / "environ").read_bytes().split(b"\0")
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if marker in environment:
                found.append(int(entry.name))
    return found


# Ctrl-C in a terminal; SIGTERM from make passing a stop on, kill, a CI runner or a supervisor.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_run_stops_with_every_process_while_its_run_waits_for_a_budget_reset(
    fake_github_factory, pg_url: str, tmp_path: Path, signum: signal.Signals
) -> None:
    # The budget is spent for an hour: plan defers until the reset, as a run without a token often does.
    fake = fake_github_factory(repo_count=50, seed=3)
    fake.faults.update({"exhaust": {"resource": "core", "reset_in_s": 3600}})
    home = tmp_path / "airflow"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(
            {"conn_type": "http", "host": fake.base_url, "password": "ghp_make_run_0123456789"}
        ),
        "AIRFLOW_CONN_POSTGRES_DEFAULT": pg_url,
        "GITHUB_ETL_STAGING_URL": (tmp_path / "staging").as_uri(),
        "PARAMS": json.dumps({"sample_size": 10, "shards": 1}),
    }
    output = tmp_path / "make-run.log"
    with output.open("w") as log:
        # Its own session, as make's in a terminal: Ctrl-C reaches make and this process, not what it starts.
        make_run = subprocess.Popen(
            [sys.executable, "-m", "tools.dev", "run"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def still_running() -> None:
            if make_run.poll() is not None:
                raise AssertionError(f"make run ended with {make_run.returncode}:\n{output.read_text()[-3000:]}")

        poll(
            lambda: "budget spent until" in output.read_text(),
            timeout=240,
            what="the run to defer",
            check=still_running,
        )
        assert _processes_with_home(home), "no Airflow process to stop"

        os.killpg(make_run.pid, signum)

        returncode = make_run.wait(timeout=60)
        assert _processes_with_home(home) == [], "make run left Airflow waiting"
        assert returncode == 128 + signum
        assert "Stopped the run" in output.read_text()
        # Left running, with max_active_runs=1 it would keep make airflow's scheduler from every other run.
        with sqlite3.connect(home / "airflow.db") as metadata:
            states = metadata.execute("SELECT state FROM dag_run WHERE dag_id = 'github_repositories'").fetchall()
            unfinished = metadata.execute(
                "SELECT task_id FROM task_instance WHERE state IN ('queued', 'running', 'deferred', 'scheduled')"
            ).fetchall()
        assert (states, unfinished) == ([("failed",)], [])
    finally:
        if make_run.poll() is None:
            os.killpg(make_run.pid, signal.SIGKILL)
        for pid in _processes_with_home(home):
            os.kill(pid, signal.SIGKILL)
