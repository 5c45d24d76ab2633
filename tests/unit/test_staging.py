"""Staging through ObjectStoragePath, on a local folder and on S3 (moto server): one code path for both."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from github_etl.errors import StagingFullError
from github_etl.staging import RunStaging, iter_jsonl_uri, read_json_uri, safe_key, staged_json
from tests.fixtures.s3 import FAKE_AWS_KEY, STAGING_BUCKET, moto_client

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


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


def test_a_gz_file_is_staged_compressed_and_read_back_as_github_sent_it(staging_url: str) -> None:
    staging = RunStaging("d", "r", root=staging_url)
    page = [{"id": 1, "description": "emoji 🚀, tab\t, a lone \ud800 surrogate", "url": "https://x/" * 50}] * 50

    uri = staging.write_json(page, "raw", "s", "listing-000000.json.gz")

    with staging.path("raw", "s", "listing-000000.json.gz").open("rb") as handle:
        stored = handle.read()
    assert stored[:2] == b"\x1f\x8b", "not gzip"
    assert len(stored) * 10 < len(staged_json(page))
    assert read_json_uri(uri) == page


def test_a_runs_github_pages_are_staged_in_a_fraction_of_their_json(tmp_path: Path) -> None:
    """A listing page is about 400 KB of JSON repeating the same URLs; S3 and local disks held each whole."""
    from github_etl.extract.plan import plan_run, run_shard
    from github_etl.github.client import GitHubClient
    from github_etl.params import validate
    from tests.fake_github import FakeGitHub
    from tests.in_process import FAST

    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    with FakeGitHub(repo_count=600, seed=3) as fake:
        client = GitHubClient(fake.base_url, ["ghp_staging_test_token_000000000"], settings=FAST)
        plan = plan_run(client, staging, validate({"sample_size": 300, "shards": 1}), logical_date=NOV_1)
        run_shard(client, staging, plan.shards[0])

    pages = sorted(Path(staging.path("raw").path).glob("*/[lr]*"))
    assert {page.name.split("-")[0] for page in pages} == {"listing", "repos"}
    stored = sum(page.stat().st_size for page in pages)
    as_json = sum(len(staged_json(read_json_uri(f"file://{page}"))) for page in pages)
    assert stored * 5 < as_json, f"{stored:,} bytes staged for {as_json:,} bytes of JSON"


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
    assert staging.root_uri == f"file://{PROJECT_ROOT / '.staging'}"


def test_a_missing_bucket_is_refused_not_created(s3_staging_url: str) -> None:

    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    root = s3_staging_url.replace(STAGING_BUCKET, "no-such-bucket")
    with pytest.raises(ConfigurationError, match=r"s3://aws_default@no-such-bucket/.* does not exist.*'aws_default'"):
        check_staging_root(root)
    with pytest.raises(FileNotFoundError):
        RunStaging("d", "r", root=root).write_json({"a": 1}, "plan.json")
    endpoint = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"]
    s3 = moto_client("s3", endpoint)
    assert "no-such-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_rejected_credentials_are_a_configuration_error(s3_staging_url: str, monkeypatch) -> None:
    from moto import settings

    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    # moto checks credentials once this count of unauthenticated requests is reached; none are known to it.
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with pytest.raises(ConfigurationError, match=r"refused to look a file up.*'aws_default'"):
        check_staging_root(s3_staging_url)


def test_a_store_connection_airflow_cannot_read_is_refused_not_replaced_by_the_machines_credentials(
    monkeypatch,
) -> None:
    """An AWS secret key holding '/' as typed makes the URI unreadable; Airflow's S3 would go on without it."""
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root
    from tests.ports import closed_port

    # Where Airflow's S3 would go on with the machine's own credentials: this machine, nothing listening.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://AKIAEXAMPLE:wJalr/S3cretKey@")

    with pytest.raises(ConfigurationError, match="AIRFLOW_CONN_AWS_DEFAULT is set, but Airflow cannot read") as refused:
        check_staging_root("s3://aws_default@bucket/runs")
    assert "S3cret" not in str(refused.value) and "wJalr" not in str(refused.value)


def test_a_writable_root_passes_and_keeps_no_probe(staging_url: str) -> None:
    from github_etl.staging import check_staging_root, storage_path

    check_staging_root(staging_url)
    root = storage_path(staging_url)
    assert not root.exists() or list(root.iterdir()) == []


