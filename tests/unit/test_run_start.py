"""The audit row's start of a run, whichever way Airflow ran it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from github_etl.tasks import run_started_at

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LOGICAL = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start_date", "run_after", "expected"),
    [
        # Scheduled: eligible at the end of its interval, started by the scheduler a moment later.
        (NOW - timedelta(minutes=9), NOW - timedelta(minutes=10), NOW - timedelta(minutes=9)),
        # airflow dags test (make run DATE=...): the start date is the logical date, created just now.
        (LOGICAL, NOW - timedelta(minutes=2), NOW - timedelta(minutes=2)),
        # airflow dags test with a logical date still to come: not after the load that records it.
        (NOW + timedelta(days=3), NOW - timedelta(minutes=2), NOW),
        (None, NOW, None),
    ],
)
def test_a_run_starts_when_it_began_not_at_its_logical_date(start_date, run_after, expected) -> None:
    assert run_started_at(SimpleNamespace(start_date=start_date, run_after=run_after), now=NOW) == expected
