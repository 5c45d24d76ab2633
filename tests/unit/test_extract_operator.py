"""The extraction operator defers on long rate-limit waits instead of holding a worker slot, then resumes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowFailException, TaskDeferralError, TaskDeferred

from github_etl.extract.shards import ExtractResult, batch_uris
from github_etl.operators.deferral import MIN_TRIGGERER_GRACE
from github_etl.operators.extract import GitHubExtractShardOperator
from github_etl.staging import RunStaging
from tests.fake_github import FakeGitHub

SHARD = {
    "key": "sample-000",
    "mode": "sample",
    "id_low": 0,
    "id_high": 1_100_000_000,
    "quota": 20,
    "seed": "x",
    "per_page_take": 100,
}


@pytest.fixture
def operator(tmp_path, github_connection_to_fake: FakeGitHub) -> GitHubExtractShardOperator:
    with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        return GitHubExtractShardOperator(
            task_id="extract", shard=_planned(SHARD, github_connection_to_fake), staging_root=tmp_path.as_uri()
        )


def _planned(shard: dict, fake: FakeGitHub) -> dict:
    """An extract task's input as the plan hands it: the shard, its plan (none here) and the plan's GitHub."""
    return {**shard, "plan": "", "github": fake.base_url}


def test_a_long_wait_defers_until_the_reset_and_resumes(operator, fake_github: FakeGitHub, tmp_path) -> None:
    fake_github.faults.exhaust("graphql", 600)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"run_id": "r1"})
    moment = deferred.value.trigger.moment
    assert 590 < moment.timestamp() - time.time() < 610
    assert deferred.value.method_name == "execute_complete"
    # The listing already done is a checkpoint: resuming after the reset does not fetch it again.
    fake_github.faults.clear()
    fake_github.reset_log()
    summary = operator.execute_complete({"run_id": "r1"}, event=None)
    assert summary["enriched"] == 20
    assert fake_github.count(path_prefix="/repositories") == 0
    assert RunStaging("github_repositories", "r1", root=tmp_path.as_uri()).exists("raw", "sample-000", "done.json")


def test_bad_credentials_fail_without_retries(operator, fake_github: FakeGitHub) -> None:
    fake_github.faults.bad_credentials = True
    with pytest.raises(AirflowFailException, match="rejected the token of connection 'github_default'"):
        operator.execute({"run_id": "r2"})


def test_overlapping_listing_pages_never_pick_a_repository_twice(
    github_connection_to_fake: FakeGitHub, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from github_etl.extract import distinct_ids
    from github_etl.staging import read_json_uri

    # Fold the picks into the compact array every few pages, so the check runs across many folds.
    monkeypatch.setattr(distinct_ids, "MIN_RECENT", 16)
    monkeypatch.setattr(distinct_ids, "RECENT_SHARE", 2)
    window = github_connection_to_fake.ids[:200]
    # Three quarters of the repositories in a narrow id range, a few per page: nearly every random
    # page overlaps pages listed before it.
    shard = _planned(
        {**SHARD, "id_high": window[-1], "quota": 150, "per_page_take": 7, "seed": "dense"}, github_connection_to_fake
    )
    with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        operator = GitHubExtractShardOperator(task_id="extract", shard=shard, staging_root=tmp_path.as_uri())

    summary = operator.execute({"run_id": "dense"})

    picked = []
    staging = RunStaging("github_repositories", "dense", root=tmp_path.as_uri())
    for batch_uri in batch_uris(staging, ExtractResult.from_xcom(summary)):
        batch = read_json_uri(batch_uri)
        picked += [int(item["databaseId"]) for item in batch["items"]] + [int(i) for i in batch.get("gone", [])]
    assert summary["enriched"] == 150
    assert len(picked) == len(set(picked)) >= 150
    assert set(picked) <= set(window)


def test_a_task_resuming_from_deferral_logs_in_as_the_app_anew(
    fake_github_factory, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installation token of before the wait is nowhere to reuse: not in the trigger, not in the resumed task."""
    import json

    from tests.fake_github.apps import generate_app_key

    private_key, public_key = generate_app_key()
    fake = fake_github_factory(repo_count=300, seed=7, apps={1: public_key}, installations={2: 1})
    extra = {"app_id": 1, "installation_id": 2, "private_key": private_key}
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": fake.base_url, "extra": extra})
    )
    monkeypatch.setenv("GITHUB_ETL_MAX_RATE_LIMIT_WAIT", "1")
    with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        operator = GitHubExtractShardOperator(
            task_id="extract", shard=_planned(SHARD, fake), staging_root=tmp_path.as_uri()
        )
    fake.faults.exhaust("graphql", 600)

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"run_id": "app"})
    (before,) = fake.apps.issued_tokens()
    assert before not in repr(deferred.value.trigger.serialize())

    fake.faults.clear()
    fake.reset_log()
    assert operator.execute_complete({"run_id": "app"}, event=None)["enriched"] == 20

    assert fake.requests[0].path == "/app/installations/2/access_tokens"
    (after,) = set(fake.apps.issued_tokens()) - {before}
    assert {r.token_fingerprint for r in fake.requests[1:]} == {FakeGitHub.fingerprint(after)}


