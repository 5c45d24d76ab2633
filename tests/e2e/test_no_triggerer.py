"""An Airflow that runs no triggerer still finishes a run whose task waited out a GitHub rate limit.

A task that waits longer than ``GITHUB_ETL_MAX_RATE_LIMIT_WAIT`` defers to the triggerer. Where none runs (never
started, or a Cloud Composer environment with a triggerer count of 0), the task would stay deferred for ever; the
deferral's timeout, a little past GitHub's reset, has the scheduler resume it instead, and it goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest

from github_etl.operators.deferral import MIN_TRIGGERER_GRACE
from github_etl.settings import DAG_ID
from tests.browser.airflow_server import AirflowApi, LocalAirflow
from tests.fake_github import FakeGitHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

USERNAME = "admin"
SAMPLE = {"mode": "sample", "sample_size": 6, "shards": 1}
RETRY_AFTER_SECONDS = 3
# One small run that waits about half a minute, its task processes starting on a busy two-core machine.
RUN_TIMEOUT_SECONDS = 360.0


@pytest.fixture
def airflow(local_airflow, fake_github: FakeGitHub, tmp_path: Path) -> Iterator[LocalAirflow]:
    github = {"conn_type": "http", "host": fake_github.base_url, "password": "ghp_no_triggerer_0123456789"}
    server = local_airflow(
        triggerer=False,
        AIRFLOW_CONN_GITHUB_DEFAULT=json.dumps(github),
        # Any rate-limit wait over a second defers.
        GITHUB_ETL_MAX_RATE_LIMIT_WAIT="1",
        # The scheduler looks for deferrals past their timeout every second instead of every 15.
        AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL="1",
    )
    with server.serving(DAG_ID, logs_to=tmp_path / "airflow-logs") as serving:
        yield serving


def test_a_task_deferred_on_a_rate_limit_is_resumed_by_the_scheduler_and_the_run_loads(
    airflow: LocalAirflow, fake_github: FakeGitHub, pg_url: str
) -> None:
    api = AirflowApi(airflow, USERNAME)
    api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}, params={"update_mask": "is_paused"})
    # The run's first request to GitHub is paused for a few seconds: longer than a task may wait in its slot.
    fake_github.faults.update({"secondary_limit_next": 1, "retry_after_s": RETRY_AFTER_SECONDS})
    run_id = api.call("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": SAMPLE})["dag_run_id"]
    run_path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"

    airflow.poll(
        lambda: api.call("GET", run_path)["state"] in {"success", "failed"},
        timeout=RUN_TIMEOUT_SECONDS,
        what="the run to end",
    )

    assert api.call("GET", run_path)["state"] == "success"
    (limited,) = [r for r in fake_github.requests if r.fault == "secondary_limit"]
    # Nothing asked GitHub again until the deferral's timeout, past Retry-After by the grace, had passed.
    resumed = min(r.received_at for r in fake_github.requests if r.received_at > limited.at)
    assert resumed - limited.at >= RETRY_AFTER_SECONDS + MIN_TRIGGERER_GRACE.total_seconds()
    logs = "".join(
        path.read_text() for path in (airflow.home / "logs").rglob("*.log") if f"run_id={run_id}" in str(path)
    )
    assert "No triggerer ended this task's wait for GitHub's reset" in logs
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM github.repositories")
        assert cur.fetchone() == (SAMPLE["sample_size"],)
