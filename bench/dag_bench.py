"""Wall time of whole DAG runs (``dag.test``) against a zero-latency fake GitHub.

Airflow's fixed cost (parsing, scheduling, starting each task) is measured by a tiny run in the same
invocation and subtracted, so the figure says how fast the pipeline itself moves repositories.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TARGET_REPOS_PER_SECOND = 1000


def _prepare_airflow_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="github-etl-bench-airflow-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            # dag.test cannot finish a run of a DAG with a deadline alert (github_etl.alerts.late_run_alert); the
            # benchmark times the pipeline, which the alert does not touch.
            "GITHUB_ETL_RUN_DEADLINE_ALERT": "false",
        }
    )
    return home


def _database(server_url: str, made: list[str]) -> str:
    name = f"github_etl_bench_{uuid.uuid4().hex[:8]}"
    _autocommit(server_url, f'CREATE DATABASE "{name}"')
    made.append(name)
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _autocommit(server_url: str, statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(server_url)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE refuse to run inside a transaction
        conn.cursor().execute(statement)
    finally:
        conn.close()


def run(sizes: tuple[int, ...] = (100, 10_000)) -> dict[int, float]:
    """Time one DAG run per size, after an untimed warm-up run (Airflow builds its internals on first use)."""
    home = _prepare_airflow_home()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import resetdb

    from github_etl.settings import DAG_ID
    from tests.fake_github import FakeGitHub

    resetdb(skip_init=False)
    server = os.environ.get("GITHUB_ETL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags[DAG_ID]
    timings: dict[int, float] = {}
    databases: list[str] = []
    staging = Path(tempfile.mkdtemp(prefix="github-etl-bench-"))
    try:
        with FakeGitHub(repo_count=max(sizes) * 3, seed=5) as fake:
            for index, size in enumerate((min(sizes), *sizes)):
                os.environ["AIRFLOW_CONN_GITHUB_DEFAULT"] = json.dumps(
                    {"conn_type": "http", "host": fake.base_url, "password": "ghp_bench_token_000000"}
                )
                os.environ["AIRFLOW_CONN_POSTGRES_DEFAULT"] = _database(server, databases)
                os.environ["GITHUB_ETL_STAGING_URL"] = (staging / str(index)).as_uri()
                started = time.monotonic()
                result = dag.test(
                    logical_date=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=index),
                    run_conf={"sample_size": size, "shards": 4},
                )
                if index:
                    timings[size] = time.monotonic() - started
                if result.state != "success":
                    raise RuntimeError(f"the DAG run of {size} repositories ended {result.state}")
    finally:
        # Nothing of the benchmark's is left behind: its databases, staging folder and Airflow home.
        for name in databases:
            with contextlib.suppress(Exception):
                _autocommit(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return timings


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: tuple(int(size) for size in text.split(",")),
        default=(100, 10_000),
        help="the fixed-cost run's and the timed run's repositories, e.g. 100,10000",
    )
    timings = run(parser.parse_args(argv).sizes)
    small, large = sorted(timings)
    fixed = timings[small]
    pipeline = max(1e-9, timings[large] - fixed)
    rate = (large - small) / pipeline
    print(f"DAG run of {small:>6} repositories: {timings[small]:6.1f} s  (Airflow's fixed start-up and scheduling)")
    print(f"DAG run of {large:>6} repositories: {timings[large]:6.1f} s")
    verdict = "meets" if rate >= TARGET_REPOS_PER_SECOND else "misses"
    print(
        f"pipeline throughput (difference): {rate:,.0f} repositories/s (target >= {TARGET_REPOS_PER_SECOND}) {verdict}"
    )


if __name__ == "__main__":
    main()
