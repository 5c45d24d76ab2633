"""Scaling of the extraction over Celery workers: one DAG run per worker count against a slow fake GitHub.

For each worker count a fresh CeleryExecutor cluster (:mod:`tools.celery_cluster`) runs
``github_repositories`` in ``sample`` mode against the fake GitHub answering every request after
``latency_ms``. The GitHub connection has no token, so every sampled repository costs one small REST
call (``GET /repositories/{id}``), and ``shards=8`` gives the workers enough independent tasks: the
extraction waits on the network, as it does against GitHub, rather than on this machine's CPUs.
Throughput is sampled repositories per second of the extract phase (first extract start to last
extract end); the whole run's duration is reported beside it.

Usage::

    .venv/bin/python bench/celery_bench.py [--workers 1 2 4] [--latency-ms 50] [--sample-size 3200]

``GITHUB_ETL_BENCH_POSTGRES_URL`` names the PostgreSQL server for the metadata and warehouse databases
(default: the local one, as ``postgres``; the role must be allowed to create databases);
``GITHUB_ETL_BENCH_BROKER_URL`` the Celery broker (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psycopg2 import sql

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]

from tests.fake_github import FakeGitHub  # noqa: E402
from tests.fixtures.postgres import execute_autocommit  # noqa: E402
from tools.celery_cluster import DEFAULT_BROKER_URL, CeleryCluster, database_url  # noqa: E402

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Two slots per worker: the reference machine has two cores.
CONCURRENCY = 2
SHARDS = 8
TARGET_TWO_WORKER_RATIO = 1.8
RUN_TIMEOUT_SECONDS = 900.0
# Far above what a run spends, so no rate-limit wait distorts the figures.
BENCH_RATE_LIMIT = 1_000_000
FAKE_REPOSITORIES = 20_000


def _unmetered_fake(latency_ms: float) -> FakeGitHub:
    """A started fake whose anonymous budget (60 an hour, as GitHub's) does not limit a benchmark run."""
    from tests.fake_github import ratelimit

    metered = dict(ratelimit.ANONYMOUS_LIMITS)
    # The fake copies the anonymous limits when it is built; the module's table is restored right after.
    ratelimit.ANONYMOUS_LIMITS[ratelimit.CORE] = BENCH_RATE_LIMIT
    try:
        fake = FakeGitHub(repo_count=FAKE_REPOSITORIES, seed=3, latency_ms=latency_ms, rate_limit=BENCH_RATE_LIMIT)
    finally:
        ratelimit.ANONYMOUS_LIMITS.update(metered)
    fake.start()
    return fake


def _one_run(server_url: str, broker_url: str, workers: int, latency_ms: float, sample_size: int) -> dict[str, Any]:
    """Start a cluster with ``workers`` workers, run the DAG once, return its timings."""
    unique = uuid.uuid4().hex[:8]
    warehouse = f"github_etl_bench_{unique}"
    fake = _unmetered_fake(latency_ms)
    execute_autocommit(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(warehouse)))
    try:
        with tempfile.TemporaryDirectory(prefix="github-etl-bench-staging-") as staging:
            env = {
                "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps({"conn_type": "http", "host": fake.base_url}),
                "AIRFLOW_CONN_POSTGRES_DEFAULT": database_url(server_url, warehouse),
                "GITHUB_ETL_STAGING_URL": Path(staging).as_uri(),
            }
            with CeleryCluster(
                server_url,
                broker_url=broker_url,
                workers=workers,
                concurrency=CONCURRENCY,
                database=f"airflow_celery_bench_{unique}",
                reset_database=True,
                drop_database_on_stop=True,
                queue=f"github_etl_bench_{unique}",
                pool_slots=workers * CONCURRENCY,
                scheduled_runs=False,
                remove_queue_on_stop=True,
                env=env,
            ) as cluster:
                conf = {"mode": "sample", "sample_size": sample_size, "shards": SHARDS}
                run_id = cluster.trigger(conf)
                cluster.wait_for_run(run_id, timeout=RUN_TIMEOUT_SECONDS)
                (extract_seconds,) = cluster.query(
                    "SELECT EXTRACT(EPOCH FROM max(end_date) - min(start_date)) FROM task_instance "
                    "WHERE run_id = %s AND task_id = 'extract'",
                    (run_id,),
                )[0]
                (run_seconds,) = cluster.query(
                    "SELECT EXTRACT(EPOCH FROM end_date - start_date) FROM dag_run WHERE run_id = %s", (run_id,)
                )[0]
                hosts = cluster.query(
                    "SELECT count(DISTINCT hostname) FROM task_instance WHERE run_id = %s AND task_id = 'extract'",
                    (run_id,),
                )[0][0]
    finally:
        fake.stop()
        execute_autocommit(
            server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(warehouse))
        )
    extract_seconds, run_seconds = float(extract_seconds), float(run_seconds)
    return {
        "workers": workers,
        "slots": workers * CONCURRENCY,
        "workers_used": hosts,
        "api_requests": len(fake.requests),
        "extract_seconds": round(extract_seconds, 2),
        "run_seconds": round(run_seconds, 2),
        "repositories_per_second": round(sample_size / extract_seconds, 2),
        "run_repositories_per_second": round(sample_size / run_seconds, 2),
    }


