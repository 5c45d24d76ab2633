"""The planning operator defers on long rate-limit waits instead of holding a worker slot, then plans."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from github_etl.operators.plan import GitHubPlanOperator
from github_etl.staging import RunStaging
from tests.fake_github import FakeGitHub

LOGICAL_DATE = datetime(2026, 3, 1, tzinfo=UTC)
PARAMS = {"mode": "sample", "sample_size": 40, "shards": 2}


@pytest.fixture
def operator(tmp_path, github_connection_to_fake: FakeGitHub, warehouse, pg_url, monkeypatch) -> GitHubPlanOperator:
    # The warehouse prepare applied the schema to: plan reads which GitHub it holds.
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        return GitHubPlanOperator(task_id="plan", run_params=PARAMS, staging_root=tmp_path.as_uri())


def test_a_long_wait_while_planning_defers_until_the_reset_then_plans(operator, fake_github, tmp_path) -> None:
    context = {"run_id": "r1", "logical_date": LOGICAL_DATE}
    fake_github.faults.exhaust("core", 600)

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)

    assert 590 < deferred.value.trigger.moment.timestamp() - time.time() < 610
    assert deferred.value.method_name == "execute_complete"
    assert not RunStaging("github_repositories", "r1", root=tmp_path.as_uri()).exists("plan.json")
    fake_github.faults.clear()
    shards = operator.execute_complete(context, event=None)
    assert [shard["mode"] for shard in shards] == ["sample", "sample"]
    assert sum(shard["quota"] for shard in shards) == 40
    # The plan is staged once: planning again (a retry) reuses it without asking GitHub.
    fake_github.reset_log()
    assert operator.execute(context) == shards
    assert fake_github.requests == []


def test_bad_credentials_fail_the_plan_without_retries(operator, fake_github: FakeGitHub) -> None:
    fake_github.faults.bad_credentials = True
    with pytest.raises(AirflowFailException, match="rejected the token of connection 'github_default'"):
        operator.execute({"run_id": "r2", "logical_date": LOGICAL_DATE})


def test_a_budget_store_refusing_its_password_fails_the_plan_before_any_github_request(
    operator, fake_github: FakeGitHub, monkeypatch
) -> None:
    import redis

    configured = os.environ.get("GITHUB_ETL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(configured, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.skip("no Redis to refuse the password: set GITHUB_ETL_TEST_REDIS_URL")
    redis_url = urlsplit(configured)
    monkeypatch.setenv(
        "GITHUB_ETL_RATE_LIMIT_STORE", f"redis://nobody:s3cret-pass@{redis_url.hostname}:{redis_url.port or 6379}/0"
    )

    with pytest.raises(AirflowFailException, match="GITHUB_ETL_RATE_LIMIT_STORE") as failed:
        operator.execute({"run_id": "r3", "logical_date": LOGICAL_DATE})

    assert "s3cret-pass" not in str(failed.value)
    assert fake_github.requests == []


def test_a_run_id_given_again_with_other_params_is_refused_rather_than_loading_the_old_runs_plan(
    operator, fake_github, tmp_path
) -> None:
    """Once Airflow's metadata database was reset or cleaned, a backfill of dates backfilled before (or the scheduled
    run of a time that had run) gets the id of the run before it, whose plan is still staged: asked for a census,
    it would have loaded that run's sample."""
    context = {"run_id": "manual__2026-03-01T00:00:00+00:00", "logical_date": LOGICAL_DATE}
    operator.execute(context)
    with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        census = GitHubPlanOperator(
            task_id="plan", run_params={"mode": "census", "shards": 2}, staging_root=tmp_path.as_uri()
        )

    with pytest.raises(AirflowFailException) as refused:
        census.execute(context)

    message = str(refused.value)
    assert "mode 'sample' there, 'census' now" in message
    assert f"delete what is left of the run's folder {tmp_path}/dag_id=github_repositories/" in message
    # The same params plan from the staged plan, as a retried or cleared plan does.
    fake_github.reset_log()
    assert [shard["mode"] for shard in operator.execute(context)] == ["sample", "sample"]
    assert fake_github.requests == []


def test_a_staging_url_this_worker_cannot_use_fails_at_once(github_connection_to_fake: FakeGitHub, monkeypatch) -> None:
    """prepare checked the setting in its own worker's environment; another worker's is read here."""
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", "relative/staging")
    with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        operator = GitHubPlanOperator(task_id="plan", run_params=PARAMS)

    with pytest.raises(AirflowFailException, match="GITHUB_ETL_STAGING_URL"):
        operator.execute({"run_id": "manual__2026-11-01T00:00:00+00:00", "logical_date": LOGICAL_DATE})
