"""The census through Airflow: a first run from since_id, then a daily run from the cursor the first one left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_pipeline import _rows, _warehouse

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_daily_census_loads_what_was_created_since_the_last_one(
    fake_github_factory, pipeline_env, run_dag, observe_on, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=400, seed=31, vanished_ratio=0.05)
    pipeline_env(fake.base_url)
    since = fake.ids[299]

    observe_on(LOGICAL_DATE)
    first = run_dag({"mode": "census", "since_id": since, "shards": 2}, LOGICAL_DATE)
    assert first.state == "success"
    assert set(_warehouse(pg_url)) == {i for i in fake.ids[300:] if fake.verdict(i) == "load"}

    new = fake.add_repositories(120)
    observe_on(LOGICAL_DATE + timedelta(days=1))
    second = run_dag({"mode": "census", "shards": 3}, LOGICAL_DATE + timedelta(days=1))
    assert second.state == "success"
    rows = _warehouse(pg_url)
    assert {i for i in rows if i > since} == {i for i in fake.ids[300:] if fake.verdict(i) == "load"}
    assert {i for i in rows if i in set(new)} == {i for i in new if fake.verdict(i) == "load"}
    for repo_id in set(new) & set(rows):
        expected = fake.repository(repo_id)
        row = rows[repo_id]
        assert (row["full_name"], row["stargazers_count"], row["language"]) == (
            expected["full_name"],
            expected["stargazers_count"],
            expected["language"],
        )
        assert row["created_at"] == datetime.fromisoformat(expected["created_at"])
        assert row["first_seen_at"] == LOGICAL_DATE + timedelta(days=1)
    assert _rows(pg_url, "SELECT since_id, cursor_id FROM github.census_cursor") == [(since, max(new))]
    audits = _rows(pg_url, "SELECT mode, listed FROM github.load_runs ORDER BY logical_date")
    assert audits == [("census", 100), ("census", 120)]


def test_a_census_goes_on_from_its_cursor_after_airflow_db_clean_removed_every_earlier_run(
    fake_github_factory, pipeline_env, run_dag, observe_on, pg_url: str
) -> None:
    """The pipeline reads nothing of earlier runs from Airflow: its cursor and audit live in the warehouse."""
    from airflow.sdk import timezone
    from airflow.utils.db_cleanup import run_cleanup
    from airflow.utils.session import create_session
    from sqlalchemy import text

    fake = fake_github_factory(repo_count=300, seed=37)
    pipeline_env(fake.base_url)
    since = fake.ids[199]
    observe_on(LOGICAL_DATE)
    assert run_dag({"mode": "census", "since_id": since, "shards": 2}, LOGICAL_DATE).state == "success"
    (cursor,) = _rows(pg_url, "SELECT cursor_id FROM github.census_cursor")[0]

    # What `airflow db clean --clean-before-timestamp <now> --skip-archive --yes --tables …` removes.
    tables = ["dag_run", "task_instance", "task_instance_history", "xcom", "deadline", "asset_event", "log"]
    run_cleanup(clean_before_timestamp=timezone.utcnow(), table_names=tables, confirm=False, skip_archive=True)
    with create_session() as session:
        assert session.execute(text("SELECT count(*) FROM dag_run")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM xcom")).scalar() == 0

    new = fake.add_repositories(50)
    observe_on(LOGICAL_DATE + timedelta(days=1))
    assert run_dag({"mode": "census", "shards": 2}, LOGICAL_DATE + timedelta(days=1)).state == "success"

    rows = _warehouse(pg_url)
    assert {i for i in rows if i > cursor} == {i for i in new if fake.verdict(i) == "load"}
    assert _rows(pg_url, "SELECT since_id, cursor_id FROM github.census_cursor") == [(since, max(new))]
    assert [listed for (listed,) in _rows(pg_url, "SELECT listed FROM github.load_runs ORDER BY logical_date")] == [
        100,
        50,
    ]
