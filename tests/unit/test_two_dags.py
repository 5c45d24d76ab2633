"""Two DAGs harvesting into one warehouse: the project's DAG and a second one made from it (docs/existing-airflow.md).

Two DAGs on the same schedule give their runs the same ids (``scheduled__2026-11-02T00:00:00+00:00``), so a run
is the pair (DAG id, run id): each run keeps its own audit row, its checks and asset event read that row, and
neither harvest undoes the other's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from github_etl.settings import DAG_ID, WAREHOUSE_CONN_ID
from github_etl.tasks import check_task, report_task
from tests.fake_github import FakeGitHub
from tests.in_process import query, run_pipeline, task_context

TOKEN = "ghp_two_dags_token_0001"
DAY1 = datetime(2026, 11, 2, tzinfo=UTC)
# The id both DAGs give their scheduled run of DAY1.
RUN1 = "scheduled__2026-11-02T00:00:00+00:00"
OWNERS_DAG = "github_owners_apache"
SAMPLE = {"mode": "sample", "sample_size": 40, "shards": 2}
OWNERS = {"mode": "owners", "owners": ["apache"], "shards": 2}


class _Events(dict):
    """``outlet_events`` as the check task gets it: one event per asset, its ``extra`` filled in."""

    def __missing__(self, asset: Any) -> Any:
        from types import SimpleNamespace

        event = self[asset] = SimpleNamespace(extra={})
        return event


@pytest.fixture
def harvest(fake_github: FakeGitHub, pg_url: str, tmp_path, monkeypatch) -> Any:
    """Run one DAG's run into the test's warehouse, as its tasks do; the check and report tasks read it too."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)

    def run(dag_id: str, params: dict[str, Any]) -> Any:
        return run_pipeline(
            fake_github.base_url,
            TOKEN,
            params,
            pg_url=pg_url,
            staging_url=(tmp_path / "staging").as_uri(),
            run_id=RUN1,
            logical_date=DAY1,
            dag_id=dag_id,
        )

    return run


def _repositories(pg_url: str) -> dict[int, Any]:
    return dict(query(pg_url, "SELECT id, deleted_at FROM github.repositories"))


def test_two_dags_runs_of_one_id_each_keep_their_audit_row_checks_and_event(
    harvest, fake_github: FakeGitHub, pg_url: str
) -> None:
    sampled = harvest(DAG_ID, SAMPLE)
    after_sample = _repositories(pg_url)
    owned = harvest(OWNERS_DAG, OWNERS)

    runs = query(pg_url, "SELECT dag_id, run_id, mode, inserted + updated + unchanged FROM github.load_runs ORDER BY 1")
    assert runs == sorted(
        [(DAG_ID, RUN1, "sample", sampled.result.total), (OWNERS_DAG, RUN1, "owners", owned.result.total)]
    )
    # Neither harvest undoes the other: the sample's rows stay, none marked deleted by the owners' run.
    stored = _repositories(pg_url)
    assert set(after_sample) <= set(stored)
    assert [repo_id for repo_id, deleted_at in stored.items() if deleted_at is not None] == [
        repo_id for repo_id, deleted_at in after_sample.items() if deleted_at is not None
    ]

    for dag_id, loaded in ((DAG_ID, sampled), (OWNERS_DAG, owned)):
        context = {**task_context(RUN1, DAY1, dag_id=dag_id), "outlet_events": _Events()}
        # The load handed nothing on (marked success): the check and the report read the run's own audit row.
        check_task(context, None, warehouse_conn_id=WAREHOUSE_CONN_ID)
        ((generation,),) = query(
            pg_url, "SELECT generation FROM github.load_runs WHERE dag_id = %s AND run_id = %s", dag_id, RUN1
        )
        (event,) = context["outlet_events"].values()
        assert event.extra["generation"] == generation
        assert event.extra["dag_id"] == dag_id
        figures = report_task(context, None, warehouse_conn_id=WAREHOUSE_CONN_ID)
        assert figures["inserted"] + figures["updated"] + figures["unchanged"] == loaded.result.total
    assert query(pg_url, "SELECT count(*) FROM github.load_runs WHERE checks_passed_at IS NOT NULL") == [(2,)]
