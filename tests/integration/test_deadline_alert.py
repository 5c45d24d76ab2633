"""The DAG's deadline alert fires in a live Airflow and reaches the configured notifier.

``dag.test`` cannot run a DAG with a deadline, so this is the one place the alert is seen end to end: a
LocalExecutor Airflow (:mod:`tests.browser.airflow_server`: scheduler, dag-processor, triggerer and the API
server the health checks ask) parses the DAG with ``GITHUB_ETL_RUN_DEADLINE_ALERT=true`` and the smallest
deadline ``GITHUB_ETL_RUN_DEADLINE_HOURS`` accepts (0.01 hours, 36 s). The ``github_api`` pool has no slot,
so a triggered run gets past ``prepare`` and waits for ``plan`` forever: it cannot finish in time, whatever
the machine's load. The scheduler marks the deadline missed, the triggerer runs ``alert_late_run``, which
hands the alert to :class:`tests.notifiers.FileNotifier`; the test polls that notifier's file.

A run that finishes in time is not shown here: a whole run of the DAG does not fit 36 s on a busy two-core
machine, and the deadline cannot be set per run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from github_etl.settings import DAG_ID, GITHUB_API_POOL
from tests.browser.airflow_server import AirflowApi, LocalAirflow
from tests.fixtures.postgres import new_database, with_database
from tests.notifiers import read_records

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    # One worker runs the module, so that the tests on the 36 s deadline share one Airflow.
    pytest.mark.xdist_group("deadline"),
]

USERNAME = "admin"
# The smallest deadline run_deadline_hours() accepts: 36 s after the run is queued.
DEADLINE_HOURS = 0.01
SAMPLE = {"mode": "sample", "sample_size": 8}
# 36 s, then the scheduler's loop and the triggerer's pick-up of the callback, on a busy two-core machine.
ALERT_TIMEOUT_SECONDS = 240.0
# The triggerer reports the callback's end to the metadata database after the notifier returned.
CALLBACK_TIMEOUT_SECONDS = 120.0


@pytest.fixture(scope="module")
def alerts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alerts") / "alerts.jsonl"


@pytest.fixture(scope="module")
def airflow(pg_server_url: str, alerts_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAirflow]:
    """The Airflow of the tests on the 36 s deadline, shared by them: each reads only its own runs' alerts."""
    with _deadline_airflow(pg_server_url, tmp_path_factory.mktemp("deadline"), alerts_file, DEADLINE_HOURS) as server:
        yield server


@contextlib.contextmanager
def _deadline_airflow(
    pg_server_url: str, home: Path, alerts_file: Path, deadline_hours: float
) -> Iterator[LocalAirflow]:
    """A running Airflow with the deadline alert on, the given deadline and a notifier that writes to a file."""
    with (
        new_database(pg_server_url, "airflow_deadline") as metadata,
        new_database(pg_server_url, "github_etl_deadline") as warehouse,
    ):
        server = LocalAirflow.for_test(
            pg_server_url,
            with_database(pg_server_url, metadata),
            with_database(pg_server_url, warehouse),
            home,
            username=USERNAME,
            GITHUB_ETL_RUN_DEADLINE_ALERT="true",
            GITHUB_ETL_RUN_DEADLINE_HOURS=str(deadline_hours),
            GITHUB_ETL_ALERT_NOTIFIER="tests.notifiers.FileNotifier",
            GITHUB_ETL_ALERT_NOTIFIER_KWARGS=json.dumps({"path": str(alerts_file)}),
        )
        # The components' and tasks' logs stay in the test's home, to read after a failure.
        with server.serving(DAG_ID, logs_to=home / "airflow-logs") as serving:
            yield serving


def test_a_run_not_finished_by_its_deadline_alerts_the_configured_notifier(
    airflow: LocalAirflow, alerts_file: Path
) -> None:
    api = _runs_held_at_plan(airflow)
    run_id = api.call("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": SAMPLE})["dag_run_id"]

    records = airflow.poll(
        lambda: _records_of(alerts_file, run_id),
        timeout=ALERT_TIMEOUT_SECONDS,
        what="the deadline alert's notification",
    )

    assert len(records) == 1, records
    alert = records[0]
    assert alert["dag_id"] == DAG_ID
    assert alert["reason"] == f"not finished within {DEADLINE_HOURS} hours"
    # Airflow's own context of the missed deadline: the run it was for, due the configured hours after queueing.
    dag_run, deadline = alert["context"]["dag_run"], alert["context"]["deadline"]
    assert (dag_run["dag_id"], dag_run["dag_run_id"]) == (DAG_ID, run_id)
    due = datetime.fromisoformat(deadline["deadline_time"]) - datetime.fromisoformat(dag_run["queued_at"])
    assert due == timedelta(hours=DEADLINE_HOURS)
    # The alert was about a run still under way, held at plan.
    run = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}")
    assert run["state"] == "running", run
    plan = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/plan")
    assert plan["state"] in {None, "scheduled"}, plan
    # And Airflow recorded it: the deadline is missed, its callback ran to the end on the triggerer.
    airflow.poll(
        lambda: _callback_states(airflow, run_id) == [("success",)],
        timeout=CALLBACK_TIMEOUT_SECONDS,
        what="the deadline callback to be recorded as succeeded",
    )
    assert _deadline_states(airflow, run_id) == [(True,)]
    # The DAG runs one run at a time: the next test's runs wait for none of this one.
    api.call("PATCH", f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}", json={"state": "failed"})


