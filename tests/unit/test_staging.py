"""Staging through ObjectStoragePath, on a local folder and on S3 (moto server): one code path for both."""

from __future__ import annotations

import json
import os

import pytest

from github_etl.staging import RunStaging, iter_jsonl_uri, read_json_uri, safe_key, staged_json


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
    with staging.writer("raw", "s", "x.jsonl") as handle:
        handle.writelines(staged_json(record) + "\n" for record in records)
    uri = staging.uri("raw", "s", "x.jsonl")
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


def test_a_missing_bucket_is_refused_not_created(s3_staging_url: str) -> None:
    import boto3

    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root
    from tests.fixtures.s3 import FAKE_AWS_KEY, STAGING_BUCKET

    root = s3_staging_url.replace(STAGING_BUCKET, "no-such-bucket")
    with pytest.raises(ConfigurationError, match=r"s3://aws_default@no-such-bucket/.* does not exist.*'aws_default'"):
        check_staging_root(root)
    with pytest.raises(FileNotFoundError):
        RunStaging("d", "r", root=root).write_json({"a": 1}, "plan.json")
    endpoint = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_AWS_KEY,
        aws_secret_access_key=FAKE_AWS_KEY,
        region_name="us-east-1",
    )
    assert "no-such-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_rejected_credentials_are_a_configuration_error(s3_staging_url: str, monkeypatch) -> None:
    from moto import settings

    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    # moto checks credentials once this count of unauthenticated requests is reached; none are known to it.
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with pytest.raises(ConfigurationError, match=r"refused access.*'aws_default'"):
        check_staging_root(s3_staging_url)


def test_a_writable_root_passes_and_keeps_no_probe(staging_url: str) -> None:
    from github_etl.staging import check_staging_root, storage_path

    check_staging_root(staging_url)
    root = storage_path(staging_url)
    assert not root.exists() or list(root.iterdir()) == []
