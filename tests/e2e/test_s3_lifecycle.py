"""A run staged on S3 (moto), in a live Airflow, whose staged files a lifecycle rule then expired.

Clearing its ``load`` fails that task at once, without retries, saying what to clear; the warehouse keeps
what the run loaded. Clearing ``plan`` with its downstream tasks, as the error says, stages the run again and
loads it without duplicating anything. The staging URL is the AWS form, ``s3://bucket/prefix``: the
``aws_default`` connection holding moto's endpoint is the one used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
import pytest

from github_etl.settings import DAG_ID
from github_etl.staging import safe_key
from tests.browser.airflow_server import AirflowApi, LocalAirflow
from tests.fake_github import FakeGitHub
from tests.fixtures.s3 import STAGING_BUCKET, moto_client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

USERNAME = "admin"
SAMPLE = {"mode": "sample", "sample_size": 6, "shards": 1}
# One small run, its task processes starting on a busy two-core machine.
RUN_TIMEOUT_SECONDS = 300.0


@pytest.fixture
def staging_prefix(s3_staging_url: str) -> str:
    return s3_staging_url.split(f"{STAGING_BUCKET}/", 1)[1]


@pytest.fixture
def airflow(local_airflow, fake_github: FakeGitHub, staging_prefix: str, tmp_path: Path) -> Iterator[LocalAirflow]:
    github = {"conn_type": "http", "host": fake_github.base_url, "password": "ghp_lifecycle_0123456789"}
    server = local_airflow(
        AIRFLOW_CONN_GITHUB_DEFAULT=json.dumps(github),
        AIRFLOW_CONN_AWS_DEFAULT=os.environ["AIRFLOW_CONN_AWS_DEFAULT"],
        GITHUB_ETL_STAGING_URL=f"s3://{STAGING_BUCKET}/{staging_prefix}/",
    )
    with server.serving(DAG_ID, logs_to=tmp_path / "airflow-logs") as serving:
        yield serving


def test_a_run_whose_staged_files_expired_fails_its_cleared_load_at_once_and_loads_again_from_plan(
    airflow: LocalAirflow, fake_github: FakeGitHub, s3_endpoint: str, staging_prefix: str, pg_url: str
) -> None:
    api = AirflowApi(airflow, USERNAME)
    api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}, params={"update_mask": "is_paused"})
    run_id = api.call("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": SAMPLE})["dag_run_id"]
    run_path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
    _wait_for(airflow, api, run_path, "success")
    loaded = _warehouse(pg_url)
    assert loaded["repositories"] == 6

    s3 = moto_client("s3", s3_endpoint)
    run_prefix = f"{staging_prefix}/dag_id={DAG_ID}/run_id={safe_key(run_id)}/"
    staged = [item["Key"] for item in s3.list_objects_v2(Bucket=STAGING_BUCKET, Prefix=run_prefix)["Contents"]]
    assert f"{run_prefix}plan.json" in staged
    # What a lifecycle rule's expiration does to the run's folder.
    s3.delete_objects(Bucket=STAGING_BUCKET, Delete={"Objects": [{"Key": key} for key in staged]})

    tries = _task(api, run_path, "load")["try_number"]
    _clear(api, run_id, "load")
    # Failed on its first try after the clear: no retries spent on a file no retry brings back.
    load = airflow.poll(
        lambda: (task := _task(api, run_path, "load"))["state"] in {"failed", "up_for_retry", "success"} and task,
        timeout=RUN_TIMEOUT_SECONDS,
        what="the cleared load to end its try",
    )
    assert (load["state"], load["try_number"]) == ("failed", tries + 1), load
    _wait_for(airflow, api, run_path, "failed")
    log = _task_log(airflow, run_id, "load", load["try_number"])
    assert "StagedFileGoneError" in log and "clear the run's plan task with its downstream tasks" in log
    assert _warehouse(pg_url) == loaded

    fetched = fake_github.count()
    _clear(api, run_id, "plan")
    _wait_for(airflow, api, run_path, "success")
    assert fake_github.count() > fetched, "the run was not fetched again"
    # The same run loaded again: its audit row replaced, no repository twice, no snapshot twice on a day. Fetched
    # again past midnight UTC, it observed the next day too, which it keeps beside the first.
    reloaded = _warehouse(pg_url)
    ((_, enriched, refetched_on),) = reloaded["runs"]
    assert reloaded == {
        "repositories": 6,
        "snapshots": sorted({*loaded["snapshots"], (refetched_on, 6, 6)}),
        "runs": [(run_id, enriched, refetched_on)],
    }
    assert [(run, enriched) for run, enriched, _ in loaded["runs"]] == [(run_id, enriched)]


def _wait_for(airflow: LocalAirflow, api: AirflowApi, run_path: str, state: str) -> None:
    airflow.poll(
        lambda: api.call("GET", run_path)["state"] in {state, "failed"},
        timeout=RUN_TIMEOUT_SECONDS,
        what=f"the run to end {state}",
    )
    assert api.call("GET", run_path)["state"] == state


def _task(api: AirflowApi, run_path: str, task_id: str) -> dict[str, Any]:
    return api.call("GET", f"{run_path}/taskInstances/{task_id}")


def _clear(api: AirflowApi, run_id: str, task_id: str) -> None:
    api.call(
        "POST",
        f"/dags/{DAG_ID}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "include_downstream": True,
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )


def _task_log(airflow: LocalAirflow, run_id: str, task_id: str, try_number: int) -> str:
    (path,) = (airflow.home / "logs").rglob(f"run_id={run_id}/task_id={task_id}/attempt={try_number}.log")
    return path.read_text()


def _warehouse(pg_url: str) -> dict[str, Any]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id) FROM github.repositories")
        repositories, distinct = cur.fetchone()
        assert repositories == distinct
        cur.execute(
            "SELECT snapshot_date, count(*), count(DISTINCT repo_id) FROM github.repository_snapshots"
            " GROUP BY 1 ORDER BY 1"
        )
        snapshots = cur.fetchall()
        cur.execute(
            "SELECT run_id, enriched, (observed_at AT TIME ZONE 'UTC')::date FROM github.load_runs ORDER BY run_id"
        )
        runs = cur.fetchall()
    return {"repositories": repositories, "snapshots": snapshots, "runs": runs}
