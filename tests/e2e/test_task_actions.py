"""Airflow's Mark Success on the DAG's tasks, through Airflow (``dag.test``'s ``mark_success_pattern`` marks a task
success without running it, as the grid's button does): the tasks after it get what Airflow then hands them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from github_etl.settings import DAG_ID
from tests.e2e.test_pipeline import _rows
from tests.fixtures.airflow import load_dagbag

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)


def _states(run) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id)).all()
        return {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: ti.state for ti in tis}


def test_a_census_whose_extracts_or_load_are_marked_success_loads_nothing_and_fails_saying_so(
    airflow_db, fake_github_factory, pipeline_env, observe_on, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=200, seed=41)
    pipeline_env(fake.base_url)
    observe_on(LOGICAL_DATE)
    dag = load_dagbag().dags[DAG_ID]
    conf = {"mode": "census", "since_id": fake.ids[99], "shards": 2}

    # Every extract marked success: Airflow expands transform over no result and skips it; the load would take
    # a run of no shard as the whole census and move the cursor over the range.
    run = dag.test(logical_date=LOGICAL_DATE, run_conf=conf, mark_success_pattern="^extract$")
    states = _states(run)
    assert (run.state, states["transform"], states["load"]) == ("failed", "skipped", "failed"), states
    assert _rows(pg_url, "SELECT count(*) FROM github.census_cursor") == [(0,)]
    assert _rows(pg_url, "SELECT count(*) FROM github.load_runs") == [(0,)]

    # The load marked success: the check finds no load of the run and fails at once, and nothing is reported.
    run = dag.test(logical_date=LOGICAL_DATE.replace(day=2), run_conf=conf, mark_success_pattern="^load$")
    states = _states(run)
    assert (run.state, states["check"], states["report"]) == ("failed", "failed", "upstream_failed"), states
    assert _rows(pg_url, "SELECT count(*) FROM github.repositories") == [(0,)]
