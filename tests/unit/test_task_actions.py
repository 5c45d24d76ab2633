"""What Airflow's task-instance actions (Mark Success, Mark Failed, Clear, Skip) hand the tasks after them.

Airflow expands ``transform`` over the extract instances that returned a result, in map-index order, and hands
``load`` the results of the transform instances that returned one: an extract or transform marked success or
skipped without running hands on nothing, so the load receives fewer shards than the run planned. A ``load``
marked success without running returns nothing, so ``check`` and ``report`` receive None. Each case is driven
here through the operators and task functions with exactly what Airflow then hands them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from github_etl.errors import IncompleteRunError
from github_etl.extract.shards import ExtractResult
from github_etl.operators.extract import GitHubExtractShardOperator
from github_etl.operators.plan import GitHubPlanOperator
from github_etl.operators.warehouse import GitHubCheckOperator, GitHubLoadOperator
from github_etl.settings import DAG_ID, WAREHOUSE_CONN_ID
from github_etl.staging import RunStaging
from github_etl.tasks import LoadedRun, report_task, transform_shard
from tests.fake_github import FakeGitHub
from tests.in_process import query, task_context

DAY = datetime(2026, 11, 1, tzinfo=UTC)
RUN = "manual__2026-11-01T00:00:00+00:00"


class Run:
    """One DAG run's tasks, each handed what Airflow would hand it."""

    def __init__(self, staging_url: str) -> None:
        self.staging_url = staging_url
        self.context = task_context(RUN, DAY)

    def _dag(self) -> DAG:
        return DAG(DAG_ID, schedule=None, start_date=DAY)

    def plan(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._dag():
            operator = GitHubPlanOperator(task_id="plan", run_params=params, staging_root=self.staging_url)
        return operator.execute(self.context)

    def extract(self, shard: dict[str, Any]) -> dict[str, Any]:
        with self._dag():
            operator = GitHubExtractShardOperator(task_id="extract", shard=shard, staging_root=self.staging_url)
        return operator.execute(self.context)

    def transform(self, extracted: dict[str, Any]) -> dict[str, Any]:
        staging = RunStaging(DAG_ID, RUN, root=self.staging_url)
        return transform_shard(staging, ExtractResult.from_xcom(extracted)).to_xcom()

    def load(self, transformed: list[dict[str, Any]]) -> dict[str, Any]:
        with self._dag():
            operator = GitHubLoadOperator(task_id="load", transformed=transformed)
        with mock.patch.dict(os.environ, {"GITHUB_ETL_STAGING_URL": self.staging_url}):
            return operator.execute(self.context)

    def check(self, loaded: dict[str, Any] | None) -> dict[str, Any]:
        with self._dag():
            operator = GitHubCheckOperator(task_id="check", loaded=loaded)
        return operator.execute(self.context)

    def report(self, loaded: dict[str, Any] | None) -> dict[str, Any]:
        run = LoadedRun.from_xcom(loaded) if loaded is not None else None
        return report_task(self.context, run, warehouse_conn_id=WAREHOUSE_CONN_ID)


@pytest.fixture
def run(github_connection_to_fake: FakeGitHub, warehouse, pg_url: str, tmp_path, monkeypatch) -> Run:
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    return Run((tmp_path / "staging").as_uri())


def test_a_census_with_an_extract_marked_success_fails_its_load_naming_the_shard_and_moves_no_cursor(
    run: Run, github_connection_to_fake: FakeGitHub, pg_url: str
) -> None:
    """Mark Success on extract [1] of three: Airflow expands transform over the two results there are, and the
    load gets two shards. Loading them would store two thirds of the census as the whole and move the census's
    cursor over the ids shard 1 never listed: the next census would never crawl them."""
    fake = github_connection_to_fake
    shards = run.plan({"mode": "census", "since_id": fake.ids[100], "shards": 3})
    assert len(shards) == 3
    extracted = [run.extract(shard) for index, shard in enumerate(shards) if index != 1]

    with pytest.raises(AirflowFailException) as refused:
        run.load([run.transform(shard) for shard in extracted])

    message = str(refused.value)
    assert "extract [1]" in message and shards[1]["key"] in message, message
    assert "Clear" in message, message
    assert query(pg_url, "SELECT count(*) FROM github.repositories") == [(0,)]
    assert query(pg_url, "SELECT count(*) FROM github.census_cursor") == [(0,)]
    assert query(pg_url, "SELECT count(*) FROM github.load_runs") == [(0,)]

    # Cleared with its downstream tasks: the shard runs, and the load takes the whole run.
    everything = [run.transform(run.extract(shard)) for shard in shards]
    loaded = run.load(everything)
    assert loaded["totals"]["listed"] == len([i for i in fake.ids if i > fake.ids[100]])
    assert query(pg_url, "SELECT cursor_id FROM github.census_cursor") == [(max(fake.ids),)]


def test_an_owner_deleted_between_the_plan_and_the_extract_is_counted_in_the_runs_figures_and_audit_row(
    run: Run, github_connection_to_fake: FakeGitHub, pg_url: str
) -> None:
    """Its repositories are missing from the run: the figures say so rather than show a smaller run."""
    shards = run.plan({"mode": "owners", "owners": ["apache", "octocat"]})
    github_connection_to_fake.universe.named_owners.pop("octocat")

    loaded = run.load([run.transform(run.extract(shard)) for shard in shards])

    assert loaded["totals"]["missing_owners"] == 1
    assert run.report(loaded)["missing_owners"] == 1
    assert query(pg_url, "SELECT missing_owners FROM github.load_runs") == [(1,)]


def test_a_transform_marked_success_or_an_extract_skipped_fails_the_load(run: Run, pg_url: str) -> None:
    """Transform [0] marked success: the load gets the others. Any extract marked skipped: Airflow skips the whole
    transform (its trigger rule is all_success), and the load (none_failed) runs with no shard at all."""
    shards = run.plan({"mode": "sample", "sample_size": 60, "seed": 3})
    assert len(shards) > 1
    transformed = [run.transform(run.extract(shard)) for shard in shards]

    with pytest.raises(AirflowFailException, match=r"extract \[0\]"):
        run.load(transformed[1:])
    with pytest.raises(AirflowFailException, match=rf"extract \[{len(shards) - 1}\]"):
        run.load([])
    assert query(pg_url, "SELECT count(*) FROM github.load_runs") == [(0,)]


def test_a_load_marked_success_without_running_fails_its_check_saying_nothing_was_loaded(run: Run) -> None:
    """Its XCom is None; the checks must not pass over a run the warehouse never received (nor crash on None)."""
    with pytest.raises(AirflowFailException) as refused:
        run.check(None)
    message = str(refused.value)
    assert RUN in message and "load" in message and "Clear" in message, message


def test_the_lineage_of_a_check_of_a_run_never_loaded_claims_no_check_passed(run: Run) -> None:
    """No check ran: the failure's lineage names why, and no quality check as a success."""
    with DAG(DAG_ID, schedule=None, start_date=DAY):
        operator = GitHubCheckOperator(task_id="check", loaded=None)
    with pytest.raises(AirflowFailException):
        operator.execute(run.context)

    (checked,) = operator.get_openlineage_facets_on_failure(None).inputs
    assertions = checked.inputFacets["dataQualityAssertions"].assertions
    assert [(assertion.assertion, assertion.success) for assertion in assertions] == [("run_recorded", False)]


def test_a_load_marked_success_after_it_committed_is_checked_and_reported_from_its_audit_row(
    run: Run, pg_url: str
) -> None:
    """The load committed but its result never reached Airflow (the API server was down as it ended), and someone
    marked it success: check and report read the run from the warehouse."""
    shards = run.plan({"mode": "sample", "sample_size": 40, "seed": 5})
    loaded = run.load([run.transform(run.extract(shard)) for shard in shards])

    assert run.check(None)["failed"] == 0
    figures = run.report(None)
    assert figures["inserted"] == loaded["result"]["inserted"] > 0
    assert figures["listed"] == loaded["totals"]["listed"]
    assert figures["total_in_table"] == query(pg_url, "SELECT count(*) FROM github.repositories")[0][0]


def test_a_report_after_a_load_and_check_marked_success_without_running_fails_saying_so(run: Run) -> None:
    with pytest.raises(IncompleteRunError, match="no load of it committed") as refused:
        run.report(None)
    assert RUN in str(refused.value)


def test_a_transform_cleared_alone_and_a_load_cleared_twice_change_nothing(run: Run, pg_url: str) -> None:
    """Clear on one transform instance writes its shard's files again, the same; Clear on the load loads the same
    files again: nothing is duplicated, and the audit row keeps what the first load did."""
    shards = run.plan({"mode": "sample", "sample_size": 40, "seed": 7})
    transformed = [run.transform(run.extract(shard)) for shard in shards]
    first = run.load(transformed)
    tables = (
        "SELECT (SELECT count(*) FROM github.repositories), (SELECT count(*) FROM github.repository_snapshots), "
        "(SELECT array_agg(row(run_id, inserted, updated, finished_at)::text) FROM github.load_runs)"
    )
    stored = query(pg_url, tables)
    rows_file = RunStaging(DAG_ID, RUN, root=run.staging_url).path("rows", f"{shards[0]['key']}.tsv")
    staged = rows_file.read_bytes()

    extracted = run.extract(shards[0])
    assert run.transform(extracted) == transformed[0]
    assert rows_file.read_bytes() == staged
    for _ in range(2):
        again = run.load(transformed)
        assert (again["result"]["inserted"], again["result"]["updated"]) == (0, 0)
        assert again["result"]["total"] == first["result"]["total"]
    assert query(pg_url, tables) == stored


def test_a_plan_after_prepare_was_marked_success_fails_at_once_saying_so(run: Run, github_connection_to_fake) -> None:
    """prepare marked success without running returns no params: the plan names it instead of a TypeError that
    Airflow would retry."""
    with pytest.raises(AirflowFailException, match="prepare") as refused:
        run.plan(None)
    assert "Clear" in str(refused.value)
    assert github_connection_to_fake.requests == []
