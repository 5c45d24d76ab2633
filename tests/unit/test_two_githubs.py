"""Two GitHubs (github.com and a GitHub Enterprise Server) pointed at one warehouse: the same id names different
repositories on each, so a run of the other GitHub is refused, naming the fix, before it writes or asks anything."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import psycopg2
import pytest

from github_etl.errors import ConfigurationError
from github_etl.extract.plan import plan_run, run_shard
from github_etl.github.client import GitHubClient
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from github_etl.load.source import OtherGitHubError, same_github
from github_etl.params import validate
from github_etl.settings import WAREHOUSE_CONN_ID
from github_etl.staging import RunStaging
from github_etl.tasks import load_run_task, transform_shard
from tests.fake_github import FakeGitHub
from tests.in_process import DAG_ID, FAST, query, run_pipeline, task_context, warehouse_rows

TOKEN = "ghp_two_githubs_token_0001"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
SAMPLE = {"mode": "sample", "sample_size": 40, "shards": 2}


@pytest.fixture
def two_githubs(fake_github_factory) -> tuple[FakeGitHub, FakeGitHub]:
    """github.com and a GHES whose ids overlap: both number their repositories from 1."""
    dotcom = fake_github_factory(repo_count=200, max_id=200, seed=61, vanished_ratio=0.0)
    ghes = fake_github_factory(repo_count=200, max_id=200, seed=62, vanished_ratio=0.0, enterprise_version="3.9.0")
    same_ids = set(dotcom.ids[:-1]) & set(ghes.ids[:-1])
    assert same_ids, "the two GitHubs share no id: nothing would collide"
    return dotcom, ghes


def _run(fake: FakeGitHub, params: dict[str, Any], pg_url: str, tmp_path, run_id: str, day: int = 0) -> Any:
    return run_pipeline(
        fake.base_url,
        TOKEN,
        params,
        pg_url=pg_url,
        staging_url=(tmp_path / "staging").as_uri(),
        run_id=run_id,
        logical_date=LOGICAL_DATE + timedelta(days=day),
    )


@pytest.mark.parametrize(
    "params",
    [SAMPLE, {"mode": "refresh", "shards": 2}, {"mode": "census", "shards": 2}],
    ids=["sample", "refresh", "census"],
)
def test_a_run_of_another_github_is_refused_before_any_request_and_changes_nothing(
    two_githubs, pg_url: str, tmp_path, params: dict[str, Any]
) -> None:
    dotcom, ghes = two_githubs
    _run(dotcom, {"mode": "census", "since_id": 0, "until_id": 200, "shards": 2}, pg_url, tmp_path, "dotcom")
    stored = warehouse_rows(pg_url)
    assert len(stored) == 200
    ghes.reset_log()

    with pytest.raises(OtherGitHubError) as refused:
        _run(ghes, params, pg_url, tmp_path, "ghes", day=1)

    message = str(refused.value)
    assert f"holds the repositories of the GitHub at {dotcom.base_url} (recorded by run dotcom of {DAG_ID})" in message
    assert f"this run harvests the GitHub at {ghes.base_url}" in message
    assert "docs/github-enterprise.md#two-githubs-two-warehouses" in message
    # A final error: the task fails without spending its retries on it.
    assert isinstance(refused.value, ConfigurationError)
    assert ghes.requests == []
    assert warehouse_rows(pg_url) == stored
    assert query(pg_url, "SELECT run_id FROM github.load_runs") == [("dotcom",)]
    assert query(pg_url, "SELECT since_id, cursor_id FROM github.census_cursor") == [(0, 200)]


def test_the_first_load_records_its_github_and_a_run_of_it_again_loads(two_githubs, pg_url: str, tmp_path) -> None:
    dotcom, _ = two_githubs
    _run(dotcom, SAMPLE, pg_url, tmp_path, "first")
    assert query(pg_url, "SELECT api_url, run_id FROM github.source") == [(dotcom.base_url, "first")]

    loaded = _run(dotcom, {"mode": "refresh", "shards": 2}, pg_url, tmp_path, "again", day=1)

    assert loaded.result.updated == 40
    assert query(pg_url, "SELECT api_url, run_id FROM github.source") == [(dotcom.base_url, "first")]


def test_a_load_planned_on_an_empty_warehouse_is_refused_once_another_githubs_load_committed(
    two_githubs, pg_url: str, tmp_path
) -> None:
    """Two first runs at once, one per GitHub: both plans find no GitHub recorded; the second load refuses."""
    dotcom, ghes = two_githubs
    staging_url = (tmp_path / "staging").as_uri()
    staging = RunStaging(DAG_ID, "ghes", root=staging_url)
    client = GitHubClient(ghes.base_url, [TOKEN], settings=FAST)

    def warehouse() -> DatabaseConnection:
        return DatabaseConnection(pg_url, connect_retries=0)

    with warehouse() as db:
        apply_schema(db)
    # The GHES run plans and fetches before the github.com run's load commits.
    plan = plan_run(client, staging, validate(SAMPLE), logical_date=LOGICAL_DATE, warehouse=warehouse)
    transformed = [
        transform_shard(staging, run_shard(client, staging, shard, plan_id=plan.plan_id)) for shard in plan.shards
    ]
    client.close()
    _run(dotcom, {"mode": "census", "since_id": 0, "until_id": 200, "shards": 2}, pg_url, tmp_path, "dotcom")
    stored = warehouse_rows(pg_url)

    with (
        mock.patch.dict(os.environ, {"GITHUB_ETL_STAGING_URL": staging_url}),
        mock.patch("github_etl.hooks.warehouse.DatabaseConnection", side_effect=lambda *a, **k: warehouse()),
        pytest.raises(OtherGitHubError, match=f"harvests the GitHub at {ghes.base_url}"),
    ):
        load_run_task(task_context("ghes", LOGICAL_DATE), transformed, warehouse_conn_id=WAREHOUSE_CONN_ID)

    assert warehouse_rows(pg_url) == stored
    assert query(pg_url, "SELECT run_id FROM github.load_runs") == [("dotcom",)]


def test_the_same_github_at_a_new_address_loads_once_the_warehouse_records_it(
    two_githubs, pg_url: str, tmp_path
) -> None:
    """The message's UPDATE is the way on when both addresses name one GitHub (a proxy, a renamed host)."""
    dotcom, ghes = two_githubs
    _run(dotcom, SAMPLE, pg_url, tmp_path, "dotcom")
    with pytest.raises(OtherGitHubError) as refused:
        _run(ghes, SAMPLE, pg_url, tmp_path, "ghes", day=1)
    update = str(refused.value).rsplit(": ", 1)[1]
    assert update == f"UPDATE github.source SET api_url = '{ghes.base_url}'"
    with psycopg2.connect(pg_url) as connection, connection.cursor() as cursor:
        cursor.execute(update)

    assert _run(ghes, SAMPLE, pg_url, tmp_path, "ghes", day=1).result.total == 40