def _runs_held_at_plan(airflow: LocalAirflow) -> AirflowApi:
    """The DAG unpaused with no slot in its pool: plan, the first task in the pool, never starts, so no run
    can end before its deadline."""
    api = AirflowApi(airflow, USERNAME)
    api.call(
        "PATCH",
        f"/pools/{GITHUB_API_POOL}",
        json={"pool": GITHUB_API_POOL, "slots": 0, "include_deferred": False},
        params={"update_mask": "slots"},
    )
    api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}, params={"update_mask": "is_paused"})
    return api


def _records_of(alerts_file: Path, run_id: str) -> list[dict[str, Any]]:
    return [record for record in read_records(alerts_file) if record["context"]["dag_run"]["dag_run_id"] == run_id]


def _deadline_states(airflow: LocalAirflow, run_id: str) -> list[tuple[Any, ...]]:
    return airflow.query(
        "SELECT d.missed FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id WHERE r.dag_id = %s AND r.run_id = %s",
        (DAG_ID, run_id),
    )


def _callback_states(airflow: LocalAirflow, run_id: str) -> list[tuple[Any, ...]]:
    return airflow.query(
        "SELECT c.state FROM callback c JOIN deadline d ON d.callback_id = c.id JOIN dag_run r ON r.id = d.dagrun_id"
        " WHERE r.dag_id = %s AND r.run_id = %s",
        (DAG_ID, run_id),
    )


def test_a_backfill_run_still_waiting_for_its_turn_is_not_told_as_late(
    airflow: LocalAirflow, alerts_file: Path
) -> None:
    # The backfill's first run is held at plan, so its second waits behind it (max_active_runs=1).
    api = _runs_held_at_plan(airflow)
    # What the UI's Backfill dialog sends.
    api.call(
        "POST",
        "/backfills",
        json={
            "dag_id": DAG_ID,
            "from_date": "2026-03-01T00:00:00Z",
            "to_date": "2026-03-02T00:00:00Z",
            "max_active_runs": 1,
            "dag_run_conf": SAMPLE,
        },
    )
    runs = api.call("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill"})["dag_runs"]
    assert len(runs) == 2, runs
    run_ids = [run["dag_run_id"] for run in runs]

    # Both deadlines pass; the triggerer runs both callbacks to the end.
    airflow.poll(
        lambda: all(_callback_states(airflow, run_id) == [("success",)] for run_id in run_ids),
        timeout=ALERT_TIMEOUT_SECONDS + CALLBACK_TIMEOUT_SECONDS,
        what="both backfill runs' deadline callbacks to be recorded as succeeded",
    )
    states = {
        run_id: api.call("GET", f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}")["state"] for run_id in run_ids
    }
    assert sorted(states.values()) == ["queued", "running"], states
    told = {record["context"]["dag_run"]["dag_run_id"] for record in read_records(alerts_file)}
    # The run under way is late; the one the backfill holds back has not started, so it is not.
    assert {run_id for run_id, state in states.items() if state == "running"} <= told
    assert not {run_id for run_id, state in states.items() if state == "queued"} & told, told


# Long enough for a run to fail, be cleared and fail again well before its deadline.
CLEARED_DEADLINE_HOURS = 0.1


def test_a_run_that_failed_before_its_deadline_can_be_cleared(pg_server_url: str, tmp_path: Path) -> None:
    with _deadline_airflow(pg_server_url, tmp_path, tmp_path / "alerts.jsonl", CLEARED_DEADLINE_HOURS) as airflow:
        _fail_clear_and_fail_again(airflow, CLEARED_DEADLINE_HOURS)


def _fail_clear_and_fail_again(airflow: LocalAirflow, deadline_hours: float) -> None:
    api = AirflowApi(airflow, USERNAME)
    api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False}, params={"update_mask": "is_paused"})
    # prepare refuses a search without a query at once, without retries: the run fails in seconds.
    run_id = api.call("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"mode": "search"}})[
        "dag_run_id"
    ]
    run_path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
    airflow.poll(lambda: api.call("GET", run_path)["state"] == "failed", timeout=240, what="the run to fail")
    assert _deadline_states(airflow, run_id) == [(False,)], "the deadline passed first: nothing was tested"

    # What the docs' recovery does (fix the cause, then clear): Airflow 3.3 answered 500 to it while a
    # deadline measured from the run's queueing was pending.
    api.call("POST", f"{run_path}/clear", json={"dry_run": False, "only_failed": True})

    airflow.poll(lambda: api.call("GET", run_path)["state"] == "failed", timeout=240, what="the cleared run to end")
    run = api.call("GET", run_path)
    ((deadline_time,),) = airflow.query(
        "SELECT d.deadline_time FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id WHERE r.dag_id = %s"
        " AND r.run_id = %s",
        (DAG_ID, run_id),
    )
    # Measured again from the new queueing (Airflow takes the time for it a moment before it stores it).
    due = deadline_time - datetime.fromisoformat(run["queued_at"])
    assert abs(due - timedelta(hours=deadline_hours)) < timedelta(seconds=1), due
