"""Two Airflows running the DAG with the same run ids, one staging root and one warehouse.

Blue/green deployments run the same DAG on the same schedule for a day or two, and a developer's Airflow pointed
at production by mistake gives the same ``scheduled__…`` and ``manual__…`` ids. Each run is driven here through
the plan and extract operators (the XCom they hand on), then the transform and load functions, as the tasks do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from github_etl.errors import StagingCollisionError
from github_etl.extract.shards import ExtractResult
from github_etl.operators.extract import GitHubExtractShardOperator
from github_etl.operators.plan import GitHubPlanOperator
from github_etl.settings import DAG_ID, WAREHOUSE_CONN_ID
from github_etl.staging import RunStaging
from github_etl.tasks import LoadedRun, TransformResult, load_run_task, transform_shard
from tests.fake_github import FakeGitHub
from tests.in_process import query, task_context

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY1 = DAY0 + timedelta(days=1)
# The id both Airflows give their scheduled run of DAY1.
RUN1 = "scheduled__2026-11-02T00:00:00+00:00"
RUN2 = "scheduled__2026-11-03T00:00:00+00:00"
CENSUS = {"mode": "census", "shards": 2}
COLLISION = "another run of the same id"


class Deployment:
    """One Airflow's tasks of the DAG, over a staging root and the warehouse of ``postgres_default``."""

    def __init__(self, staging_url: str) -> None:
        self.staging_url = staging_url

    def plan(self, params: dict[str, Any], run_id: str, logical_date: datetime) -> list[dict[str, Any]]:
        with DAG(DAG_ID, schedule=None, start_date=DAY0):
            operator = GitHubPlanOperator(task_id="plan", run_params=params, staging_root=self.staging_url)
        return operator.execute({"run_id": run_id, "logical_date": logical_date})

    def extract(self, shard: dict[str, Any], run_id: str) -> dict[str, Any]:
        with DAG(DAG_ID, schedule=None, start_date=DAY0):
            operator = GitHubExtractShardOperator(task_id="extract", shard=shard, staging_root=self.staging_url)
        return operator.execute({"run_id": run_id})

    def transform(self, extracted: dict[str, Any], run_id: str) -> TransformResult:
        return transform_shard(RunStaging(DAG_ID, run_id, root=self.staging_url), ExtractResult.from_xcom(extracted))

    def load(self, transformed: list[TransformResult], run_id: str, logical_date: datetime) -> LoadedRun:
        with mock.patch.dict(os.environ, {"GITHUB_ETL_STAGING_URL": self.staging_url}):
            return load_run_task(task_context(run_id, logical_date), transformed, warehouse_conn_id=WAREHOUSE_CONN_ID)

    def run(self, params: dict[str, Any], run_id: str, logical_date: datetime) -> LoadedRun:
        extracted = [self.extract(shard, run_id) for shard in self.plan(params, run_id, logical_date)]
        return self.load([self.transform(shard, run_id) for shard in extracted], run_id, logical_date)


@pytest.fixture
def airflow_env(github_connection_to_fake: FakeGitHub, warehouse, pg_url: str, monkeypatch) -> FakeGitHub:
    """The connections both Airflows have (the fake GitHub, the warehouse), the schema applied as prepare does."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    return github_connection_to_fake


@pytest.fixture
def census_day0(airflow_env: FakeGitHub) -> Callable[[str], None]:
    """The census as it stood before DAY1: run once from an id, so that DAY1's runs start from its cursor."""

    def run(staging_url: str) -> None:
        since = airflow_env.ids[100]
        Deployment(staging_url).run({**CENSUS, "since_id": since}, "scheduled__2026-11-01T00:00:00+00:00", DAY0)

    return run


def _loaded(pg_url: str) -> set[int]:
    return {row[0] for row in query(pg_url, "SELECT id FROM github.repositories")}


def _public(fake: FakeGitHub, ids: list[int]) -> set[int]:
    """Those of ``ids`` a run loads: the others vanish between listing and enrichment."""
    return {repo_id for repo_id in ids if fake.verdict(repo_id) == "load"}


def _cursor(pg_url: str) -> int:
    ((cursor_id,),) = query(pg_url, "SELECT cursor_id FROM github.census_cursor")
    return cursor_id


def _collision(error: pytest.ExceptionInfo[Exception], run_id: str) -> None:
    message = str(error.value)
    assert COLLISION in message and run_id in message, message
    assert "GITHUB_ETL_STAGING_URL" in message, message


