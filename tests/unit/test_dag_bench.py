"""The DAG benchmark (`make bench BENCH=dag`) runs whole DAG runs through Airflow's dag.test and reports their rate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.same_on_every_python

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_small_run_of_the_benchmark_completes_its_dag_runs_and_reports_the_pipelines_rate(pg_server_url) -> None:
    # A child process: the benchmark sets Airflow's home and settings for the whole of its own process.
    env = {
        **os.environ,
        "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
        "GITHUB_ETL_BENCH_POSTGRES_URL": pg_server_url,
    }
    env.pop("GITHUB_ETL_RUN_DEADLINE_ALERT", None)  # as `make bench` runs it: the DAG as deployed, with its alert
    finished = subprocess.run(
        [sys.executable, "-m", "bench.dag_bench", "--sizes", "10,40"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "DAG run of     40 repositories:" in finished.stdout
    assert "pipeline throughput (difference):" in finished.stdout
