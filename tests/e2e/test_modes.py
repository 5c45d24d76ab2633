"""The search, owners and refresh modes through Airflow, checked against the fake GitHub row by row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from tests.e2e.test_pipeline import _assert_matches_fake, _warehouse
from tests.fake_github import FakeGitHub

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)


def _search_ids(fake: FakeGitHub, query: str) -> set[int]:
    import requests

    ids: set[int] = set()
    for created in ("2008-01-01..2017-12-31", "2018-01-01..2021-12-31", "2022-01-01..2026-12-31"):
        page = 1
        while True:
            data = requests.get(
                f"{fake.base_url}/search/repositories",
                params={"q": f"{query} created:{created}", "per_page": 100, "page": page},
                headers={"Authorization": "Bearer reference-reader-token"},
                timeout=30,
            ).json()
            assert data["total_count"] <= 1000, "reference slice too large"
            ids.update(item["id"] for item in data["items"])
            if len(data["items"]) < 100:
                break
            page += 1
    return ids


def test_search_past_1000_results_loads_every_match_exactly_once(
    fake_github_factory, pipeline_env, run_dag, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=1700, seed=3, search_rate_limit=1000)
    query = "archived:false"
    expected = _search_ids(fake, query)
    assert len(expected) > 1000
    pipeline_env(fake.base_url)
    result = run_dag({"mode": "search", "query": query, "shards": 3}, LOGICAL_DATE)
    assert result.state == "success"
    rows = _warehouse(pg_url)
    assert set(rows) == expected
    for row in list(rows.values())[:200]:
        _assert_matches_fake(row, fake)


def test_owners_mode_loads_every_repository_of_each_owner(
    fake_github_factory, pipeline_env, run_dag, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=30, seed=8, owners={"apache": 130, "octocat": 6})
    pipeline_env(fake.base_url)
    result = run_dag({"mode": "owners", "owners": ["apache", "octocat"], "shards": 2}, LOGICAL_DATE)
    assert result.state == "success"
    rows = _warehouse(pg_url)
    owned = {i for i in fake.ids if fake.repository(i)["owner"]["login"] in ("apache", "octocat")}
    assert set(rows) == {i for i in owned if fake.verdict(i) == "load"}
    assert {r["owner_login"] for r in rows.values()} == {"apache", "octocat"}
    for row in rows.values():
        _assert_matches_fake(row, fake)


def test_refresh_records_a_new_snapshot_and_marks_deleted_repositories(
    fake_github_factory, pipeline_env, run_dag, observe_on, pg_url: str
) -> None:
    observe_on(LOGICAL_DATE)
    fake = fake_github_factory(repo_count=200, seed=12)
    pipeline_env(fake.base_url)
    assert run_dag({"sample_size": 30, "shards": 1}, LOGICAL_DATE).state == "success"
    before = _warehouse(pg_url)
    grown, deleted = sorted(before)[:2]
    fake.set_repository(grown, stargazers_count=before[grown]["stargazers_count"] + 1000)
    fake.delete_repository(deleted)

    later = LOGICAL_DATE + timedelta(days=1)
    observe_on(later)
    assert run_dag({"mode": "refresh", "shards": 2}, later).state == "success"

    after = _warehouse(pg_url)
    assert set(after) == set(before)
    assert after[grown]["stargazers_count"] == before[grown]["stargazers_count"] + 1000
    assert after[deleted]["deleted_at"] == later
    assert all(row["deleted_at"] is None for i, row in after.items() if i != deleted)
    assert all(row["last_seen_at"] == later for i, row in after.items() if i != deleted)
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT snapshot_date, count(*) FROM github.repository_snapshots GROUP BY 1 ORDER BY 1")
        assert cursor.fetchall() == [(LOGICAL_DATE.date(), 30), (later.date(), 29)]
        cursor.execute(
            "SELECT stargazers_count FROM github.repository_snapshots WHERE repo_id = %s ORDER BY snapshot_date",
            (grown,),
        )
        assert [r[0] for r in cursor.fetchall()] == [
            before[grown]["stargazers_count"],
            after[grown]["stargazers_count"],
        ]
    # A stale_days filter that excludes everything refreshes nothing, and says so in the audit.
    observe_on(later + timedelta(days=1))
    assert run_dag({"mode": "refresh", "stale_days": 5}, later + timedelta(days=1)).state == "success"
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT mode, enriched, inserted, updated FROM github.load_runs ORDER BY logical_date DESC LIMIT 1"
        )
        assert cursor.fetchone() == ("refresh", 0, 0, 0)


def test_refresh_stale_days_counts_back_from_the_day_it_fetches_not_from_its_logical_date(
    fake_github_factory, pipeline_env, run_dag, observe_on, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=60, seed=12)
    pipeline_env(fake.base_url)

    def refreshed() -> int:
        with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT mode, enriched FROM github.load_runs ORDER BY finished_at DESC LIMIT 1")
            mode, enriched = cursor.fetchone()
        assert mode == "refresh"
        return enriched

    observe_on(datetime(2026, 11, 20, 0, 0, 30, tzinfo=UTC))
    assert run_dag({"sample_size": 6, "shards": 1}, datetime(2026, 11, 20, tzinfo=UTC)).state == "success"
    stale = {"mode": "refresh", "stale_days": 1, "shards": 1}
    # The next day's run, its fetch a few seconds earlier in the day than the sample's: seen yesterday, the
    # six were not seen for a day.
    observe_on(datetime(2026, 11, 21, 0, 0, 10, tzinfo=UTC))
    assert run_dag(stale, datetime(2026, 11, 21, tzinfo=UTC)).state == "success"
    assert refreshed() == 6
    # Later that UTC day: all were seen today.
    observe_on(datetime(2026, 11, 21, 23, 59, 50, tzinfo=UTC))
    assert run_dag(stale, datetime(2026, 11, 21, 12, tzinfo=UTC)).state == "success"
    assert refreshed() == 0
    # A backfill: a logical date before every observation, fetched two weeks after the last one. Its data
    # are today's and go under today's date, so what is stale is counted from today too.
    observe_on(datetime(2026, 12, 6, 3, 0, tzinfo=UTC))
    assert run_dag({**stale, "stale_days": 7}, datetime(2026, 11, 1, tzinfo=UTC)).state == "success"
    assert refreshed() == 6


def test_rest_refresh_fetches_every_repository_and_records_what_changed(
    fake_github_factory, pipeline_env, run_dag, observe_on, pg_url: str
) -> None:
    observe_on(LOGICAL_DATE)
    fake = fake_github_factory(repo_count=120, seed=31)
    pipeline_env(fake.base_url, token=None)  # no token: enrichment and refresh go through REST
    assert run_dag({"sample_size": 8, "shards": 1}, LOGICAL_DATE).state == "success"
    before = _warehouse(pg_url)
    changed = sorted(before)[0]
    fake.set_repository(changed, stargazers_count=before[changed]["stargazers_count"] + 7)
    fake.reset_log()

    later = LOGICAL_DATE + timedelta(days=1)
    observe_on(later)
    assert run_dag({"mode": "refresh", "shards": 1}, later).state == "success"

    details = [r for r in fake.requests if r.path.startswith("/repositories/")]
    assert sorted(r.status for r in details) == [200] * 8
    assert all(r.counted for r in details)
    after = _warehouse(pg_url)
    assert after[changed]["stargazers_count"] == before[changed]["stargazers_count"] + 7
    assert all(row["last_seen_at"] == later for row in after.values())
    assert {k: v for k, v in after.items() if k != changed} == {
        k: {**v, "last_seen_at": later} for k, v in before.items() if k != changed
    }
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM github.repository_snapshots WHERE snapshot_date = %s", (later.date(),))
        assert cursor.fetchone() == (8,)
