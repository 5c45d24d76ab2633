"""The whole pipeline through Airflow: fake GitHub + real PostgreSQL + file and moto S3 staging.

Every assertion compares the warehouse row by row with what the fake GitHub serves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest

from tests.fake_github import FakeGitHub

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
# When the extract "fetches" in tests that pin its clock: weeks after LOGICAL_DATE, as in a backfill.
OBSERVED_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _rows(pg_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()


def _warehouse(pg_url: str) -> dict[int, dict[str, Any]]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT * FROM github.repositories ORDER BY id")
        names = [d.name for d in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _assert_matches_fake(row: dict[str, Any], fake: FakeGitHub) -> None:
    expected = fake.repository(row["id"])
    assert row["full_name"] == expected["full_name"]
    assert row["node_id"] == expected["node_id"]
    assert row["owner_login"] == expected["owner"]["login"]
    assert row["owner_id"] == expected["owner"]["id"]
    assert row["owner_type"] == expected["owner"]["type"]
    assert row["stargazers_count"] == expected["stargazers_count"]
    assert row["forks_count"] == expected["forks_count"]
    assert row["open_issues_count"] == expected["open_issues_count"]
    assert row["watchers_count"] == expected["watchers_count"]
    assert row["size"] == expected["size"]
    assert row["language"] == expected["language"]
    assert row["license_spdx_id"] == ((expected.get("license") or {}).get("spdx_id"))
    assert row["topics"] == expected["topics"]
    assert row["default_branch"] == expected["default_branch"]
    assert (row["fork"], row["archived"], row["is_template"]) == (
        expected["fork"],
        expected["archived"],
        expected["is_template"],
    )
    assert row["created_at"] == datetime.fromisoformat(expected["created_at"])
    assert row["homepage"] == (expected["homepage"] or None)


def test_sample_run_loads_exactly_sample_size_and_rerun_changes_nothing(
    fake_github: FakeGitHub, pipeline_env, run_dag, observe_on, pg_url: str
) -> None:
    # LOGICAL_DATE is weeks before the fetch: like a backfill, the run stores what it sees under the day it sees it.
    observe_on(OBSERVED_AT)
    pipeline_env(fake_github.base_url)
    conf = {"mode": "sample", "sample_size": 25, "seed": 3, "shards": 2}

    began = datetime.now(UTC)
    first = run_dag(conf, LOGICAL_DATE)
    assert first.state == "success"
    rows = _warehouse(pg_url)
    assert len(rows) == 25
    # airflow dags test dates the run's start at its logical date; the audit says when it really began.
    ((started_at, finished_at),) = _rows(pg_url, "SELECT started_at, finished_at FROM github.load_runs")
    assert began <= started_at <= finished_at
    for row in rows.values():
        assert not fake_github.is_vanished(row["id"])
        _assert_matches_fake(row, fake_github)
    snapshots = _rows(pg_url, "SELECT repo_id, snapshot_date, stargazers_count FROM github.repository_snapshots")
    assert sorted(s[0] for s in snapshots) == sorted(rows)
    assert _rows(pg_url, "SELECT logical_date, observed_at FROM github.load_runs") == [(LOGICAL_DATE, OBSERVED_AT)]
    assert {s[1] for s in snapshots} == {OBSERVED_AT.date()}
    assert {(r["first_seen_at"], r["last_seen_at"]) for r in rows.values()} == {(OBSERVED_AT, OBSERVED_AT)}
    (audit,) = _rows(pg_url, "SELECT mode, enriched, inserted, updated, unchanged FROM github.load_runs")
    assert audit == ("sample", 25, 25, 0, 0)
    xmins = _rows(pg_url, "SELECT id, xmin::text FROM github.repositories ORDER BY id")

    # The same logical date again (a new run id) observing at the same moment: same sample, nothing rewritten.
    second = run_dag(conf, LOGICAL_DATE)
    assert second.state == "success"
    assert _warehouse(pg_url) == rows
    assert _rows(pg_url, "SELECT id, xmin::text FROM github.repositories ORDER BY id") == xmins
    assert len(_rows(pg_url, "SELECT 1 FROM github.repository_snapshots")) == 25
    latest = _rows(
        pg_url, "SELECT inserted, updated, unchanged FROM github.load_runs ORDER BY finished_at DESC LIMIT 1"
    )
    assert latest == [(0, 0, 25)]


def test_sample_run_without_token_enriches_over_rest(
    fake_github: FakeGitHub, pipeline_env, run_dag, pg_url: str, capfd
) -> None:
    # 60 requests an hour without a token: a small sample fits.
    pipeline_env(fake_github.base_url, token=None)
    result = run_dag({"mode": "sample", "sample_size": 10, "shards": 1}, LOGICAL_DATE)
    assert result.state == "success"
    # A successful run logs no error: the load reads the mapped results in one slice, not past their end.
    assert "XCom not found" not in capfd.readouterr().out
    rows = _warehouse(pg_url)
    assert len(rows) == 10
    for row in rows.values():
        _assert_matches_fake(row, fake_github)
    assert fake_github.count(path_prefix="/graphql") == 0
    assert fake_github.count(path_prefix="/repositories/") >= 10


def test_sample_run_stages_on_s3(
    fake_github: FakeGitHub, pipeline_env, run_dag, pg_url: str, s3_staging_url: str
) -> None:
    pipeline_env(fake_github.base_url, staging_url=s3_staging_url)
    result = run_dag({"mode": "sample", "sample_size": 12, "shards": 3}, LOGICAL_DATE)
    assert result.state == "success"
    # The UI lists the mapped tasks by their shards' keys.
    for task_id in ("extract", "transform"):
        named = sorted(ti.rendered_map_index for ti in result.get_task_instances() if ti.task_id == task_id)
        assert named == ["sample-000", "sample-001", "sample-002"], task_id
    rows = _warehouse(pg_url)
    assert len(rows) == 12
    for row in rows.values():
        _assert_matches_fake(row, fake_github)
    from airflow.sdk import ObjectStoragePath

    staged = {p.name for p in ObjectStoragePath(s3_staging_url).rglob("*") if p.is_file()}
    assert {"plan.json", "done.json", "sample-000.tsv"} <= staged


def test_sample_run_with_its_connections_only_in_a_secrets_backend(
    fake_github: FakeGitHub, run_dag, pg_url: str, s3_endpoint: str, monkeypatch, tmp_path
) -> None:
    """github_default, postgres_default and aws_default in Airflow's LocalFilesystemBackend, none in the environment."""
    import json

    from tests.fixtures.s3 import FAKE_AWS_KEY, STAGING_BUCKET

    aws = {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}
    connections = {
        "github_default": {"conn_type": "http", "host": fake_github.base_url, "password": "backend-token-0123456789"},
        "postgres_default": pg_url,
        "aws_default": {"conn_type": "aws", "login": FAKE_AWS_KEY, "password": FAKE_AWS_KEY, "extra": aws},
    }
    (tmp_path / "connections.json").write_text(json.dumps(connections))
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.secrets.local_filesystem.LocalFilesystemBackend")
    monkeypatch.setenv(
        "AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"connections_file_path": str(tmp_path / "connections.json")})
    )
    monkeypatch.setattr("airflow.sdk.configuration._secrets_backend_cache", {})
    monkeypatch.setattr("airflow.sdk.io.store._STORE_CACHE", {})
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", f"s3://{STAGING_BUCKET}/backend-{tmp_path.name}")

    result = run_dag({"mode": "sample", "sample_size": 6, "shards": 2}, LOGICAL_DATE)
    assert result.state == "success"
    rows = _warehouse(pg_url)
    assert len(rows) == 6
    for row in rows.values():
        _assert_matches_fake(row, fake_github)
    # The token reached GitHub: the run enriched over GraphQL, which takes one.
    assert fake_github.count(path_prefix="/graphql") > 0