def test_a_staged_plan_is_not_reused_for_another_github(two_githubs, tmp_path) -> None:
    """A connection changed between a run's plan and its retry: the pages staged came from the other GitHub."""
    dotcom, ghes = two_githubs
    staging = RunStaging(DAG_ID, "r", root=tmp_path.as_uri())
    params = validate(SAMPLE)
    first = GitHubClient(dotcom.base_url, [TOKEN], settings=FAST)
    retried = GitHubClient(ghes.base_url, [TOKEN], settings=FAST)
    try:
        plan_run(first, staging, params, logical_date=LOGICAL_DATE)
        with pytest.raises(ConfigurationError, match=f"planned against the GitHub at {dotcom.base_url}"):
            plan_run(retried, staging, params, logical_date=LOGICAL_DATE)
    finally:
        first.close()
        retried.close()
    assert ghes.requests == []


def test_an_extract_whose_connection_changed_since_the_plan_fails_before_any_request(
    two_githubs, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An extract cleared or retried after the connection was edited would stage the other GitHub's pages as the
    plan's shard, and the load would record them under the planned GitHub's ids."""
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowFailException

    from github_etl.extract.plan import extract_inputs
    from github_etl.operators.extract import GitHubExtractShardOperator

    dotcom, ghes = two_githubs
    root = tmp_path.as_uri()
    planner = GitHubClient(dotcom.base_url, [TOKEN], settings=FAST)
    try:
        plan = plan_run(planner, RunStaging(DAG_ID, "r", root=root), validate(SAMPLE), logical_date=LOGICAL_DATE)
    finally:
        planner.close()
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": ghes.base_url, "password": TOKEN})
    )
    with DAG(DAG_ID, schedule=None, start_date=LOGICAL_DATE):
        extract = GitHubExtractShardOperator(task_id="extract", shard=extract_inputs(plan)[0], staging_root=root)

    with pytest.raises(AirflowFailException, match=f"planned against the GitHub at {dotcom.base_url}"):
        extract.execute({"run_id": "r"})
    assert ghes.requests == []
    assert not RunStaging(DAG_ID, "r", root=root).exists("raw")


@pytest.mark.parametrize(
    ("recorded", "harvested", "same"),
    [
        ("https://api.github.com", "https://api.github.com/", True),
        ("https://ghe.corp/api/v3", "https://GHE.corp:443/api/v3", True),
        ("http://ghe.corp/api/v3", "https://ghe.corp/api/v3", True),
        ("https://api.github.com", "https://ghe.corp/api/v3", False),
        ("https://api.github.com", "https://api.corp.ghe.com", False),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8766", False),
        ("https://ghe.corp:8443/api/v3", "https://ghe.corp/api/v3", False),
    ],
)
def test_same_github_compares_api_roots_as_github_reads_them(recorded: str, harvested: str, same: bool) -> None:
    assert same_github(recorded, harvested) is same
