"""Repositories that vanish between runs: why each one went, and a guard against marking too many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)


def _deleted(pg_url: str) -> dict[int, tuple[datetime | None, str | None]]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, deleted_at, deleted_reason FROM github.repositories ORDER BY id")
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


@pytest.mark.parametrize("token", ["test-token-0123456789", None], ids=["graphql", "rest"])
def test_a_refresh_records_why_each_repository_vanished(
    fake_github_factory, pipeline_env, run_dag, observe_on, pg_url: str, monkeypatch, token
) -> None:
    fake = fake_github_factory(repo_count=200, seed=12)
    pipeline_env(fake.base_url, token=token)
    observe_on(LOGICAL_DATE)
    # Small enough for both runs to fit the anonymous budget (60 requests an hour) of the REST case.
    assert run_dag({"sample_size": 10, "shards": 1}, LOGICAL_DATE).state == "success"
    deleted, taken_down, disabled, made_private = sorted(_deleted(pg_url))[:4]
    fake.delete_repository(deleted)
    fake.take_down_repository(taken_down)
    fake.disable_repository(disabled)
    # Still served to this token (as to its owner's), but no longer to everyone: not the warehouse's.
    fake.make_repository_private(made_private)
    monkeypatch.setenv("GITHUB_ETL_MAX_DELETED_SHARE", "0.5")  # 4 of 10 is more than the default 5%

    later = LOGICAL_DATE + timedelta(days=1)
    observe_on(later)
    assert run_dag({"mode": "refresh", "shards": 2}, later).state == "success"

    stored = _deleted(pg_url)
    assert {i: v for i, v in stored.items() if v != (None, None)} == {
        deleted: (later, "not_found"),
        taken_down: (later, "legal_block"),
        disabled: (later, "disabled"),
        made_private: (later, "not_public"),
    }

    # The next refresh checks the repositories marked deleted too; still gone, they keep their marks,
    # and asking GitHub why again costs no request of its own.
    fake.reset_log()
    still = later + timedelta(hours=12)
    observe_on(still)
    assert run_dag({"mode": "refresh", "shards": 2}, still).state == "success"
    assert _deleted(pg_url) == stored
    asked = {r.path for r in fake.requests if r.path.startswith("/repositories/")}
    per_repository = 1 if token is None else 0  # REST enrichment asks for every repository anyway
    assert len(asked) == 10 * per_repository, sorted(asked)

    # GitHub serves them again (a deleted repository can be restored for 90 days): the next refresh
    # clears every mark.
    for repo_id in (deleted, taken_down, disabled, made_private):
        fake.restore_repository(repo_id)
    again = later + timedelta(days=1)
    observe_on(again)
    assert run_dag({"mode": "refresh", "shards": 2}, again).state == "success"
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM github.repositories WHERE deleted_at IS NULL AND last_seen_at = %s", (again,)
        )
        assert cursor.fetchone()[0] == 10


def test_a_refresh_where_a_fifth_vanish_marks_nothing_and_fails(
    fake_github_factory, pipeline_env, run_dag, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=200, seed=12)
    pipeline_env(fake.base_url)
    assert run_dag({"sample_size": 30, "shards": 1}, LOGICAL_DATE).state == "success"
    before = _deleted(pg_url)
    for repo_id in sorted(before)[:6]:
        fake.delete_repository(repo_id)

    result = run_dag({"mode": "refresh", "shards": 2}, LOGICAL_DATE + timedelta(days=1))

    assert result.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in result.get_task_instances()}
    assert states["load"] == ("failed", 1)  # no retry can make the answer plausible
    assert _deleted(pg_url) == before
    assert all(value == (None, None) for value in before.values())
