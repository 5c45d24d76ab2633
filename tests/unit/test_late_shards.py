"""A run's shards fetched days apart: its extract cleared, or the DAG unpaused, long after the run began.

A run's observations are stored under its earliest shard's start (docs/history.md), so a shard fetched later than
a run may take (``GITHUB_ETL_RUN_DEADLINE_HOURS``) would store that day's counts as the first day's, behind the runs
loaded meanwhile. These tests stage a run's shards on days two weeks apart, with the fake GitHub and a real
PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from github_etl.errors import StaleShardError
from github_etl.extract.plan import RunPlan, plan_run, run_shard
from github_etl.extract.shards import DONE_FILE, ShardRecorder
from github_etl.github.client import GitHubClient
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from github_etl.params import validate
from github_etl.settings import DAG_ID
from github_etl.staging import RunStaging, storage_path
from github_etl.tasks import TransformResult, transform_shard
from tests.in_process import FAST, load_staged, query, stage_run

TOKEN = "test-token-0123456789"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
RUN_ID = "scheduled__2026-11-01T00:00:00+00:00"
FIRST_DAY = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
EIGHT_DAYS_IN = datetime(2026, 11, 8, 6, 0, tzinfo=UTC)
TWO_WEEKS_LATER = datetime(2026, 11, 15, 6, 0, tzinfo=UTC)
PARAMS = {"sample_size": 8, "shards": 2}


def _at(when: datetime) -> Any:
    return mock.patch("github_etl.extract.shards.observation_clock", return_value=when)


def _fetch(fake_github: Any, staging: RunStaging, plan: RunPlan, index: int, when: datetime) -> TransformResult:
    client = GitHubClient(fake_github.base_url, [TOKEN], settings=FAST)
    try:
        with _at(when):
            return transform_shard(staging, run_shard(client, staging, plan.shards[index], plan_id=plan.plan_id))
    finally:
        client.close()


def _plan(fake_github: Any, staging: RunStaging, pg_url: str) -> RunPlan:
    with DatabaseConnection(pg_url, connect_retries=0) as db:
        apply_schema(db)
    client = GitHubClient(fake_github.base_url, [TOKEN], settings=FAST)
    try:
        with _at(FIRST_DAY):
            return plan_run(client, staging, validate(PARAMS), logical_date=LOGICAL_DATE)
    finally:
        client.close()


def _ids(shard: TransformResult) -> list[int]:
    return sorted(int(line.split("\t", 1)[0]) for line in storage_path(shard.keys_uri).read_text().splitlines())


def test_a_shard_fetched_two_weeks_after_the_others_is_refused_then_loaded_under_its_day_once_they_are_fetched_again(
    fake_github: Any, pg_url: str, tmp_path: Path
) -> None:
    """Run A fetched shard 0 on day 1; shard 1 failed and was cleared on day 15; run B loaded the same
    repositories on day 8. Loaded as one run dated day 1, shard 1's counts (the newest the warehouse got) would be
    stored as day 1's and the row would keep day 8's. The load refuses, naming shard 0; fetched again, the run loads
    under day 15 and the row says what day 15 saw."""
    staging_url = (tmp_path / "staging").as_uri()
    staging = RunStaging(DAG_ID, RUN_ID, root=staging_url)
    plan = _plan(fake_github, staging, pg_url)
    first = _fetch(fake_github, staging, plan, 0, FIRST_DAY)

    run_b = "manual__2026-11-08T06:00:00+00:00"
    with _at(EIGHT_DAYS_IN):
        b = stage_run(
            fake_github.base_url, TOKEN, PARAMS, pg_url=pg_url, staging_url=staging_url, run_id=run_b,
            logical_date=LOGICAL_DATE,
        )  # fmt: skip
        load_staged(b, pg_url=pg_url, staging_url=staging_url, run_id=run_b, logical_date=LOGICAL_DATE)
    repo = _ids(b[1])[0]
    fake_github.universe.set_repository(repo, {"stargazers_count": 424242})

    late = _fetch(fake_github, staging, plan, 1, TWO_WEEKS_LATER)
    assert repo in _ids(late)
    loads_before = query(pg_url, "SELECT count(*) FROM github.load_runs")
    with pytest.raises(StaleShardError) as refused:
        load_staged([first, late], pg_url=pg_url, staging_url=staging_url, run_id=RUN_ID, logical_date=LOGICAL_DATE)
    message = str(refused.value)
    assert "2026-11-01 06:00 to 2026-11-15 06:00 UTC" in message
    assert f"[0] {plan.shards[0].key} (2026-11-01 06:00 UTC)" in message
    assert plan.shards[1].key not in message.split("map indexes", 1)[1]
    # As the store's own tools take it: a local path, not a file:// URI.
    assert f"({staging.base.path}/raw/<shard>/)" in message
    assert query(pg_url, "SELECT count(*) FROM github.load_runs") == loads_before
    assert query(pg_url, "SELECT stargazers_count FROM github.repositories WHERE id = %s", repo) == [(0,)]

    # As the message says: delete the earlier shard's folder and clear its extract with its downstream tasks.
    staging.path("raw", plan.shards[0].key).rmdir(recursive=True)
    again = _fetch(fake_github, staging, plan, 0, TWO_WEEKS_LATER + timedelta(minutes=5))
    load_staged([again, late], pg_url=pg_url, staging_url=staging_url, run_id=RUN_ID, logical_date=LOGICAL_DATE)

    assert query(pg_url, "SELECT stargazers_count, last_seen_at FROM github.repositories WHERE id = %s", repo) == [
        (424242, TWO_WEEKS_LATER)
    ]
    assert query(
        pg_url,
        "SELECT snapshot_date, stargazers_count FROM github.repository_snapshots WHERE repo_id = %s ORDER BY 1",
        repo,
    ) == [(EIGHT_DAYS_IN.date(), 0), (TWO_WEEKS_LATER.date(), 424242)]
    assert query(
        pg_url, "SELECT observed_at FROM github.load_runs WHERE dag_id = %s AND run_id = %s", DAG_ID, RUN_ID
    ) == [(TWO_WEEKS_LATER,)]


def test_shards_fetched_within_the_runs_deadline_load_as_one_observation(
    fake_github: Any, pg_url: str, tmp_path: Path
) -> None:
    """A run that crosses midnight, or whose shard was retried hours later, is one observation: its earliest
    shard's start, as before."""
    staging_url = (tmp_path / "staging").as_uri()
    staging = RunStaging(DAG_ID, RUN_ID, root=staging_url)
    plan = _plan(fake_github, staging, pg_url)
    first = _fetch(fake_github, staging, plan, 0, FIRST_DAY)
    late = _fetch(fake_github, staging, plan, 1, FIRST_DAY + timedelta(hours=23))

    load_staged([first, late], pg_url=pg_url, staging_url=staging_url, run_id=RUN_ID, logical_date=LOGICAL_DATE)

    assert query(pg_url, "SELECT DISTINCT snapshot_date FROM github.repository_snapshots") == [(FIRST_DAY.date(),)]


