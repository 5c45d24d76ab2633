"""The DAG on a CeleryExecutor Airflow with two workers: shards spread over both, one GitHub budget for all.

One cluster serves the module (starting it is the slow part); each test brings its own fake GitHub,
warehouse database and token, and points the cluster's connections at them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from github_etl.github.shared_budget import describe_url
from github_etl.settings import DAG_ID
from tests.fake_github import FakeGitHub
from tests.in_process import run_pipeline, warehouse_rows
from tools.airflow_processes import airflow_executable
from tools.celery_cluster import CeleryCluster

# One worker of make test's runs the module, so that its cluster of processes is started once, not once per
# worker that draws one of its tests.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(480), pytest.mark.xdist_group("celery")]

REDIS_URL = os.environ.get("GITHUB_ETL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BUDGET_PREFIX = "github_etl:budget:"
WORKERS = 2
# The machine has two cores: two workers with two slots each already oversubscribe it.
CONCURRENCY = 2
RUN_DEADLINE_SECONDS = 300.0
SAMPLE = {"mode": "sample", "sample_size": 40, "shards": 4}
# The second test's core window: GitHub's is an hour; these seconds outlast the hand-over from the plan
# task to the extract tasks, so the extract tasks start while the plan task's budget is spent.
SHORT_WINDOW_SECONDS = 10


def _fake_settings(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"repo_count": 1000, "seed": 11, "vanished_ratio": 0.05}
    settings.update(overrides)
    return settings


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(
            f"Redis (Celery broker and shared budget) is unreachable at {describe_url(REDIS_URL)} "
            f"({type(exc).__name__}); start one or set GITHUB_ETL_TEST_REDIS_URL"
        )
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="module")
def staging_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staging folder every worker of the cluster writes to."""
    return tmp_path_factory.mktemp("staging")


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str, staging_root: Path) -> Iterator[CeleryCluster]:
    """Two Celery workers sharing a staging folder and, through Redis, the GitHub budget."""
    unique = uuid.uuid4().hex[:8]
    with CeleryCluster(
        pg_server_url,
        broker_url=redis_url,
        workers=WORKERS,
        concurrency=CONCURRENCY,
        database=f"airflow_celery_{unique}",
        reset_database=True,
        drop_database_on_stop=True,
        # A queue of its own: another cluster on the same Redis cannot take these tasks.
        queue=f"github_etl_test_{unique}",
        scheduled_runs=False,
        # Nothing to finish gracefully after the last test.
        stop_timeout=5,
        remove_queue_on_stop=True,
        env={
            "GITHUB_ETL_STAGING_URL": staging_root.as_uri(),
            "GITHUB_ETL_RATE_LIMIT_STORE": redis_url,
        },
    ) as running:
        yield running


@pytest.fixture
def token(redis_url: str) -> Iterator[str]:
    """A token of this test alone (the fake accepts any), so no budget recorded elsewhere applies."""
    import redis

    value = f"celery-test-{uuid.uuid4().hex}"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{BUDGET_PREFIX}{FakeGitHub.fingerprint(value)}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def connect(cluster: CeleryCluster, pg_url: str, token: str) -> Iterator[Callable[[FakeGitHub], None]]:
    """Point the cluster's ``github_default`` at a fake and ``postgres_default`` at this test's database."""

    def point_at(fake: FakeGitHub) -> None:
        cluster.set_connections(
            {
                "github_default": {"conn_type": "http", "host": fake.base_url, "password": token},
                "postgres_default": pg_url,
            }
        )

    yield point_at
    cluster.set_connections({})


