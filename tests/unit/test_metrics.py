"""The pipeline's own metrics reach a StatsD server through Airflow's ``Stats``, as a task process sends them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from github_etl.extract.plan import plan_run, run_shard
from github_etl.github.client import GitHubClient
from github_etl.load import load_run
from github_etl.params import validate
from github_etl.settings import ClientSettings, QuotaReserve
from github_etl.staging import RunStaging, storage_path
from github_etl.tasks import transform_shard

TOKEN = "ghp_metrics_test_token_00001"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
FAST = ClientSettings(
    backoff_base=0.01, backoff_max=0.02, reset_jitter=0.01, read_timeout=5, quota_reserve=QuotaReserve(default=0.0)
)


@pytest.fixture
def statsd_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A UDP socket on 127.0.0.1 that Airflow's ``[metrics]`` points StatsD at, and ``Stats`` set up as
    Airflow's task runner sets it up in every task process."""
    from airflow.sdk._shared.observability.metrics import stats as shared_stats
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(server.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    # Restored after the test: other tests' tasks send nothing.
    monkeypatch.setattr(shared_stats, "_factory", shared_stats._factory)
    monkeypatch.setattr(shared_stats, "_backend", shared_stats._backend)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    try:
        yield server
    finally:
        server.close()


def _received(server: socket.socket) -> list[tuple[str, float, str]]:
    """``(name, value, type)`` of every datagram sent so far: a send to 127.0.0.1 is in the socket when it returns."""
    metrics = []
    while True:
        try:
            datagram = server.recv(65536).decode()
        except BlockingIOError:
            return metrics
        for line in datagram.splitlines():
            name, rest = line.split(":", 1)
            value, kind = rest.split("|")[:2]
            metrics.append((name, float(value), kind))


def _total(metrics: list[tuple[str, float, str]], name: str, kind: str = "c") -> float:
    return sum(value for n, value, k in metrics if n == f"airflow.{name}" and k == kind)


def test_a_run_sends_its_requests_budget_quarantine_and_load_counts_to_statsd(
    statsd_server, fake_github_factory, tmp_path, warehouse
) -> None:
    fake = fake_github_factory(repo_count=600, seed=3)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging("github_repositories", "manual__metrics", root=tmp_path.as_uri())
    params = validate({"mode": "census", "since_id": 0, "until_id": max(fake.ids), "shards": 1})
    (shard,) = plan_run(client, staging, params, logical_date=LOGICAL_DATE).shards
    malformed = sorted(fake.ids)[3]
    fake.set_repository(malformed, stargazers_count="a lot")
    fake.faults.next_errors = [502, 503]
    _received(statsd_server)

    extracted = run_shard(client, staging, shard)
    transformed = transform_shard(staging, extracted)
    loaded = load_run(
        warehouse,
        row_files=[storage_path(transformed.rows_uri)],
        key_files=[storage_path(transformed.keys_uri)],
        run_id="manual__metrics",
        dag_id="github_repositories",
        logical_date=LOGICAL_DATE,
        observed_at=datetime.fromisoformat(extracted.observed_at),
        mode="census",
        stats={},
    )

    metrics = _received(statsd_server)
    # Airflow's own (airflow.io.load_filesystems, say) go to the same server.
    assert {name for name, _, _ in metrics if ".github_etl." in name} == {
        "airflow.github_etl.extract.requests",
        "airflow.github_etl.extract.failed_requests",
        "airflow.github_etl.extract.repositories",
        "airflow.github_etl.rate_limit.remaining.core",
        "airflow.github_etl.rate_limit.remaining.graphql",
        "airflow.github_etl.transform.quarantined",
        "airflow.github_etl.load.inserted",
        "airflow.github_etl.load.duration",
    }, metrics
    assert _total(metrics, "github_etl.extract.requests") == extracted.api_requests
    assert _total(metrics, "github_etl.extract.failed_requests") == extracted.failed_requests == 2
    assert _total(metrics, "github_etl.extract.repositories") == extracted.enriched + extracted.skipped > 500
    core_left = [value for name, value, kind in metrics if name.endswith("remaining.core") and kind == "g"]
    assert 0 < core_left[-1] < 5000
    assert _total(metrics, "github_etl.transform.quarantined") == transformed.rejected == 1
    assert _total(metrics, "github_etl.load.inserted") == loaded.inserted == transformed.rows
    assert [kind for name, _, kind in metrics if name == "airflow.github_etl.load.duration"] == ["ms"]
    assert not [m for m in metrics if TOKEN in m[0]]


def test_a_transform_run_again_does_not_count_its_quarantined_records_twice(
    statsd_server, fake_github_factory, tmp_path
):
    # Retried (its result never reached the API server) or cleared with the extract: the same records.
    fake = fake_github_factory(repo_count=50, seed=3)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging("github_repositories", "manual__metrics", root=tmp_path.as_uri())
    params = validate({"mode": "census", "since_id": 0, "until_id": max(fake.ids), "shards": 1})
    (shard,) = plan_run(client, staging, params, logical_date=datetime(2026, 11, 1, tzinfo=UTC)).shards
    fake.set_repository(sorted(fake.ids)[3], stargazers_count="a lot")
    extracted = run_shard(client, staging, shard)
    _received(statsd_server)

    first = transform_shard(staging, extracted)
    again = transform_shard(staging, extracted)  # the same task instance retried, or cleared

    assert first.rejected == again.rejected == 1
    assert _total(_received(statsd_server), "github_etl.transform.quarantined") == 1


def test_a_transform_that_failed_staging_its_rows_leaves_its_quarantine_to_be_counted_by_the_retry(
    statsd_server, fake_github_factory, tmp_path, monkeypatch
):
    """The first attempt quarantined the records, then failed publishing its row file (a full disk, an upload
    that broke): it counted nothing, so the retry counts them, once."""
    import errno
    import os

    import github_etl.staging as staging_module
    from github_etl.errors import StagingFullError

    fake = fake_github_factory(repo_count=50, seed=3)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging("github_repositories", "manual__metrics", root=tmp_path.as_uri())
    params = validate({"mode": "census", "since_id": 0, "until_id": max(fake.ids), "shards": 1})
    (shard,) = plan_run(client, staging, params, logical_date=LOGICAL_DATE).shards
    fake.set_repository(sorted(fake.ids)[3], stargazers_count="a lot")
    extracted = run_shard(client, staging, shard)
    _received(statsd_server)
    publish = os.replace

    def disk_full_for_the_rows(source: str, target: str) -> None:
        if f"/rows/{shard.key}.tsv" in str(target):
            raise OSError(errno.ENOSPC, "No space left on device")
        publish(source, target)

    with monkeypatch.context() as full:
        full.setattr(staging_module.os, "replace", disk_full_for_the_rows)
        with pytest.raises(StagingFullError):
            transform_shard(staging, extracted)
    retried = transform_shard(staging, extracted)

    assert retried.rejected == 1
    assert _total(_received(statsd_server), "github_etl.transform.quarantined") == 1