def test_a_shard_that_staged_nothing_starts_again_when_resumed_past_the_deadline(
    fake_github: Any, pg_url: str, tmp_path: Path
) -> None:
    """Its extract failed before its first page (GitHub down, retries spent) and was cleared days later: nothing
    was fetched then, so it is dated by when it fetches."""
    staging = RunStaging(DAG_ID, RUN_ID, root=(tmp_path / "staging").as_uri())
    plan = _plan(fake_github, staging, pg_url)
    client = GitHubClient(fake_github.base_url, [TOKEN], settings=FAST)
    try:
        with _at(FIRST_DAY):
            ShardRecorder(staging, plan.shards[1], client, plan_id=plan.plan_id)  # stages its start, then fails
    finally:
        client.close()

    late = _fetch(fake_github, staging, plan, 1, TWO_WEEKS_LATER)

    assert datetime.fromisoformat(late.extracted.observed_at) == TWO_WEEKS_LATER
    assert late.rows > 0


def test_a_shard_with_pages_staged_resumes_within_the_deadline_and_is_refused_past_it(
    fake_github: Any, pg_url: str, tmp_path: Path
) -> None:
    """Its extract failed part-way: a retry hours later resumes from its pages under its first start; days later,
    resuming would date what it fetches then by that start, so it is refused, naming its folder."""
    staging = RunStaging(DAG_ID, RUN_ID, root=(tmp_path / "staging").as_uri())
    plan = _plan(fake_github, staging, pg_url)
    key = plan.shards[0].key
    _fetch(fake_github, staging, plan, 0, FIRST_DAY)
    staging.path("raw", key, DONE_FILE).unlink()  # as if it had failed after its last page

    resumed = _fetch(fake_github, staging, plan, 0, FIRST_DAY + timedelta(hours=3))
    assert datetime.fromisoformat(resumed.extracted.observed_at) == FIRST_DAY
    staging.path("raw", key, DONE_FILE).unlink()

    with pytest.raises(StaleShardError, match=f"Shard {key} began fetching at 2026-11-01 06:00 UTC") as refused:
        _fetch(fake_github, staging, plan, 0, TWO_WEEKS_LATER)
    assert f"delete {staging.base.path}/raw/{key}/ and" in str(refused.value)


def test_a_finished_shard_cleared_days_later_is_read_back_not_refused(
    fake_github: Any, pg_url: str, tmp_path: Path
) -> None:
    """A cleared run loads what it fetched then, under the dates it fetched it (docs/backfill.md)."""
    staging = RunStaging(DAG_ID, RUN_ID, root=(tmp_path / "staging").as_uri())
    plan = _plan(fake_github, staging, pg_url)
    _fetch(fake_github, staging, plan, 0, FIRST_DAY)

    cleared = _fetch(fake_github, staging, plan, 0, TWO_WEEKS_LATER)

    assert datetime.fromisoformat(cleared.extracted.observed_at) == FIRST_DAY
