"""Stopping a worker of the Celery cluster tool lets the task it runs finish (a warm shutdown): docs/scaling.md."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_github import FakeGitHub
from tools.celery_cluster import CeleryCluster
from tools.waiting import poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900), pytest.mark.xdist_group("celery")]

REDIS_URL = os.environ.get("GITHUB_ETL_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
BUDGET_PREFIX = "github_etl:budget:"
# Each request waits this long at the fake, so one extract shard takes tens of seconds.
LATENCY_MS = 1000


def _fake(factory: Callable[..., FakeGitHub]) -> FakeGitHub:
    return factory(repo_count=3000, seed=11, vanished_ratio=0.05, latency_ms=LATENCY_MS)


def _census(fake: FakeGitHub) -> dict[str, Any]:
    return {"mode": "census", "since_id": fake.ids[99], "until_id": fake.ids[1899], "shards": 2}


@pytest.fixture
def make_cluster(pg_server_url: str, pg_url: str, tmp_path: Path) -> Iterator[Callable[..., CeleryCluster]]:
    started: list[tuple[CeleryCluster, str]] = []
    token = f"celery-warm-{uuid.uuid4().hex}"

    def make(
        fake: FakeGitHub, broker: str = REDIS_URL, cls: type[CeleryCluster] = CeleryCluster, **env: str
    ) -> CeleryCluster:
        unique = uuid.uuid4().hex[:8]
        cluster = cls(
            pg_server_url,
            broker_url=broker,
            workers=2,
            concurrency=1,
            database=f"airflow_celery_warm_{unique}",
            reset_database=True,
            drop_database_on_stop=True,
            queue=f"github_etl_warm_{unique}",
            scheduled_runs=False,
            stop_timeout=5,
            remove_queue_on_stop=True,
            env={
                "GITHUB_ETL_STAGING_URL": (tmp_path / "staging").as_uri(),
                "GITHUB_ETL_RATE_LIMIT_STORE": REDIS_URL,
                # A dead worker's tasks are failed (and retried) after this many seconds, not 300.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                **env,
            },
        )
        cluster.start()
        started.append((cluster, token))
        cluster.set_connections(
            {
                "github_default": {"conn_type": "http", "host": fake.base_url, "password": token},
                "postgres_default": pg_url,
            }
        )
        return cluster

    try:
        yield make
    finally:
        import psutil
        import redis

        for cluster, _ in started:
            # Task processes orphaned by a killed worker: no longer any cluster process's descendant.
            for proc in psutil.process_iter(["pid"]):
                try:
                    if proc.environ().get("AIRFLOW_HOME") == str(cluster.home) and proc.pid != os.getpid():
                        proc.kill()
                except (psutil.Error, OSError):
                    pass
            cluster.stop()
        client = redis.Redis.from_url(REDIS_URL)
        # Messages of tasks a killed worker held stay in kombu's unacked hash, to be restored in 24 h.
        queues = [cluster.queue for cluster, _ in started]
        for tag, message in client.hgetall("unacked").items():
            if any(queue.encode() in message for queue in queues):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        keys = list(client.scan_iter(f"{BUDGET_PREFIX}{FakeGitHub.fingerprint(token)}*"))
        if keys:
            client.delete(*keys)
        client.close()


def _running_extract(cluster: CeleryCluster, run_id: str, fake: FakeGitHub) -> dict[str, Any] | None:
    """An extract task instance running on a worker, once the fake has answered a few of the shards' requests."""
    listing = [r for r in fake.requests if r.path.startswith("/repositories")]
    if len(listing) < 2:
        return None
    running = [ti for ti in cluster.task_instances(run_id) if ti["task_id"] == "extract" and ti["state"] == "running"]
    return running[0] if running and running[0]["hostname"] else None


def _worker(cluster: CeleryCluster, hostname: str) -> Any:
    name = hostname.split("@", 1)[0]
    (process,) = [p for p in cluster.processes._processes if p.name == name]
    return process


def test_a_worker_stopped_mid_extract_lets_the_extract_finish(
    make_cluster: Callable[..., CeleryCluster], fake_github_factory: Callable[..., FakeGitHub], pg_url: str
) -> None:
    # Its pool's children, each a task's supervisor, share its process group and pass a SIGTERM straight on to
    # their task: a signal to the group would fail the extract and spend one of its retries.
    fake = _fake(fake_github_factory)
    cluster = make_cluster(fake)
    run_id = cluster.trigger(_census(fake))
    ti = poll(lambda: _running_extract(cluster, run_id, fake), timeout=300, what="an extract mid-shard")

    # What the cluster's stop asks of each worker; the scheduler and API server stay up to record the end.
    _worker(cluster, ti["hostname"]).terminate()

    def ended() -> dict[str, Any] | None:
        (now,) = [
            t for t in cluster.task_instances(run_id) if (t["task_id"], t["map_index"]) == ("extract", ti["map_index"])
        ]
        return now if now["state"] not in ("running", "queued", "scheduled") else None

    now = poll(ended, timeout=300, what="the extract to end")
    log = cluster.task_log(run_id, "extract", ti["map_index"])
    assert (now["state"], now["try_number"]) == ("success", ti["try_number"]), f"{now}\n{log[-3000:]}"
