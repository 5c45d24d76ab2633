"""The example consumer DAG reads the warehouse incrementally, against a real PostgreSQL.

Its task gets the run's triggering asset events as Airflow 3 builds them (``TriggeringAssetEventsAccessor``,
one event per checked load, ``extra`` as the ``check`` task writes it) and reads only the repositories whose
generation lies between its stored watermark and the greatest event's: the summary always equals one
computed from scratch over what it has read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg2.errors
import pytest
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor
from github_repositories_consumer import CONSUMER, github_repositories_consumer, refresh_language_summary

from github_etl.assets import REPOSITORIES_ASSET
from tests.unit.test_load import DAY_0, DAY_1, DAY_2, _load, _query, _repo, _row_file

_SUMMARY = "SELECT language, repositories, stars FROM github.language_summary ORDER BY 1"
# What the summary holds when built from scratch over every row up to a generation.
_FROM_SCRATCH = (
    "SELECT coalesce(language, '(none)'), count(*), sum(stargazers_count) FROM github.repositories"
    " WHERE deleted_at IS NULL AND generation <= %s GROUP BY 1 ORDER BY 1"
)


def _events(*generations: int) -> TriggeringAssetEventsAccessor:
    """A consumer run's triggering events, one per checked load, as Airflow hands them to its task."""
    return TriggeringAssetEventsAccessor.build(
        AssetEventDagRunReferenceResult(
            asset={"name": REPOSITORIES_ASSET.name, "uri": REPOSITORIES_ASSET.uri, "extra": {}},
            extra={"run_id": f"run-{generation}", "observed_at": "2024-05-01T00:00:00+00:00", "generation": generation},
            source_task_id="check",
            source_dag_id="github_repositories",
            source_run_id=f"run-{generation}",
            source_map_index=-1,
            source_aliases=[],
            timestamp=datetime.now(UTC),
        )
        for generation in generations
    )


def _consume(warehouse: Any, events: TriggeringAssetEventsAccessor) -> int:
    """The consumer's task, run as Airflow runs it, against the test's warehouse."""
    from unittest import mock

    task = github_repositories_consumer().get_task("summarise_languages")
    with mock.patch("github_etl.hooks.warehouse.DatabaseConnection", return_value=warehouse):
        return task.python_callable(triggering_asset_events=events)


def _generation(warehouse: Any, run_id: str) -> int:
    return _query(warehouse, "SELECT generation FROM github.load_runs WHERE run_id = %s", (run_id,))[0][0]


def _watermark(warehouse: Any) -> int:
    return _query(warehouse, "SELECT generation FROM github.consumer_watermarks WHERE consumer = %s", (CONSUMER,))[0][0]


def test_the_consumer_reads_what_changed_up_to_its_events_and_keeps_its_watermark(warehouse, tmp_path):
    _load(warehouse, [_row_file(tmp_path, _repo(1, language="Go"), _repo(2, language="Go"))], when=DAY_0, run_id="a")
    _load(warehouse, [_row_file(tmp_path, _repo(3, language=None))], when=DAY_1, run_id="b")
    a, b = _generation(warehouse, "a"), _generation(warehouse, "b")
    # A summary left by the full-rebuild version of the DAG: with no watermark yet, it is replaced whole.
    with warehouse.cursor() as cur:
        cur.execute(
            "CREATE TABLE github.language_summary (language text PRIMARY KEY, repositories bigint, stars bigint)"
        )
        cur.execute("INSERT INTO github.language_summary VALUES ('Perl', 9, 9)")
    warehouse.commit()

    # First run, two events at once (the consumer was paused, or slower than the loads): read up to the greatest.
    assert _consume(warehouse, _events(a, b)) == 3
    assert _watermark(warehouse) == b
    assert _query(warehouse, _SUMMARY) == _query(warehouse, _FROM_SCRATCH, (b,))

    # Repository 1 changes language and stars, 2 is deleted (a write by hand sets a generation, as documented),
    # 4 is new. The load after that one, c2, is committed but not checked yet: no event covers it.
    _load(
        warehouse,
        [_row_file(tmp_path, _repo(1, language="Rust", stargazers_count=50), _repo(4))],
        when=DAY_2,
        run_id="c",
    )
    with warehouse.cursor() as cur:
        cur.execute(
            "UPDATE github.repositories SET deleted_at = now(), generation = github.write_generation() WHERE id = 2"
        )
    warehouse.commit()
    c = _generation(warehouse, "c")
    _load(warehouse, [_row_file(tmp_path, _repo(5, language="Go"))], when=DAY_2, run_id="c2")
    c2 = _generation(warehouse, "c2")

    assert _consume(warehouse, _events(c)) == 2
    assert _watermark(warehouse) == c
    # Repository 1 moved from Go to Rust; 2 is still counted: its deletion is not covered yet.
    stars = {number: _repo(number)["stargazers_count"] for number in (2, 3, 4)}
    assert _query(warehouse, _SUMMARY) == [
        ("(none)", 1, stars[3]),
        ("Go", 1, stars[2]),
        (_repo(4)["language"], 1, stars[4]),
        ("Rust", 1, 50),
    ]

    # An event for rows already read (a cleared load that changed nothing) reads nothing.
    assert _consume(warehouse, _events(b)) == 0
    assert _watermark(warehouse) == c

    # The deletion by hand took a generation after c's; c2's event covers it and c2's repository.
    assert _consume(warehouse, _events(c2)) == 2
    assert _query(warehouse, _SUMMARY) == _query(warehouse, _FROM_SCRATCH, (c2,))
    assert ("Go", 1, _repo(5)["stargazers_count"]) in _query(warehouse, _SUMMARY)


def test_a_run_without_an_event_reads_nothing_and_a_failed_one_keeps_the_watermark(warehouse, tmp_path):
    _load(warehouse, [_row_file(tmp_path, _repo(1))], run_id="a")
    a = _generation(warehouse, "a")

    # Triggered by hand: no event says which loads passed their checks.
    assert _consume(warehouse, TriggeringAssetEventsAccessor.build([])) == 0
    assert refresh_language_summary(warehouse, [a]) == 1

    _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=7))], when=DAY_2, run_id="b")
    b = _generation(warehouse, "b")
    with warehouse.cursor() as cur:
        # A failure in the middle of the refresh, after the copy has changed: the summary refuses 7 stars.
        cur.execute("ALTER TABLE github.language_summary ADD CONSTRAINT not_seven CHECK (stars <> 7)")
    warehouse.commit()
    with pytest.raises(psycopg2.errors.CheckViolation, match="not_seven"):
        refresh_language_summary(warehouse, [b])
    # The summary and the watermark commit together: the retry reads the same rows again.
    assert _watermark(warehouse) == a
    with warehouse.cursor() as cur:
        cur.execute("ALTER TABLE github.language_summary DROP CONSTRAINT not_seven")
    warehouse.commit()
    assert refresh_language_summary(warehouse, [b]) == 1
    assert _query(warehouse, _SUMMARY) == _query(warehouse, _FROM_SCRATCH, (b,))


def test_the_consumer_describes_its_tables_and_columns(warehouse):
    from tests.unit.test_columns import _comments

    refresh_language_summary(warehouse, [1])

    comments = _comments(warehouse)
    for table in ("consumer_watermarks", "language_summary", "language_summary_repositories"):
        described = {key: text for key, text in comments.items() if key[0] == table}
        assert len(described) == 4 and all(described.values()), described