def _warehouse_rows(pg_url: str) -> list[tuple[int, int, str | None]]:
    import psycopg2

    connection = psycopg2.connect(pg_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, stargazers_count, language FROM github.repositories ORDER BY id")
            return cursor.fetchall()
    finally:
        connection.close()


def _workers_of(cluster: CeleryCluster, run_id: str, task_id: str) -> set[str]:
    """Names of the workers (``workerK`` of ``workerK@host``) that ran a task's instances."""
    return {
        (ti["hostname"] or "").split("@", 1)[0]
        for ti in cluster.task_instances(run_id)
        if ti["task_id"] == task_id and ti["state"] == "success"
    }


def _assert_loaded_exactly(fake: FakeGitHub, pg_url: str, expected_rows: int) -> None:
    rows = _warehouse_rows(pg_url)
    served = set(fake.ids)
    assert len(rows) == expected_rows
    assert [repo_id for repo_id, _, _ in rows if repo_id not in served or fake.is_vanished(repo_id)] == []
    mismatched = [
        (repo_id, stars, language)
        for repo_id, stars, language in rows
        if (stars, language) != (fake.repository(repo_id)["stargazers_count"], fake.repository(repo_id)["language"])
    ]
    assert mismatched == []


def test_shards_run_on_both_workers_and_load_exactly(
    cluster: CeleryCluster,
    fake_github_factory: Callable[..., FakeGitHub],
    connect: Callable[[FakeGitHub], None],
    pg_url: str,
) -> None:
    fake = fake_github_factory(**_fake_settings())
    connect(fake)

    run_id = cluster.trigger(SAMPLE)
    cluster.wait_for_run(run_id, timeout=RUN_DEADLINE_SECONDS)

    assert _workers_of(cluster, run_id, "extract") == {f"worker{n}" for n in range(1, WORKERS + 1)}
    _assert_loaded_exactly(fake, pg_url, SAMPLE["sample_size"])


def test_the_airflow_cli_reaches_the_cluster_with_its_home_alone(
    cluster: CeleryCluster,
    fake_github_factory: Callable[..., FakeGitHub],
    connect: Callable[[FakeGitHub], None],
    pg_url: str,
) -> None:
    """A run triggered as a deployer does, from another shell: AIRFLOW_HOME is all it says of the cluster."""
    fake = fake_github_factory(**_fake_settings())
    connect(fake)
    cluster.wait_for_dag()
    run_id = f"cli__{uuid.uuid4().hex[:8]}"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "AIRFLOW_HOME": str(cluster.home)}
    command = [airflow_executable(), "dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps(SAMPLE)]

    triggered = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)

    assert triggered.returncode == 0, triggered.stdout[-2000:] + triggered.stderr[-2000:]
    cluster.wait_for_run(run_id, timeout=RUN_DEADLINE_SECONDS)
    _assert_loaded_exactly(fake, pg_url, SAMPLE["sample_size"])


def _discovery_requests(fake: FakeGitHub, token: str) -> int:
    """Core requests the plan task of a sample run makes against this fake (its discovery is deterministic)."""
    from github_etl.extract.sample import discover_max_id
    from github_etl.github.client import GitHubClient

    client = GitHubClient(fake.base_url, [token])
    try:
        discover_max_id(client)
    finally:
        client.close()
    return client.api_requests