@pytest.fixture(autouse=True)
def fresh_filesystems(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's connection is read afresh, as in a task's own process: Airflow keeps one filesystem per
    connection id for the life of a process."""
    monkeypatch.setattr("airflow.sdk.io.store._STORE_CACHE", {})


@pytest.fixture
def aws_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's own endpoint is a closed local port: S3 reached without the connection fails fast, offline."""
    from tests.ports import closed_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_AWS_KEY)


def test_a_url_without_a_connection_stages_through_aws_default(s3_staging_url: str, aws_elsewhere: None) -> None:
    from github_etl.staging import check_staging_root

    # The AWS form, s3://bucket/prefix: the amazon provider's default connection holds the endpoint.
    root = s3_staging_url.replace("s3://aws_default@", "s3://")
    check_staging_root(root)
    staging = RunStaging("d", "r", root=root)
    assert staging.root_uri == s3_staging_url
    assert read_json_uri(staging.write_json({"a": 1}, "plan.json")) == {"a": 1}


def test_a_connection_the_url_names_must_be_defined(s3_staging_url: str, aws_elsewhere: None) -> None:
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    root = s3_staging_url.replace("s3://aws_default@", "s3://aws_staging@")
    with pytest.raises(ConfigurationError, match=r"'aws_staging' that GITHUB_ETL_STAGING_URL names is not defined"):
        check_staging_root(root)


@pytest.mark.parametrize("form", ["uri", "json"])
def test_an_endpoint_given_as_the_connection_host_is_refused(
    s3_staging_url: str, aws_elsewhere: None, monkeypatch, form: str
) -> None:
    from urllib.parse import urlsplit

    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    endpoint = urlsplit(_endpoint()).netloc
    connection = (
        f"aws://{FAKE_AWS_KEY}:{FAKE_AWS_KEY}@{endpoint}/"
        if form == "uri"
        else json.dumps({"conn_type": "aws", "login": FAKE_AWS_KEY, "password": FAKE_AWS_KEY, "host": endpoint})
    )
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection)
    with pytest.raises(ConfigurationError, match=r"'aws_default' has the host .* ignores: .* \"endpoint_url\""):
        check_staging_root(s3_staging_url)


def test_a_bucket_name_s3_refuses_is_a_configuration_error(s3_staging_url: str) -> None:
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    with pytest.raises(ConfigurationError, match=r"cannot be named so \(.*Invalid bucket name \"github etl\""):
        check_staging_root(s3_staging_url.replace(STAGING_BUCKET, "github etl"))


def test_an_endpoint_that_does_not_answer_is_named_and_left_to_the_retries(
    s3_staging_url: str, aws_elsewhere: None, monkeypatch
) -> None:
    from github_etl.errors import FINAL_ERRORS, StagingUnavailableError
    from github_etl.staging import check_staging_root
    from tests.ports import closed_port

    # One attempt: botocore would retry the refused connection a few times before giving up.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    down = f"http://127.0.0.1:{closed_port()}"
    connection = {"conn_type": "aws", "login": FAKE_AWS_KEY, "password": FAKE_AWS_KEY, "extra": {"endpoint_url": down}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    with pytest.raises(StagingUnavailableError, match=r"did not answer .*endpoint_url of the connection 'aws_default'"):
        check_staging_root(s3_staging_url)
    assert not issubclass(StagingUnavailableError, FINAL_ERRORS)


def test_an_unreadable_aws_connection_is_named(s3_staging_url: str, aws_elsewhere: None, monkeypatch) -> None:
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", '{"conn_type": "aws", "login": "AKIA", ')
    with pytest.raises(ConfigurationError, match=r"AIRFLOW_CONN_AWS_DEFAULT is set, but it is not valid JSON"):
        check_staging_root(s3_staging_url)


def test_an_aws_profile_that_does_not_exist_is_a_configuration_error(
    s3_staging_url: str, monkeypatch, tmp_path
) -> None:
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    config = tmp_path / "aws-config"
    config.write_text("[profile etl]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "etl-typo")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": _endpoint(), "region_name": "us-east-1"}}),
    )
    with pytest.raises(ConfigurationError, match=r"profile \(etl-typo\) could not be found.*AWS_PROFILE"):
        check_staging_root(s3_staging_url)


# What the staging probe asks of S3, step by step: a role lacking one permission is refused at that step.
READ_ONLY = ["s3:ListBucket", "s3:GetObject"]
NO_LIST = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
NO_DELETE = ["s3:ListBucket", "s3:GetObject", "s3:PutObject"]


