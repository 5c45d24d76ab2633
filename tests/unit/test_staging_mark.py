"""A run's plan stages where its prepare task checked, or fails before asking GitHub anything.

A local staging folder is another folder on another machine: a KubernetesExecutor pod runs each task on a disk of
its own, so the plan's files never reached the extract, which failed only after the plan had spent its requests.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from github_etl.operators.plan import GitHubPlanOperator
from github_etl.staging_mark import MARK_FILE, staging_seen
from tests.fake_github import FakeGitHub

LOGICAL_DATE = datetime(2026, 3, 1, tzinfo=UTC)
PARAMS = {"mode": "sample", "sample_size": 40, "shards": 2}


@pytest.fixture
def plan_on(github_connection_to_fake: FakeGitHub, warehouse, pg_url, monkeypatch):
    """The plan task of a run whose prepare task handed on ``prepared``, on a worker staging to ``root``."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)

    def plan(root: str, prepared: dict[str, str], run_id: str = "r1") -> list[dict]:
        with DAG("github_repositories", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
            operator = GitHubPlanOperator(task_id="plan", run_params={**PARAMS, "staging": prepared}, staging_root=root)
        return operator.execute({"run_id": run_id, "logical_date": LOGICAL_DATE})

    return plan


def test_a_plan_on_a_machine_whose_folder_prepare_did_not_check_fails_before_any_request(
    plan_on, fake_github: FakeGitHub, tmp_path
) -> None:
    prepares_pod, plans_pod = tmp_path / "prepare-pod", tmp_path / "plan-pod"
    prepares_pod.mkdir()
    plans_pod.mkdir()
    prepared = staging_seen(prepares_pod.as_uri())
    # Each pod mounts its own disk at the same path: the plan's folder is empty.
    (prepares_pod / MARK_FILE).rename(plans_pod.parent / "elsewhere")

    with pytest.raises(AirflowFailException) as refused:
        plan_on(prepares_pod.as_uri(), prepared)

    message = str(refused.value)
    assert f"The staging folder {prepares_pod} on this worker is not the one the run's prepare task checked" in message
    assert "KubernetesExecutor" in message and "s3://bucket/prefix" in message
    assert "clear the run's prepare task with its downstream tasks" in message
    assert fake_github.requests == []
    assert not (prepares_pod / "dag_id=github_repositories").exists()


def test_an_absolute_folder_given_without_file_url_is_checked_too(plan_on, fake_github: FakeGitHub, tmp_path) -> None:
    """GITHUB_ETL_STAGING_URL=/srv/staging is a local folder as file:///srv/staging is: prepare leaves its mark, and
    a plan on a machine without it fails before any request."""
    prepares_pod = tmp_path / "pod"
    prepares_pod.mkdir()
    prepared = staging_seen(str(prepares_pod))
    assert (prepares_pod / MARK_FILE).exists()
    (prepares_pod / MARK_FILE).unlink()

    with pytest.raises(AirflowFailException, match="is not the one the run's prepare task checked"):
        plan_on(str(prepares_pod), prepared)
    assert fake_github.requests == []


def test_a_folder_holding_another_prepares_mark_is_refused_too(plan_on, fake_github: FakeGitHub, tmp_path) -> None:
    """A second Celery host that ran an earlier run's prepare has a mark of its own."""
    first_host, second_host = tmp_path / "a", tmp_path / "b"
    first_host.mkdir()
    second_host.mkdir()
    prepared = staging_seen(first_host.as_uri())
    staging_seen(second_host.as_uri())
    (first_host / MARK_FILE).unlink()
    (second_host / MARK_FILE).rename(first_host / MARK_FILE)

    with pytest.raises(AirflowFailException, match="is not the one the run's prepare task checked"):
        plan_on(first_host.as_uri(), prepared)
    assert fake_github.requests == []


def test_workers_staging_to_different_urls_fail_the_plan_naming_both(
    plan_on, fake_github: FakeGitHub, tmp_path
) -> None:
    prepared = staging_seen("s3://aws_default@bucket/github-etl")

    with pytest.raises(AirflowFailException) as refused:
        plan_on(tmp_path.as_uri(), prepared)

    message = str(refused.value)
    assert f"This worker stages to file://{tmp_path}, but the run's prepare task checked " in message
    assert "s3://aws_default@bucket/github-etl" in message and "GITHUB_ETL_STAGING_URL differ" in message
    assert fake_github.requests == []


def test_a_shared_folder_keeps_one_mark_and_plans(plan_on, fake_github: FakeGitHub, tmp_path) -> None:
    first = staging_seen(tmp_path.as_uri())
    # Every later run's prepare finds the same mark, so a run cleared from plan after its folder was deleted plans.
    assert staging_seen(tmp_path.as_uri()) == first == {"root": f"file://{tmp_path}", "mark": first["mark"]}

    shards = plan_on(tmp_path.as_uri(), first)

    assert [shard["mode"] for shard in shards] == ["sample", "sample"]
    assert fake_github.requests != []


def test_prepares_starting_together_leave_one_mark(tmp_path) -> None:
    seen: list[dict[str, str]] = []
    start = threading.Barrier(8)

    def prepare() -> None:
        start.wait()
        seen.append(staging_seen(tmp_path.as_uri()))

    threads = [threading.Thread(target=prepare) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({marked["mark"] for marked in seen}) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == [MARK_FILE]