def test_workers_together_stay_within_one_shared_budget(
    cluster: CeleryCluster,
    fake_github_factory: Callable[..., FakeGitHub],
    connect: Callable[[FakeGitHub], None],
    pg_url: str,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan task spends the whole budget; extract tasks starting on either worker must wait for the reset.

    Without a shared store each new task process starts blind and spends a request GitHub refuses.
    """
    from tests.fake_github import ratelimit

    monkeypatch.setitem(ratelimit.WINDOW_SECONDS, ratelimit.CORE, SHORT_WINDOW_SECONDS)
    budget = _discovery_requests(fake_github_factory(**_fake_settings()), token)
    fake = fake_github_factory(**_fake_settings(rate_limit=budget))
    connect(fake)

    run_id = cluster.trigger(SAMPLE)
    cluster.wait_for_run(run_id, timeout=RUN_DEADLINE_SECONDS)

    core = [r for r in fake.requests if r.resource == ratelimit.CORE]
    refused = [(r.path, r.status, r.at) for r in core if r.fault == "rate_limited"]
    assert refused == [], (
        "a worker sent a request after the shared budget was spent: does GitHubHook use budget_store_from_env()?"
    )
    assert sum(r.counted for r in core) > budget, "the run fitted in one window: nothing was tested"
    assert len(_workers_of(cluster, run_id, "extract")) == WORKERS
    _assert_loaded_exactly(fake, pg_url, SAMPLE["sample_size"])


# The secondary-limit test: every request waits this long at the fake, so shards on both workers overlap in time.
SLOW_LATENCY_MS = 150
RETRY_AFTER_SECONDS = 5
# Small listing takes: each shard lists several pages, so its requests span the pause.
PAGED_SAMPLE = {**SAMPLE, "per_page_take": 2}
# How soon after the limited answer left the fake the pause is in Redis for every worker: a request that
# arrives later than this was sent by a task that ignored the pause (its slot's previous request, sent
# before the pause was known, waited SLOW_LATENCY_MS for its answer first).
PAUSE_KNOWN_WITHIN_SECONDS = 1.0


def test_a_secondary_limit_pauses_the_token_on_every_worker(
    cluster: CeleryCluster,
    fake_github_factory: Callable[..., FakeGitHub],
    connect: Callable[[FakeGitHub], None],
    pg_url: str,
    token: str,
) -> None:
    """A listing request gets a secondary limit while two extract tasks are mid-run; no task on either worker
    uses the token until Retry-After has passed, except requests already on their way when the answer came."""
    discovery = _discovery_requests(fake_github_factory(**_fake_settings()), token)
    fake = fake_github_factory(**_fake_settings(latency_ms=SLOW_LATENCY_MS))
    # The plan task's requests pass; the first listing requests of two extract tasks wait for each other, and
    # one of them gets the limit. However late a task starts, each of the two still has pages to list.
    fake.faults.update(
        {
            "retry_after_s": RETRY_AFTER_SECONDS,
            "rendezvous": {
                "parties": 2,
                "after": discovery,
                "resource": "core",
                "then": {"secondary_limit_next": 1, "secondary_limit_resource": "core"},
            },
        }
    )
    connect(fake)

    run_id = cluster.trigger(PAGED_SAMPLE)
    cluster.wait_for_run(run_id, timeout=RUN_DEADLINE_SECONDS)

    assert fake.faults.rendezvous_met, "two extract tasks never listed at the same time: nothing was tested"
    (limited,) = [r for r in fake.requests if r.fault == "secondary_limit"]
    pause_ends = limited.at + RETRY_AFTER_SECONDS
    during_pause = [
        (r.path, r.received_at - limited.at) for r in fake.requests if limited.at < r.received_at < pause_ends
    ]
    # At most the other three slots' requests were already sent when the answer came, and only just then:
    # none was sent once the pause was known.
    assert len(during_pause) <= WORKERS * CONCURRENCY - 1, during_pause
    assert [(path, offset) for path, offset in during_pause if offset > PAUSE_KNOWN_WITHIN_SECONDS] == []
    # The limited task alone lists again and enriches after the pause.
    after_pause = [r for r in fake.requests if r.received_at >= pause_ends]
    assert len(after_pause) > WORKERS * CONCURRENCY
    assert len(_workers_of(cluster, run_id, "extract")) == WORKERS
    _assert_loaded_exactly(fake, pg_url, SAMPLE["sample_size"])


APP_ID = 5150
INSTALLATION = 77


def test_workers_share_one_installation_token_and_no_secret_reaches_a_file(
    cluster: CeleryCluster,
    fake_github_factory: Callable[..., FakeGitHub],
    pg_url: str,
    redis_url: str,
    staging_root: Path,
    tmp_path: Path,
) -> None:
    """A GitHub App connection (its key in a file outside Airflow's home, as a mounted secret would be)."""
    import hashlib

    import redis

    from tests.fake_github.apps import generate_app_key

    private_key, public_key = generate_app_key()
    key_file = tmp_path / "app.pem"
    key_file.write_text(private_key)
    fake = fake_github_factory(**_fake_settings(apps={APP_ID: public_key}, installations={INSTALLATION: APP_ID}))
    extra = {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key_path": str(key_file)}
    cluster.set_connections(
        {"github_default": {"conn_type": "http", "host": fake.base_url, "extra": extra}, "postgres_default": pg_url}
    )
    installation = hashlib.sha256(f"{fake.base_url}|app:{APP_ID}|installation:{INSTALLATION}".encode()).hexdigest()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        run_id = cluster.trigger(SAMPLE)
        cluster.wait_for_run(run_id, timeout=RUN_DEADLINE_SECONDS)

        (shared,) = [client.get(k) for k in client.scan_iter(f"{BUDGET_PREFIX}secret:{installation[:12]}")]
    finally:
        keys = list(client.scan_iter(f"{BUDGET_PREFIX}*{installation[:12]}*"))
        if keys:
            client.delete(*keys)
        client.close()
        cluster.set_connections({})

    _assert_loaded_exactly(fake, pg_url, SAMPLE["sample_size"])
    # Every task process (plan and the extract tasks on both workers) used the one token minted first.
    (minted,) = fake.apps.issued_tokens()
    assert [r.status for r in fake.requests if r.path.startswith("/app/")] == [201]
    assert len(_workers_of(cluster, run_id, "extract")) == WORKERS
    secrets = [minted.encode(), *[line.encode() for line in private_key.splitlines() if len(line) > 40][:3]]
    assert minted not in shared, "Redis holds the token in clear"
    # Airflow's home holds the task logs; the staged files live apart from it.
    assert staging_root not in cluster.home.parents
    staged = [path for path in staging_root.rglob("*") if path.is_file()]
    assert staged, "the run staged nothing: nothing was searched"
    leaks = [
        str(path)
        for path in [*cluster.home.rglob("*"), *staged]
        if path.is_file() and any(secret in path.read_bytes() for secret in secrets)
    ]
    assert leaks == []


def test_a_range_crawl_on_two_workers_equals_the_one_worker_result(
    cluster: CeleryCluster,
    fake_github_factory: Callable[..., FakeGitHub],
    connect: Callable[[FakeGitHub], None],
    pg_url: str,
    second_pg_url: str,
    token: str,
    tmp_path,
) -> None:
    fake = fake_github_factory(**_fake_settings())
    connect(fake)
    census = {"mode": "census", "since_id": fake.ids[99], "until_id": fake.ids[899], "shards": 4}

    run_id = cluster.trigger(census)
    cluster.wait_for_run(run_id, timeout=RUN_DEADLINE_SECONDS)
    # The same run's tasks one after another in this process: what a single worker does.
    run_pipeline(
        fake.base_url,
        token,
        census,
        pg_url=second_pg_url,
        staging_url=tmp_path.as_uri(),
        run_id="one_worker",
        logical_date=datetime.now(UTC),
    )

    assert _workers_of(cluster, run_id, "extract") == {f"worker{n}" for n in range(1, WORKERS + 1)}
    rows = warehouse_rows(pg_url)
    assert rows == warehouse_rows(second_pg_url)
    assert {row[0] for row in rows} == {i for i in fake.ids[100:900] if fake.verdict(i) == "load"}


# Every request waits this long at the fake, so an extract shard is still listing and enriching for seconds
# after the restart is asked for.
RESTART_LATENCY_MS = 1000


def _running_extract(cluster: CeleryCluster, run_id: str, fake: FakeGitHub) -> dict[str, Any] | None:
    """An extract task instance running on a worker, once its shard's first listing page was asked for."""
    # The plan task lists one page to see whether GitHub has reached until_id: an extract's come after it.
    if sum(r.path.startswith("/repositories") for r in fake.requests) < 2:
        return None
    running = [ti for ti in cluster.task_instances(run_id) if ti["task_id"] == "extract" and ti["state"] == "running"]
    return running[0] if running and running[0]["hostname"] else None


def test_a_worker_restarted_mid_extract_lets_the_extract_finish(
    cluster: CeleryCluster,
    fake_github_factory: Callable[..., FakeGitHub],
    connect: Callable[[FakeGitHub], None],
    pg_url: str,
) -> None:
    """The SIGTERM of a stop or a rolling restart goes to the worker alone: a warm shutdown.

    Its pool's children, each a task's supervisor, share its process group and pass a SIGTERM straight on to
    their task: a signal to the group would fail the extract and spend one of its retries.
    """
    # Nothing vanished: each vanished repository costs its shard one more request, a second at this latency.
    fake = fake_github_factory(**_fake_settings(latency_ms=RESTART_LATENCY_MS, vanished_ratio=0))
    connect(fake)
    run_id = cluster.trigger({"mode": "census", "since_id": fake.ids[99], "until_id": fake.ids[899], "shards": 2})
    ti = cluster.processes.wait(
        lambda: _running_extract(cluster, run_id, fake), timeout=300, what="a mid-shard extract"
    )
    asked = time.time()

    cluster.restart_worker(int(ti["hostname"].split("@", 1)[0].removeprefix("worker")))

    (now,) = [
        t for t in cluster.task_instances(run_id) if (t["task_id"], t["map_index"]) == ("extract", ti["map_index"])
    ]
    log = cluster.task_log(run_id, "extract", ti["map_index"])
    assert (now["state"], now["try_number"]) == ("success", ti["try_number"]), f"{now}\n{log[-3000:]}"
    assert any(r.received_at > asked for r in fake.requests), (
        "the shard had ended before the restart: nothing was tested"
    )
    cluster.wait_for_run(run_id, timeout=RUN_DEADLINE_SECONDS)
    assert {row[0] for row in warehouse_rows(pg_url)} == {i for i in fake.ids[100:900] if fake.verdict(i) == "load"}
