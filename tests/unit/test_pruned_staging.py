"""A run whose staged files are gone (a retention rule, a clean-up) and whose transform or load is cleared later.

Clearing those tasks reads the files again; the error says they are gone and what brings the run back, on a
local folder and on S3, and clearing the run's plan with it fetches and loads the run again.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from unittest import mock

import pytest

from github_etl.errors import StagedFileGoneError
from github_etl.extract.plan import plan_run, run_shard
from github_etl.github.client import GitHubClient
from github_etl.params import validate
from github_etl.settings import DAG_ID, WAREHOUSE_CONN_ID
from github_etl.staging import RunStaging
from github_etl.tasks import load_run_task, transform_shard
from tests.in_process import FAST, run_pipeline, task_context

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
RUN_ID = "scheduled__2026-11-01T00:00:00+00:00"


def _prune(staging: RunStaging) -> None:
    """What a retention rule does to a run: every file under its folder goes."""
    staging.base.fs.rm(staging.base.path, recursive=True)


def test_clearing_transform_or_load_of_a_pruned_run_says_the_files_are_gone_and_what_to_clear(
    fake_github, staging_url: str
) -> None:
    staging = RunStaging(DAG_ID, RUN_ID, root=staging_url)
    client = GitHubClient(fake_github.base_url, ["test-token-0123456789"], settings=FAST)
    try:
        plan = plan_run(client, staging, validate({"sample_size": 5, "shards": 1}), logical_date=LOGICAL_DATE)
        extracted = run_shard(client, staging, plan.shards[0])
    finally:
        client.close()
    transformed = transform_shard(staging, extracted)
    _prune(staging)

    with pytest.raises(StagedFileGoneError) as transform_error:
        transform_shard(staging, extracted)
    assert RUN_ID in str(transform_error.value)
    assert "clear the run's plan task with its downstream tasks" in str(transform_error.value)

    context = task_context(RUN_ID, LOGICAL_DATE)
    with (
        mock.patch.dict(os.environ, {"GITHUB_ETL_STAGING_URL": staging_url}),
        pytest.raises(StagedFileGoneError) as load_error,
    ):
        load_run_task(context, [transformed], warehouse_conn_id=WAREHOUSE_CONN_ID)
    message = str(load_error.value)
    assert "plan.json" in message and RUN_ID in message
    assert "clear the run's plan task with its downstream tasks" in message


def test_the_whole_run_cleared_after_its_files_were_pruned_plans_fetches_and_loads_again(
    fake_github, pg_url: str, tmp_path
) -> None:
    staging_url = (tmp_path / "staging").as_uri()
    params = {"sample_size": 5, "shards": 2}
    run = {"pg_url": pg_url, "staging_url": staging_url, "run_id": RUN_ID, "logical_date": LOGICAL_DATE}
    first = run_pipeline(fake_github.base_url, "test-token-0123456789", params, **run)
    requests_before = len(fake_github.requests)
    _prune(RunStaging(DAG_ID, RUN_ID, root=staging_url))

    again = run_pipeline(fake_github.base_url, "test-token-0123456789", params, **run)

    # Nothing staged to reuse: the run spent its requests again and loaded the same sample.
    assert len(fake_github.requests) - requests_before == first.totals.api_requests
    assert again.totals.rows == first.totals.rows == 5
    assert again.result.inserted == 0


def test_a_run_that_lost_one_raw_batch_loads_again_by_doing_what_the_error_says(
    fake_github, staging_url: str, pg_url: str
) -> None:
    """Part of a run's files gone (a file deleted by hand, an expiry over two days): clearing ``plan`` alone would
    find the shard's summary still staged, skip its extract and fail the transform again on the same missing file.
    The error names the run's folder, whose remains go first."""
    params = {"sample_size": 8, "shards": 2}
    run = {"pg_url": pg_url, "staging_url": staging_url, "run_id": RUN_ID, "logical_date": LOGICAL_DATE}
    first = run_pipeline(fake_github.base_url, "test-token-0123456789", params, **run)
    staging = RunStaging(DAG_ID, RUN_ID, root=staging_url)
    lost = staging.path("raw", "sample-000", "repos-000000.json.gz")
    assert lost.exists(), "the shard staged no batch: nothing was tested"
    lost.fs.rm_file(lost.path)

    with pytest.raises(StagedFileGoneError) as cleared_plan:
        # What clearing plan with its downstream tasks does when the remains are kept: the same failure.
        run_pipeline(fake_github.base_url, "test-token-0123456789", params, **run)
    message = str(cleared_plan.value)
    folder = re.search(r"delete what is left of the run's folder (\S+) ", message)
    assert folder, message
    # What the store's own tools take: a local path, or s3://bucket/... without the connection id.
    assert folder.group(1) == (staging.base.path if staging_url.startswith("file:") else f"s3://{staging.base.path}")
    requests_before = len(fake_github.requests)
    staging.base.fs.rm(folder.group(1), recursive=True)

    again = run_pipeline(fake_github.base_url, "test-token-0123456789", params, **run)

    assert len(fake_github.requests) - requests_before == again.totals.api_requests > 0
    assert again.totals.rows == first.totals.rows == 8
    assert again.result.inserted == 0
