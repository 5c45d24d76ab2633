"""The pipeline's own metrics, sent through Airflow's ``Stats`` beside Airflow's own (``ti.finish``, …).

Airflow's ``[metrics]`` section decides where they go: StatsD (``statsd_on``, with ``statsd_prefix``,
``airflow`` by default, before each name), Datadog or OpenTelemetry; with metrics off nothing is sent.
A name carries everything that tells two series apart (``rate_limit.remaining.core``), as StatsD
without tags keeps only the name. Sending a metric never fails a task: StatsD is fire-and-forget UDP,
and any error of the metrics backend is logged at DEBUG and passed over.
"""

from __future__ import annotations

import logging
from datetime import timedelta

log = logging.getLogger(__name__)

PREFIX = "github_etl"
# Counters: API requests sent (whatever the answer), those that failed (5xx, timeouts, limits), and the
# repositories an extract staged (gone ones included).
EXTRACT_REQUESTS = f"{PREFIX}.extract.requests"
EXTRACT_FAILED_REQUESTS = f"{PREFIX}.extract.failed_requests"
EXTRACT_REPOSITORIES = f"{PREFIX}.extract.repositories"
# Gauge, per resource (core, graphql, search): what the tokens of the task have left in their window.
RATE_LIMIT_REMAINING = f"{PREFIX}.rate_limit.remaining"
# Counter: records the transform quarantined.
TRANSFORM_QUARANTINED = f"{PREFIX}.transform.quarantined"
# Counters of the load's repositories, and its timer.
LOAD_INSERTED = f"{PREFIX}.load.inserted"
LOAD_UPDATED = f"{PREFIX}.load.updated"
LOAD_UNCHANGED = f"{PREFIX}.load.unchanged"
LOAD_MARKED_DELETED = f"{PREFIX}.load.marked_deleted"
LOAD_DURATION = f"{PREFIX}.load.duration"


def incr(name: str, count: int) -> None:
    """Add ``count`` to the counter ``name`` (nothing is sent for 0)."""
    if count > 0:
        _send("incr", name, count)


def gauge(name: str, value: float) -> None:
    _send("gauge", name, value)


def timing(name: str, seconds: float) -> None:
    _send("timing", name, timedelta(seconds=seconds))


def _send(kind: str, name: str, value: object) -> None:
    try:
        from airflow.sdk.observability.stats import Stats

        getattr(Stats, kind)(name, value)
    except Exception as exc:  # a metric is never worth a failed task
        log.debug("Could not send metric %s: %s", name, exc)