def test_a_census_planned_over_by_another_airflow_fails_the_overwritten_run_and_skips_no_id(
    github_connection_to_fake: FakeGitHub, census_day0, staging_url: str, pg_url: str
) -> None:
    """Blue and green plan the same scheduled census at once; green's plan, which saw repositories created since
    blue's, lands last. Blue's shards must not stage under green's plan, nor green load blue's shards: the cursor
    would then move over ids no page listed, and the next census would never crawl them."""
    fake = github_connection_to_fake
    census_day0(staging_url)
    blue, green = Deployment(staging_url), Deployment(staging_url)
    fake.add_repositories(40)
    blue_shards = blue.plan(CENSUS, RUN1, DAY1)
    # Green planned while blue did: it saw no plan staged, and more repositories, and wrote its own last.
    staging = RunStaging(DAG_ID, RUN1, root=staging_url)
    for name in ("plan.json", "params.json"):
        staging.path(name).unlink()
    created = fake.add_repositories(30)
    green_shards = green.plan(CENSUS, RUN1, DAY1)
    assert green_shards != blue_shards

    with pytest.raises(AirflowFailException) as refused:
        blue.extract(blue_shards[0], RUN1)
    _collision(refused, RUN1)

    green.run(CENSUS, RUN1, DAY1)
    assert _public(fake, created) <= _loaded(pg_url)
    assert _cursor(pg_url) == max(created)


def test_a_census_whose_shards_another_airflow_staged_under_its_own_plan_loads_nothing_of_them(
    github_connection_to_fake: FakeGitHub, census_day0, tmp_path, pg_url: str
) -> None:
    """Blue's shards are staged before green's plan lands: green must not take them as its own, nor blue load
    them under green's plan. Both fail; the next census crawls every id from the cursor, which stayed."""
    fake = github_connection_to_fake
    staging_url = (tmp_path / "staging").as_uri()
    census_day0(staging_url)
    cursor = _cursor(pg_url)
    blue, green = Deployment(staging_url), Deployment(staging_url)
    fake.add_repositories(40)
    blue_shards = blue.plan(CENSUS, RUN1, DAY1)
    # Green planned while blue did (it saw nothing staged, and more repositories); its plan lands after blue's
    # shards were staged.
    staging = RunStaging(DAG_ID, RUN1, root=staging_url)
    names = ("plan.json", "params.json")
    blues = {name: staging.path(name).read_text() for name in names}
    for name in names:
        staging.path(name).unlink()
    created = fake.add_repositories(30)
    green_shards = green.plan(CENSUS, RUN1, DAY1)
    greens = {name: staging.path(name).read_text() for name in names}
    for name in names:
        staging.path(name).write_text(blues[name])
    blue_extracted = [blue.extract(shard, RUN1) for shard in blue_shards]
    for name in names:
        staging.path(name).write_text(greens[name])

    with pytest.raises(AirflowFailException) as refused:
        green.extract(green_shards[0], RUN1)
    _collision(refused, RUN1)
    # The load operator fails at once on this ConfigurationError, without retries.
    with pytest.raises(StagingCollisionError) as refused:
        blue.load([blue.transform(shard, RUN1) for shard in blue_extracted], RUN1, DAY1)
    _collision(refused, RUN1)
    assert _cursor(pg_url) == cursor

    # The next day's census, from green with its own staging URL (the fix the errors name).
    Deployment((tmp_path / "green").as_uri()).run(CENSUS, RUN2, DAY1 + timedelta(days=1))
    assert _public(fake, created) <= _loaded(pg_url)
    assert _cursor(pg_url) == max(created)


def test_the_same_run_in_two_airflows_one_after_the_other_loads_once_and_moves_the_cursor_once(
    github_connection_to_fake: FakeGitHub, census_day0, tmp_path, pg_url: str
) -> None:
    """Green's run of an id blue ran before (one staging root) reuses blue's plan and pages, as a cleared run
    does: nothing fetched twice, nothing loaded twice, the audit row blue's."""
    fake = github_connection_to_fake
    staging_url = (tmp_path / "staging").as_uri()
    census_day0(staging_url)
    created = fake.add_repositories(30)
    first = Deployment(staging_url).run(CENSUS, RUN1, DAY1)
    audit = query(pg_url, "SELECT * FROM github.load_runs ORDER BY run_id")
    fake.reset_log()

    again = Deployment(staging_url).run(CENSUS, RUN1, DAY1)

    assert fake.requests == []
    assert (first.result.inserted, again.result.inserted, again.result.updated) == (len(_public(fake, created)), 0, 0)
    assert query(pg_url, "SELECT * FROM github.load_runs ORDER BY run_id") == audit
    assert _cursor(pg_url) == max(created)
    assert query(pg_url, "SELECT count(*) = count(DISTINCT repo_id) FROM github.repository_snapshots") == [(True,)]


