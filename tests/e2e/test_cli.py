"""The DAG operated from Airflow's CLI, as the docs tell a data engineer to.

Each test runs the real ``airflow`` command (a subprocess of this venv) against the session's Airflow home
(tests/conftest.py: SQLite metadata), the fake GitHub and the test's PostgreSQL warehouse.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from github_etl.settings import DAG_ID
from tests.fixtures.airflow import load_dagbag
from tools.airflow_processes import airflow_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
DATE = "2026-11-01"


def _airflow(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``airflow <args>`` with the test's environment (its connections, staging, the session's Airflow home)."""
    env = airflow_env(dict(os.environ))
    return subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _states(run_id: str) -> dict[str, str | None]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id)).all()
        return {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: ti.state for ti in tis}


def _xcom(run_id: str, task_id: str) -> object:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(XComModel.value).where(XComModel.run_id == run_id, XComModel.task_id == task_id))


def test_the_documented_tasks_clear_command_clears_extract_and_its_downstream_tasks(
    airflow_db, fake_github_factory, pipeline_env
) -> None:
    """Airflow 3.3's ``tasks clear -t`` matches part of a task id, not a regular expression: the form documented
    before, ``-t '^extract$'``, matched no task and cleared nothing, silently, with exit status 0."""
    fake = fake_github_factory(repo_count=60, seed=5)
    pipeline_env(fake.base_url)
    run = load_dagbag().dags[DAG_ID].test(logical_date=LOGICAL_DATE, run_conf={"sample_size": 6, "shards": 2})
    assert run.state == "success"
    # What the UI's XCom view shows of prepare: plain JSON, no serialisation wrapper (owners was a tuple).
    assert "__classname__" not in json.dumps(_xcom(run.run_id, "prepare"))
    documented = re.search(r"`(airflow tasks clear [^`]+)`", (PROJECT_ROOT / "docs/error-handling.md").read_text())
    command = shlex.split(documented.group(1).replace("START", DATE).replace("END", DATE))

    result = _airflow(*command[1:], "-y")

    assert result.returncode == 0, result.stderr[-2000:]
    after = _states(run.run_id)
    cleared = sorted(task for task, state in after.items() if state != "success")
    assert cleared == ["check", "extract[0]", "extract[1]", "load", "report", "transform[0]", "transform[1]"], after


def test_tasks_test_of_plan_on_a_date_without_a_run_says_prepare_did_not_run(
    airflow_db, fake_github_factory, pipeline_env
) -> None:
    """``airflow tasks test github_repositories plan DATE`` (no run on that date): Airflow makes a temporary run
    in which prepare never ran, and deletes it when the command ends. plan fails at once, saying so and how to test
    tasks one by one, not blaming a Mark Success that never happened."""
    fake = fake_github_factory(repo_count=60, seed=5)
    pipeline_env(fake.base_url)
    # The DAG must be in the metadata database for `airflow tasks test`.
    assert _airflow("dags", "reserialize").returncode == 0

    result = _airflow("tasks", "test", DAG_ID, "plan", "2026-10-15")
    output = result.stdout + result.stderr
    assert "has no params from its prepare task: prepare did not run in it" in output, output[-3000:]
    assert "trigger a run first (`airflow dags trigger`)" in output
