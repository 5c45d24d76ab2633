"""OpenLineage events of a run, read back through the provider's file transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest

from tests.fake_github import FakeGitHub

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)


def _clear_openlineage_settings() -> None:
    from airflow.providers.openlineage import conf

    for name in dir(conf):
        cached = getattr(getattr(conf, name), "cache_clear", None)
        if callable(cached):
            cached()


@pytest.fixture
def lineage_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Lineage on, to a file, for this test only: the provider's listener, as a deployment configures it."""
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.sdk.listener import get_listener_manager

    path = tmp_path / "openlineage.jsonl"
    transport = {"type": "file", "log_file_path": str(path), "append": True}
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "github-etl-test")
    # dag.test runs tasks in this process: emit from a thread of it rather than a forked copy.
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    _clear_openlineage_settings()
    listener = get_openlineage_listener()
    # The listener's adapter keeps the client, and so the transport, it first built: an earlier test's file.
    listener.adapter = OpenLineageAdapter()
    manager = get_listener_manager()
    added = not manager.pm.is_registered(listener)
    if added:
        manager.add_listener(listener)
    try:
        yield path
    finally:
        if added:
            manager.pm.unregister(listener)
        monkeypatch.undo()
        _clear_openlineage_settings()


def _events(path: Path, job: str, event_type: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if e["job"]["name"] == job and e["eventType"] == event_type]


def _postgres_name(pg_url: str) -> tuple[str, str]:
    """OpenLineage's namespace of the test's server and its database: ``postgres://host:port``, ``database``."""
    parts = urlsplit(pg_url)
    return f"postgres://{parts.hostname}:{parts.port or 5432}", parts.path.lstrip("/")


def test_a_run_emits_lineage_with_inputs_outputs_schema_counts_and_checks(
    fake_github: FakeGitHub, pipeline_env, run_dag, lineage_file: Path, pg_url: str
) -> None:
    pipeline_env(fake_github.base_url)
    namespace, database = _postgres_name(pg_url)

    assert run_dag({"mode": "sample", "sample_size": 10, "shards": 1}, LOGICAL_DATE).state == "success"

    (load,) = _events(lineage_file, "github_repositories.load", "COMPLETE")
    assert [(d["namespace"], d["name"]) for d in load["inputs"]] == [
        (fake_github.base_url.rstrip("/"), "/repositories")
    ]
    # Named as OpenLineage names a PostgreSQL table: the server the connection leads to, database.schema.table.
    assert {d["namespace"] for d in load["outputs"]} == {namespace}
    outputs = {d["name"]: d for d in load["outputs"]}
    # Every table the load's transaction wrote: the snapshots' day summaries too.
    assert set(outputs) == {
        f"{database}.github.{table}"
        for table in (
            "repositories",
            "repository_snapshots",
            "repository_history",
            "load_runs",
            "language_days",
            "star_gains",
            "star_gain_topics",
            "star_gain_windows",
        )
    }
    repositories = outputs[f"{database}.github.repositories"]
    fields = {f["name"]: f["type"] for f in repositories["facets"]["schema"]["fields"]}
    assert list(fields)[:3] == ["id", "node_id", "full_name"]
    assert {"stargazers_count", "first_seen_at", "deleted_reason"} <= set(fields)
    # Types as PostgreSQL spells them: information_schema says only ARRAY.
    assert (fields["id"], fields["topics"]) == ("bigint", "text[]")
    # Every table written has its schema.
    for output in outputs.values():
        assert output["facets"]["schema"]["fields"], output["name"]
    snapshot_fields = [
        f["name"] for f in outputs[f"{database}.github.repository_snapshots"]["facets"]["schema"]["fields"]
    ]
    assert {"repo_id", "snapshot_date"} <= set(snapshot_fields)
    assert repositories["outputFacets"]["outputStatistics"]["rowCount"] == 10
    snapshots = outputs[f"{database}.github.repository_snapshots"]
    assert snapshots["outputFacets"]["outputStatistics"]["rowCount"] == 10

    # The check reads the table the load wrote, under the same name from its start on.
    (started,) = _events(lineage_file, "github_repositories.check", "START")
    assert [(d["namespace"], d["name"]) for d in started["inputs"]] == [(namespace, f"{database}.github.repositories")]
    (check,) = _events(lineage_file, "github_repositories.check", "COMPLETE")
    (checked,) = check["inputs"]
    assertions = checked["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (checked["namespace"], checked["name"]) == (namespace, f"{database}.github.repositories")
    assert {a["assertion"] for a in assertions} >= {"ids_unique_not_null", "loaded_count", "counts_not_negative"}
    assert all(a["success"] for a in assertions)


def test_the_github_input_is_named_by_the_api_root_the_run_used_when_only_the_environment_names_it(
    fake_github_factory, pipeline_env, run_dag, lineage_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ghes = fake_github_factory(repo_count=100, enterprise_version="3.9.0", rate_limiting=False)
    pipeline_env(ghes.base_url)
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT")
    monkeypatch.setenv("GITHUB_API_URL", ghes.base_url + "/")
    monkeypatch.setenv("GITHUB_TOKEN", "test-token-0123456789")

    assert run_dag({"mode": "sample", "sample_size": 10, "shards": 1}, LOGICAL_DATE).state == "success"

    (load,) = _events(lineage_file, "github_repositories.load", "COMPLETE")
    assert [(d["namespace"], d["name"]) for d in load["inputs"]] == [(ghes.base_url, "/repositories")]


def test_a_census_loads_lineage_names_the_census_tables_it_wrote(
    fake_github_factory, pipeline_env, run_dag, lineage_file: Path, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=100, seed=31)
    pipeline_env(fake.base_url)
    namespace, database = _postgres_name(pg_url)

    result = run_dag({"mode": "census", "since_id": fake.ids[29], "shards": 1}, LOGICAL_DATE)

    assert result.state == "success"
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        for table in ("census_cursor", "census_ranges"):
            cur.execute(f"SELECT count(*) FROM github.{table} WHERE run_id = %s", (result.run_id,))
            assert cur.fetchone()[0], f"the census wrote no row of github.{table}"
    (load,) = _events(lineage_file, "github_repositories.load", "COMPLETE")
    outputs = {d["name"]: d for d in load["outputs"] if d["namespace"] == namespace}
    for table in ("census_cursor", "census_ranges", "language_days"):
        assert outputs[f"{database}.github.{table}"]["facets"]["schema"]["fields"], table
