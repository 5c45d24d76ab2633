"""The ``github_api`` pool the scheduler's listener creates when a run starts without it (real metadata database)."""

from __future__ import annotations

import pytest

from github_etl.pool import ensure_pool
from github_etl.settings import GITHUB_API_POOL, POOL_DESCRIPTION, POOL_SLOTS_ENV


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