def test_two_airflows_with_their_own_staging_urls_load_the_same_run_once(
    github_connection_to_fake: FakeGitHub, census_day0, tmp_path, pg_url: str
) -> None:
    """The configuration the deploy docs give: each Airflow its own GITHUB_ETL_STAGING_URL, one warehouse. Green's
    census plans from the cursor blue's load moved, so it loads nothing again; the audit row stays blue's."""
    fake = github_connection_to_fake
    census_day0((tmp_path / "blue").as_uri())
    created = fake.add_repositories(30)
    blue = Deployment((tmp_path / "blue").as_uri()).run(CENSUS, RUN1, DAY1)
    audit = query(pg_url, "SELECT * FROM github.load_runs ORDER BY run_id")

    green = Deployment((tmp_path / "green").as_uri()).run(CENSUS, RUN1, DAY1)

    assert (blue.result.inserted, green.result.inserted, green.result.updated) == (len(_public(fake, created)), 0, 0)
    assert query(pg_url, "SELECT * FROM github.load_runs ORDER BY run_id") == audit
    assert _cursor(pg_url) == max(created)
    assert query(pg_url, "SELECT count(*) FROM github.census_ranges") == [(2,)]


def test_another_airflows_run_of_the_same_id_with_other_params_is_refused_naming_both_fixes(
    github_connection_to_fake: FakeGitHub, census_day0, tmp_path, pg_url: str
) -> None:
    """Green runs the scheduled census, blue (its scheduled mode not yet switched) a sample of the same time. The
    error must not only say to delete the run's folder, which is green's run's too."""
    staging_url = (tmp_path / "staging").as_uri()
    census_day0(staging_url)
    Deployment(staging_url).run(CENSUS, RUN1, DAY1)
    loaded = _loaded(pg_url)

    with pytest.raises(AirflowFailException) as refused:
        Deployment(staging_url).plan({"mode": "sample", "sample_size": 5, "shards": 2}, RUN1, DAY1)

    message = str(refused.value)
    assert "mode 'census' there, 'sample' now" in message
    assert "another Airflow" in message and "its own GITHUB_ETL_STAGING_URL" in message, message
    assert _loaded(pg_url) == loaded


def test_one_airflows_run_cleared_after_the_other_loaded_the_same_id_later_keeps_the_later_observation(
    airflow_env: FakeGitHub, tmp_path, pg_url: str
) -> None:
    """Blue and green (each its own staging URL) load the run of one id, green later, after stars moved; then
    blue's load is cleared and runs again from blue's staged files: green's later observation stays, and the audit
    row is green's, which changed the warehouse last."""
    fake = airflow_env
    owners = {"mode": "owners", "owners": ["octocat"], "shards": 1}
    blue, green = Deployment((tmp_path / "blue").as_uri()), Deployment((tmp_path / "green").as_uri())
    blue_extracted = [blue.extract(shard, RUN1) for shard in blue.plan(owners, RUN1, DAY1)]
    blue_transformed = [blue.transform(shard, RUN1) for shard in blue_extracted]
    blue.load(blue_transformed, RUN1, DAY1)
    ((repo_id,),) = query(pg_url, "SELECT min(id) FROM github.repositories")
    fake.set_repository(repo_id, stargazers_count=4242)
    green_loaded = green.run(owners, RUN1, DAY1)
    audit = query(pg_url, f"SELECT * FROM github.load_runs WHERE run_id = '{RUN1}'")

    again = blue.load(blue_transformed, RUN1, DAY1)

    # Every repository's last_seen_at moved; one snapshot changed.
    assert (green_loaded.result.updated, green_loaded.result.snapshots) == (7, 1)
    assert (again.result.inserted, again.result.updated) == (0, 0)
    assert query(pg_url, f"SELECT stargazers_count FROM github.repositories WHERE id = {repo_id}") == [(4242,)]
    snapshots = f"SELECT stargazers_count FROM github.repository_snapshots WHERE repo_id = {repo_id}"
    assert query(pg_url, snapshots) == [(4242,)]
    assert query(pg_url, f"SELECT * FROM github.load_runs WHERE run_id = '{RUN1}'") == audit