@pytest.mark.parametrize(
    ("actions", "refusal"),
    [
        (NO_LIST, r"refused to look a file up .* s3:ListBucket on the bucket"),
        (READ_ONLY, r"refused to write a file .* s3:PutObject"),
    ],
)
def test_a_role_without_a_permission_the_run_needs_is_refused_at_once(
    s3_staging_url: str, monkeypatch, actions: list[str], refusal: str
) -> None:
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    _role_with(actions, monkeypatch)
    with pytest.raises(ConfigurationError, match=refusal + r".*'aws_default'"):
        check_staging_root(s3_staging_url)


def test_a_role_that_may_not_delete_passes_and_says_the_probe_stays(s3_staging_url: str, monkeypatch, caplog) -> None:
    from github_etl.staging import check_staging_root, storage_path

    _role_with(NO_DELETE, monkeypatch)
    with caplog.at_level("WARNING", logger="github_etl.staging"):
        check_staging_root(s3_staging_url)
    assert "refused to delete the probe file" in caplog.text
    monkeypatch.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    assert next(path.name for path in storage_path(s3_staging_url).iterdir()).startswith(".github-etl-probe-")


def test_a_role_refused_after_prepare_fails_the_task_at_once_naming_the_connection(
    s3_staging_url: str, monkeypatch
) -> None:
    """prepare's probe passed on its worker; another worker's role (or a policy changed since) is refused."""
    from github_etl.errors import FINAL_ERRORS
    from github_etl.staging import RunStaging, staged_files_of

    staging = RunStaging("d", "r", root=s3_staging_url)
    staging.write_json({}, "plan.json")
    _role_with(["s3:ListBucket"], monkeypatch)

    with (
        pytest.raises(FINAL_ERRORS, match=r"refused this task .*'aws_default'.*s3:GetObject"),
        staged_files_of(staging),
    ):
        staging.read_json("plan.json")


def _endpoint() -> str:
    return json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"]


