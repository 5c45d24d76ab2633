"""The ``github_api`` pool the scheduler's listener creates when a run starts without it (real metadata database)."""

from __future__ import annotations

import pytest

from github_etl.pool import ensure_pool
from github_etl.settings import DEFAULT_POOL_SLOTS, GITHUB_API_POOL, POOL_DESCRIPTION, POOL_SLOTS_ENV


def _pool():
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        pool = Pool.get_pool(GITHUB_API_POOL, session=session)
        return None if pool is None else (pool.slots, pool.description, pool.include_deferred)


@pytest.fixture
def no_pool(airflow_db: None):
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    def delete() -> None:
        with create_session() as session:
            session.query(Pool).filter(Pool.pool == GITHUB_API_POOL).delete()

    delete()
    yield
    delete()


def test_a_missing_pool_is_created_once_with_the_configured_slots(no_pool, monkeypatch, caplog) -> None:
    from airflow.utils.session import create_session

    monkeypatch.setenv(POOL_SLOTS_ENV, "6")
    with create_session() as session:
        assert ensure_pool(session) is True
    with create_session() as session:
        assert ensure_pool(session) is False

    assert _pool() == (6, POOL_DESCRIPTION, False)
    assert [r.getMessage() for r in caplog.records if "Created the Airflow pool" in r.getMessage()], caplog.text


def test_an_existing_pool_keeps_the_size_the_deployment_gave_it(no_pool, monkeypatch) -> None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    Pool.create_or_update_pool(GITHUB_API_POOL, slots=2, description="theirs", include_deferred=True)
    monkeypatch.setenv(POOL_SLOTS_ENV, "6")
    with create_session() as session:
        assert ensure_pool(session) is False

    assert _pool() == (2, "theirs", True)


@pytest.mark.parametrize("malformed", ["eight", "0", "2.5"])
def test_a_malformed_slot_count_still_creates_the_pool_with_the_default_and_says_why(
    no_pool, monkeypatch, caplog, malformed: str
) -> None:
    """Without the pool every run would wait for ever; the listener's errors reach only the scheduler's log."""
    from airflow.utils.session import create_session

    monkeypatch.setenv(POOL_SLOTS_ENV, malformed)
    with create_session() as session:
        assert ensure_pool(session) is True

    assert _pool() == (DEFAULT_POOL_SLOTS, POOL_DESCRIPTION, False)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    said = [message for message in errors if POOL_SLOTS_ENV in message and f"{DEFAULT_POOL_SLOTS} slots" in message]
    assert said, caplog.text


def _harvest(dag_id: str, **param_defaults):
    """A harvest DAG made by the DAG file's factory, as the scheduler holds it (serialized)."""
    import importlib.util

    from airflow.serialization.serialized_objects import DagSerialization

    from tests.fixtures.airflow import DAGS_FOLDER

    spec = importlib.util.spec_from_file_location("harvest_dag_file", DAGS_FOLDER / "github_repositories.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.harvest_dag(dag_id, **param_defaults)
    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def _starts(dag) -> None:
    """The scheduler starts a run of ``dag``: it sets the run's DAG, then tells the listeners."""
    from datetime import UTC, datetime

    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState

    from github_etl.pool import on_dag_run_running

    dag_run = DagRun(dag_id=dag.dag_id, run_id="scheduled__2026-11-02T00:00:00+00:00", run_after=datetime.now(UTC))
    dag_run.state = DagRunState.RUNNING
    dag_run.dag = dag
    on_dag_run_running(dag_run=dag_run, msg="started")


def test_a_second_harvest_started_first_creates_the_pool_its_github_tasks_wait_for(no_pool) -> None:
    """A deployment whose only harvest, or whose first to run, is one made from the DAG file's factory under its own
    id (docs/existing-airflow.md#a-second-harvest): without the pool its runs would wait for ever."""
    _starts(_harvest("github_search_rust", mode="search", query="language:rust"))

    assert _pool() == (DEFAULT_POOL_SLOTS, POOL_DESCRIPTION, False)


def test_a_dag_without_github_tasks_creates_no_pool(no_pool) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("unrelated", schedule=None) as dag:
        EmptyOperator(task_id="nothing")
    _starts(DagSerialization.from_dict(DagSerialization.to_dict(dag)))

    assert _pool() is None