def test_a_deferral_after_a_secondary_limit_says_so_and_until_when(
    operator, fake_github: FakeGitHub, capsys, caplog
) -> None:
    fake_github.faults.secondary_limit_next = 1
    fake_github.faults.retry_after_s = 600
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"run_id": "r3"})
    # The operator's own lines go through Airflow's task logger, which prints them.
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "deferring" in line]
    assert (
        f"GitHub's secondary rate limit pauses the token until {deferred.value.trigger.moment.isoformat()}; "
        "deferring: the triggerer waits, and the task resumes then"
    ) in line
    (progress,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Shard sample-000: 0 of about")]
    assert "paused until " in progress and "(secondary rate limit)" in progress


def test_a_wait_the_scheduler_ends_on_its_timeout_goes_on_as_after_the_reset(
    operator, fake_github: FakeGitHub, capsys
) -> None:
    """Without a triggerer, Airflow's scheduler resumes a deferred task once the deferral's timeout passed."""
    fake_github.faults.exhaust("graphql", 600)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"run_id": "r4"})
    # Past the reset by the grace: GITHUB_ETL_MAX_RATE_LIMIT_WAIT is 1 s here, below the least grace.
    past_reset = deferred.value.timeout - (deferred.value.trigger.moment - datetime.now(UTC))
    assert abs(past_reset - MIN_TRIGGERER_GRACE).total_seconds() < 5
    fake_github.faults.clear()

    summary = operator.resume_execution(
        TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {"run_id": "r4"}
    )

    assert summary["enriched"] == 20
    assert "No triggerer ended this task's wait for GitHub's reset" in capsys.readouterr().out


def test_a_trigger_that_failed_fails_the_task_as_airflow_has_it(operator) -> None:
    with pytest.raises(TaskDeferralError):
        operator.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_FAILURE}, {"run_id": "r5"})


@pytest.mark.parametrize("staging_url", ["relative/staging", "s3://AKIAEXAMPLE:secretkey@bucket/prefix", "gs://bucket"])
def test_a_staging_url_this_worker_cannot_use_fails_at_once(
    github_connection_to_fake: FakeGitHub, monkeypatch, staging_url: str
) -> None:
    """prepare checked the setting in its own worker's environment; another worker's is read here."""
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", staging_url)
    with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        operator = GitHubExtractShardOperator(task_id="extract", shard=_planned(SHARD, github_connection_to_fake))

    with pytest.raises(AirflowFailException, match="GITHUB_ETL_STAGING_URL"):
        operator.execute({"run_id": "manual__2026-11-01T00:00:00+00:00"})