def _role_with(actions: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``aws_default`` log in as a new IAM user allowed only ``actions`` on the staging bucket, and make
    moto enforce IAM from then on."""
    import uuid

    endpoint = _endpoint()
    iam = moto_client("iam", endpoint)
    user = f"staging-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    resources = [f"arn:aws:s3:::{STAGING_BUCKET}", f"arn:aws:s3:::{STAGING_BUCKET}/*"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}
    iam.put_user_policy(UserName=user, PolicyName="staging", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    connection = {
        "conn_type": "aws",
        "login": key["AccessKeyId"],
        "password": key["SecretAccessKey"],
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    monkeypatch.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", 0)


@pytest.mark.parametrize("gone", ["plan.json", "raw/s/done.json"])
def test_a_staged_file_that_is_gone_is_a_final_error_saying_what_to_clear(staging_url: str, gone: str) -> None:
    from github_etl.errors import FINAL_ERRORS, StagedFileGoneError
    from github_etl.staging import staged_files_of

    staging = RunStaging("d", "scheduled__2026-01-01", root=staging_url)
    # A local folder's file is gone when the task that wrote it ran on another machine; S3's, by its lifecycle.
    why = "another machine" if staging_url.startswith("file:") else "lifecycle rule"
    expected = rf"run scheduled__2026-01-01 .*{why}.*clear the run's plan"
    with pytest.raises(StagedFileGoneError, match=expected), staged_files_of(staging):
        staging.read_json(*gone.split("/"))
    assert issubclass(StagedFileGoneError, FINAL_ERRORS)


@pytest.mark.parametrize("damage", ["cut-short", "not-json"])
def test_a_staged_file_that_cannot_be_read_is_a_final_error_naming_it_and_what_to_clear(
    staging_url: str, damage: str
) -> None:
    from github_etl.errors import FINAL_ERRORS, StagedFileDamagedError
    from github_etl.staging import staged_files_of, storage_path

    staging = RunStaging("d", "scheduled__2026-01-01", root=staging_url)
    staging.write_json({"items": [{"id": n} for n in range(100)]}, "raw", "s", "repos.json.gz")
    staged = storage_path(uri := staging.uri("raw", "s", "repos.json.gz"))
    whole = staged.read_bytes()
    staged.write_bytes(whole[: len(whole) // 2] if damage == "cut-short" else gzip.compress(b'{"items": [{"id": 1,'))

    with (
        pytest.raises(StagedFileDamagedError, match=rf"{re.escape(uri)} cannot be read .*clear the run's plan"),
        staged_files_of(staging),
    ):
        staging.read_json("raw", "s", "repos.json.gz")
    assert issubclass(StagedFileDamagedError, FINAL_ERRORS)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Callable[..., Path]]:
    """A 64 KiB tmpfs at ``tmp_path/disk``; the callable remounts it with other options (``size=1m``, ``ro``)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")

    def remount(options: str) -> Path:
        subprocess.run(["mount", "-o", f"remount,{options}", str(disk)], check=True)
        return disk

    try:
        yield remount
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.mark.parametrize("where", ["local folder", "upload spool"])
def test_a_full_or_read_only_disk_is_named_and_a_retry_after_space_is_freed_stages_the_whole_file(
    small_disk, request, monkeypatch, where: str
) -> None:
    disk = small_disk("size=64k")
    if where == "local folder":
        root, names = disk.as_uri(), ["the staging folder", "GITHUB_ETL_STAGING_URL"]
    else:
        # An object store's file is spooled in the temporary folder, then uploaded once complete.
        monkeypatch.setattr(tempfile, "tempdir", str(disk))
        root, names = request.getfixturevalue("s3_staging_url"), [f"the local temporary folder {disk}", "TMPDIR"]
    staging = RunStaging("d", "r", root=root)
    page = [{"id": i, "description": "x" * 200} for i in range(1000)]  # about 220 KB

    with pytest.raises(StagingFullError) as full:
        staging.write_json(page, "raw", "s", "listing-000000.json")

    assert "is full (No space left on device). Free space there" in str(full.value)
    assert all(name in str(full.value) for name in names), full.value
    assert not staging.exists("raw", "s", "listing-000000.json")
    assert [p.name for p in disk.rglob("*") if p.is_file()] == []  # no part of the file left behind
    small_disk("size=1m")
    staging.write_json(page, "raw", "s", "listing-000000.json")
    assert staging.read_json("raw", "s", "listing-000000.json") == page

    small_disk("ro")
    with pytest.raises(StagingFullError, match=r"is read-only \(Read-only file system\)\. Remount it read-write"):
        staging.write_json(page, "raw", "s", "listing-000001.json")


def test_a_json_lines_file_cut_short_is_a_damaged_staged_file_naming_it_and_the_line(tmp_path) -> None:
    """A final error naming the file: another try reads the same bytes (a JSONDecodeError would be retried)."""
    from github_etl.errors import StagedFileDamagedError
    from github_etl.staging import iter_jsonl_uri

    staged = tmp_path / "gone.jsonl"
    staged.write_text('[1, "not_found"]\n[12345, "not_fou', encoding="utf-8")

    with pytest.raises(StagedFileDamagedError, match=r"gone\.jsonl \(line 2\) cannot be read"):
        list(iter_jsonl_uri(staged.as_uri()))


def test_default_staging_of_a_project_whose_path_has_a_space_or_an_accent_stays_inside_the_project(
    monkeypatch, tmp_path
):
    """The default was the folder's file:// URI, whose escapes the store took as the name: with the project in
    "My Projects é" files went to a new "My%20Projects%20%C3%A9" tree beside it, which make clean never removes."""
    import github_etl.settings as settings

    monkeypatch.delenv("GITHUB_ETL_STAGING_URL", raising=False)
    project = tmp_path / "My Projects é" / "github-etl"
    project.mkdir(parents=True)
    monkeypatch.setattr(settings, "PROJECT_ROOT", project)

    RunStaging("github_repositories", "manual__2026-01-01").write_json({"a": 1}, "probe.json")

    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("probe.json")) == [
        Path("My Projects é/github-etl/.staging/dag_id=github_repositories/run_id=manual__2026-01-01/probe.json")
    ]


def test_a_file_url_with_escapes_names_the_folder_it_escapes(tmp_path):
    """file:///srv/my%20staging is the folder "/srv/my staging", as any URL reader takes it."""
    folder = tmp_path / "my staging"

    RunStaging("d", "r", root=folder.as_uri()).write_json({"a": 1}, "probe.json")

    assert (folder / "dag_id=d" / "run_id=r" / "probe.json").exists()
    assert not any("%20" in str(p) for p in tmp_path.rglob("*"))
