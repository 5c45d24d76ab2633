"""A backfill of the DAG in a live Airflow, created the way the UI's Backfill dialog creates it.

GitHub serves only current values, so each backfill run stores what it fetched under the day it fetched
it (docs/backfill.md): two past days backfilled today leave two audit rows with their own logical dates,
both observed today, and one snapshot per repository, dated today (the day after, for a run that fetched
past midnight UTC). Reprocessing the completed runs reuses
what they staged and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from github_etl.settings import DAG_ID
from tests.browser.airflow_server import AirflowApi, LocalAirflow
from tests.fake_github import FakeGitHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

USERNAME = "admin"
SAMPLE = {"mode": "sample", "sample_size": 6, "shards": 1}
DAYS = {"from_date": "2026-03-01T00:00:00Z", "to_date": "2026-03-02T00:00:00Z"}
# Two runs of a sample of 6 one after the other, task processes starting on a busy two-core machine.
BACKFILL_TIMEOUT_SECONDS = 600.0


@pytest.fixture
def airflow(local_airflow, fake_github: FakeGitHub, tmp_path: Path) -> Iterator[LocalAirflow]:
    github = {"conn_type": "http", "host": fake_github.base_url, "password": "ghp_backfill_0123456789"}
    server = local_airflow(AIRFLOW_CONN_GITHUB_DEFAULT=json.dumps(github))
    with server.serving(DAG_ID, logs_to=tmp_path / "airflow-logs") as serving:
        yield serving


def _backfill(airflow: LocalAirflow, api: AirflowApi, **options: Any) -> list[dict[str, Any]]:
    """Create a backfill of the two days, wait until Airflow marks it complete, and return its runs."""
    backfill = api.call(
        "POST", "/backfills", json={"dag_id": DAG_ID, **DAYS, "max_active_runs": 1, "dag_run_conf": SAMPLE, **options}
    )
    airflow.poll(
        lambda: api.call("GET", f"/backfills/{backfill['id']}")["completed_at"] is not None,
        timeout=BACKFILL_TIMEOUT_SECONDS,
        what="the backfill to complete",
    )
    return api.call("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill"})["dag_runs"]


def _ended(api: AirflowApi) -> bool:
    """Every run of the DAG ended, a scheduled one unpausing may have created included."""
    runs = api.call("GET", f"/dags/{DAG_ID}/dagRuns")["dag_runs"]
    return bool(runs) and all(run["state"] in {"success", "failed"} for run in runs)


def _asset_events(airflow: LocalAirflow, run_ids: list[str]) -> list[str]:
    rows = airflow.query(
        "SELECT source_run_id FROM asset_event WHERE source_dag_id = %s AND source_run_id = ANY(%s) ORDER BY 1",
        (DAG_ID, run_ids),
    )
    return [run_id for (run_id,) in rows]


def _warehouse(pg_url: str, run_ids: list[str]) -> dict[str, Any]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT logical_date, (observed_at AT TIME ZONE 'UTC')::date FROM github.load_runs"
            " WHERE run_id = ANY(%s) ORDER BY logical_date",
            (run_ids,),
        )
        runs = cur.fetchall()
        cur.execute(
            "SELECT snapshot_date, count(*), count(DISTINCT repo_id) FROM github.repository_snapshots"
            " GROUP BY 1 ORDER BY 1"
        )
        snapshots = cur.fetchall()
        cur.execute("SELECT count(*) FROM github.repositories")
        (repositories,) = cur.fetchone()
        cur.execute("SELECT count(*) FROM github.load_runs")
        (audit_rows,) = cur.fetchone()
    return {"runs": runs, "snapshots": snapshots, "repositories": repositories, "audit_rows": audit_rows}


def test_a_backfill_of_past_days_stores_what_it_fetched_today_and_reprocessing_it_changes_nothing(
    airflow: LocalAirflow, pg_url: str
) -> None:
    api = AirflowApi(airflow, USERNAME)
    # A paused DAG starts no backfill run.
    api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}, params={"update_mask": "is_paused"})
    began = datetime.now(UTC).date()
    runs = _backfill(airflow, api)
    assert sorted(run["state"] for run in runs) == ["success", "success"], runs
    run_ids = [run["dag_run_id"] for run in runs]
    airflow.poll(lambda: _ended(api), timeout=BACKFILL_TIMEOUT_SECONDS, what="the scheduled run to end")
    ended = datetime.now(UTC).date()

    loaded = _warehouse(pg_url, run_ids)
    assert [logical.date().isoformat() for logical, _ in loaded["runs"]] == ["2026-03-01", "2026-03-02"]
    # Every run stored what it fetched under the day it fetched it, never its past logical date: today (or
    # tomorrow, for a run that fetched after midnight UTC struck during the test).
    observed = sorted({day for _, day in loaded["runs"]})
    assert set(observed) <= {began, ended}
    # A day observed holds one snapshot per repository any run saw that day; no past day holds any.
    assert [day for day, _, _ in loaded["snapshots"]] == observed
    assert all(rows == distinct <= loaded["repositories"] for _, rows, distinct in loaded["snapshots"])
    assert sum(rows for _, rows, _ in loaded["snapshots"]) >= loaded["repositories"]

    # Each run emitted the checked asset once, for the consumers.
    assert _asset_events(airflow, run_ids) == sorted(run_ids)

    rerun = _backfill(airflow, api, reprocess_behavior="completed")
    assert sorted(run["state"] for run in rerun) == ["success", "success"], rerun
    assert _warehouse(pg_url, run_ids) == loaded
