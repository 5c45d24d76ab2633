"""The DAG under the object-storage XCom backend a deployment may enable (apache-airflow-providers-common-io).

Airflow picks its XCom backend once per process, so the run under it is ``airflow dags test`` in a process of
its own, with every XCom of every task written to the store (threshold 0) and compressed; the run it is
compared with is the suite's own, through Airflow's default backend.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from github_etl.settings import DAG_ID
from tests.in_process import query, warehouse_rows
from tools.airflow_processes import AirflowProcesses, airflow_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
# Mapped over two shards, so the extract and transform results travel as mapped XComs too.
CONF = {"mode": "sample", "sample_size": 8, "seed": 3, "shards": 2}
TASKS = {"prepare", "plan", "extract", "transform", "load", "check", "report"}
AUDIT = "SELECT mode, listed, enriched, skipped, rejected, inserted, updated, unchanged FROM github.load_runs"
# `airflow db migrate` of an empty SQLite database and a run of 8 repositories, on a busy two-core machine.
COMMAND_TIMEOUT_SECONDS = 240.0


def test_a_run_under_the_object_storage_xcom_backend_loads_what_the_default_backend_loads(
    fake_github_factory, pipeline_env, run_dag, pg_url: str, second_pg_url: str, tmp_path: Path
) -> None:
    fake = fake_github_factory(repo_count=60, seed=5)
    pipeline_env(fake.base_url)
    assert run_dag(CONF, LOGICAL_DATE).state == "success"

    home, store = tmp_path / "airflow", tmp_path / "xcom"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__XCOM_BACKEND": "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": store.as_uri(),
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": "0",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_COMPRESSION": "gzip",
        "AIRFLOW_CONN_POSTGRES_DEFAULT": second_pg_url,
        "GITHUB_ETL_STAGING_URL": (tmp_path / "staging-xcom").as_uri(),
    }
    processes = AirflowProcesses(airflow_env(), log_dir=None)
    processes.env.update(env)
    processes.run("db", "migrate", timeout=COMMAND_TIMEOUT_SECONDS)
    output = processes.run(
        "dags", "test", DAG_ID, LOGICAL_DATE.isoformat(), "--conf", json.dumps(CONF), timeout=COMMAND_TIMEOUT_SECONDS
    )

    assert "DagRun Finished" in output and "state=success" in output, output[-3000:]
    assert warehouse_rows(second_pg_url) == warehouse_rows(pg_url)
    assert len(warehouse_rows(pg_url)) == CONF["sample_size"]
    assert query(second_pg_url, AUDIT) == query(pg_url, AUDIT)
    # Every task's result went to the store: the metadata database holds only where each one is.
    with sqlite3.connect(home / "airflow.db") as metadata:
        stored = metadata.execute("SELECT task_id, key, value FROM xcom").fetchall()
    assert {task for task, _, _ in stored} == TASKS
    assert all(json.loads(value).startswith(store.as_uri()) and value.endswith('.gz"') for _, _, value in stored)
    # One object per task instance: a task's result is not pushed again key by key.
    assert {key for _, key, _ in stored} == {"return_value"}
    assert len(list(store.rglob("*.gz"))) == len(stored) == len(TASKS) + 2 * (CONF["shards"] - 1)