def run(
    workers: Sequence[int] = (1, 2, 4),
    latency_ms: float = 50.0,
    sample_size: int = 3200,
    *,
    server_url: str | None = None,
    broker_url: str | None = None,
) -> dict[str, Any]:
    """One DAG run per worker count; throughput and ratios to the first (smallest) count.

    :param workers: worker counts to measure, each on a fresh cluster.
    :param latency_ms: the fake GitHub's delay per request.
    :param sample_size: repositories sampled per run (one REST call each).
    :param server_url: PostgreSQL server for the metadata and warehouse databases.
    :param broker_url: Celery broker.
    """
    server_url = server_url or os.environ.get("GITHUB_ETL_BENCH_POSTGRES_URL", DEFAULT_SERVER_URL)
    broker_url = broker_url or os.environ.get("GITHUB_ETL_BENCH_BROKER_URL", DEFAULT_BROKER_URL)
    results = [_one_run(server_url, broker_url, count, latency_ms, sample_size) for count in sorted(workers)]
    baseline = results[0]["repositories_per_second"]
    for result in results:
        result["ratio"] = round(result["repositories_per_second"] / baseline, 2)
    by_count = {result["workers"]: result for result in results}
    report = {
        "latency_ms": latency_ms,
        "sample_size": sample_size,
        "shards": SHARDS,
        "concurrency": CONCURRENCY,
        "results": by_count,
        "target": f"2 workers >= {TARGET_TWO_WORKER_RATIO}x 1 worker",
    }
    if 1 in by_count and 2 in by_count:
        report["target_met"] = by_count[2]["ratio"] >= TARGET_TWO_WORKER_RATIO
    _print(report)
    return report


def _print(report: dict[str, Any]) -> None:
    print(
        f"Celery scaling: sample of {report['sample_size']}, {report['shards']} shards, "
        f"{report['concurrency']} slots per worker, fake GitHub latency {report['latency_ms']:.0f} ms"
    )
    header = ("workers", "extract s", "repos/s", "ratio", "run s", "run repos/s", "requests")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (7, 10, 9, 6, 7, 12, 9), strict=True)))
    for result in report["results"].values():
        print(
            f"{result['workers']:>7} {result['extract_seconds']:>10.1f} {result['repositories_per_second']:>9.1f} "
            f"{result['ratio']:>5.2f}x {result['run_seconds']:>7.1f} {result['run_repositories_per_second']:>12.1f} "
            f"{result['api_requests']:>9}"
        )
    if "target_met" in report:
        print(f"Target {report['target']}: {'met' if report['target_met'] else 'NOT met'}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--sample-size", type=int, default=3200)
    parser.add_argument("--json", action="store_true", help="also print the result as JSON")
    args = parser.parse_args(argv)
    report = run(tuple(args.workers), args.latency_ms, args.sample_size)
    if args.json:
        print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
