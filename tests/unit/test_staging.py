"""Staging through ObjectStoragePath, on a local folder and on S3 (moto server): one code path for both."""

from __future__ import annotations

import pytest

from github_etl.staging import RunStaging, iter_jsonl_uri, read_json_uri, safe_key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("manual__2026-11-01T00:00:00+00:00", "manual__2026-11-01T00_00_00_00_00"),
        ("scheduled__2026-11-01", "scheduled__2026-11-01"),
        ("../../etc/passwd", "etc_passwd"),
        ("", "_"),
    ],
)
def test_safe_key(raw: str, key: str) -> None:
    assert safe_key(raw) == key


def test_run_folder_is_partitioned_by_dag_and_run(staging_url: str) -> None:
    staging = RunStaging("github_repositories", "manual__2026-11-01T00:00:00+00:00", root=staging_url)
    uri = staging.write_json({"a": 1}, "plan.json")
    assert uri.startswith(
        staging_url.rstrip("/") + "/dag_id=github_repositories/run_id=manual__2026-11-01T00_00_00_00_00/"
    )
    assert read_json_uri(uri) == {"a": 1}
    assert staging.exists("plan.json") and not staging.exists("other.json")


def test_jsonl_round_trip_with_unicode(staging_url: str) -> None:
    staging = RunStaging("d", "r", root=staging_url)
    records = [{"id": 1, "description": "emoji 🚀, tab\t, newline\n"}, {"id": 2, "description": None}]
    uri = staging.write_jsonl(records, "raw", "s", "x.jsonl")
    assert list(iter_jsonl_uri(uri)) == records


def test_a_failed_write_leaves_no_file(staging_url: str) -> None:
    staging = RunStaging("d", "r", root=staging_url)
    with pytest.raises(RuntimeError), staging.writer("rows", "s.tsv") as handle:
        handle.write("partial")
        raise RuntimeError("crash mid-write")
    assert not staging.exists("rows", "s.tsv")
    if staging.path("rows").exists():
        assert list(staging.path("rows").iterdir()) == []


def test_default_root_is_a_folder_inside_the_project(monkeypatch) -> None:
    from github_etl.settings import PROJECT_ROOT

    monkeypatch.delenv("GITHUB_ETL_STAGING_URL", raising=False)
    staging = RunStaging("d", "r")
    assert staging.root_uri == (PROJECT_ROOT / ".staging").as_uri()
