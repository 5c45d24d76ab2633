"""The data-quality checks run over what a committed load wrote, each naming the offending ids."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from psycopg2 import sql

from github_etl.columns import COUNT_COLUMNS, SNAPSHOT_COLUMNS
from github_etl.hooks.warehouse import DatabaseConnection, load_sql
from github_etl.load.statements import template

log = logging.getLogger(__name__)

# Offending ids a failed quality check names: enough to start investigating, short enough to read.
CHECK_SAMPLE_SIZE = 20
# The failure of a run no load of which committed: then no check runs.
RUN_RECORDED = "run_recorded"


@dataclass(frozen=True)
class CheckFailure:
    """A quality check that failed after a load.

    :param check: name of the check, e.g. ``counts_not_negative``.
    :param message: what was expected and how many rows break it.
    :param ids: up to ``CHECK_SAMPLE_SIZE`` offending repository ids (empty for count checks).
    """

    check: str
    message: str
    ids: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class _QualityCheck:
    name: str
    sql_file: str
    expectation: str
    # The file with its {placeholders} filled in from the column spec; None: the file names no columns.
    statement: Callable[[], sql.Composable] | None = None


def counts_not_negative_check(columns: Iterable[str] = COUNT_COLUMNS) -> sql.Composed:
    """The statement of the check ``counts_not_negative`` over ``columns`` (every count column of the spec), in
    the run's repositories and, for those a snapshot holds, in its snapshots."""
    columns = tuple(columns)

    def negative(table: str, names: Iterable[str]) -> sql.Composable:
        return sql.SQL(" OR ").join(sql.SQL("{} < 0").format(sql.Identifier(table, name)) for name in names)

    return template(
        "check_counts_not_negative.sql",
        negative=negative("repo", columns),
        negative_snapshot=negative("snapshot", (name for name in SNAPSHOT_COLUMNS if name in columns)),
    )


QUALITY_CHECKS: tuple[_QualityCheck, ...] = (
    _QualityCheck("ids_unique_not_null", "check_ids_unique.sql", "repository ids are unique and not null"),
    _QualityCheck("loaded_count", "check_loaded_count.sql", "the warehouse holds every row the run staged"),
    _QualityCheck(
        "counts_not_negative",
        "check_counts_not_negative.sql",
        "counts and sizes are not negative",
        counts_not_negative_check,
    ),
    _QualityCheck("created_at_in_range", "check_created_at_range.sql", "created_at is between 2007-10-01 and tomorrow"),
    _QualityCheck(
        "snapshots_reference_repositories",
        "check_snapshots_reference_repositories.sql",
        "every snapshot of the run's date belongs to a stored repository",
    ),
)


def load_quality_checks(db: DatabaseConnection, dag_id: str, run_id: str) -> list[CheckFailure]:
    """Run the data-quality checks over the repositories a committed run loaded.

    A run's checks cover the rows written since the last run whose checks passed, found by their write
    generation (``check_ids_unique.sql``): normally what its load inserted or changed, in whatever order runs
    were loaded, and after a failed run that run's rows too, since this run's asset event covers them. When
    all pass, ``github.load_runs.checks_passed_at`` records it. Run the checks right after the load: a row a
    later load changes again carries that load's generation, and is that load's to check.

    :param db: warehouse connection (it commits only the run's ``checks_passed_at``).
    :param dag_id: the run's DAG.
    :param run_id: the run, as recorded in ``github.load_runs`` with ``dag_id``.
    :return: the failed checks, empty when all pass.
    """
    failures: list[CheckFailure] = []
    try:
        with db.cursor() as cur:
            # The generations the checks cover: above the greatest of a run whose checks passed, up to the run's.
            cur.execute(
                """
                SELECT coalesce((SELECT max(passed.generation) FROM github.load_runs AS passed
                                 WHERE passed.checks_passed_at IS NOT NULL AND passed.generation < this.generation),
                                0),
                       this.generation
                FROM github.load_runs AS this
                WHERE this.dag_id = %s AND this.run_id = %s
                """,
                (dag_id, run_id),
            )
            covered = cur.fetchone()
            if covered is None:
                return [
                    CheckFailure(
                        RUN_RECORDED,
                        f"no row for run {run_id!r} of {dag_id} in github.load_runs: no load of the run committed "
                        "(a load task marked success or skipped without running loads nothing). Clear the run's load "
                        "task to load what the run staged",
                    )
                ]
            for check in QUALITY_CHECKS:
                statement = load_sql(check.sql_file) if check.statement is None else check.statement()
                cur.execute(
                    statement,
                    {
                        "dag_id": dag_id,
                        "run_id": run_id,
                        "after_generation": covered[0],
                        "upto_generation": covered[1],
                        "sample_size": CHECK_SAMPLE_SIZE,
                    },
                )
                row = cur.fetchone()
                if row is None:
                    continue
                failing_rows, sample_ids, detail = row
                message = f"expected {check.expectation}; {failing_rows} rows fail"
                failures.append(
                    CheckFailure(check.name, f"{message} ({detail})" if detail else message, tuple(sample_ids or ()))
                )
            if not failures:
                cur.execute(
                    "UPDATE github.load_runs SET checks_passed_at = clock_timestamp()"
                    " WHERE dag_id = %s AND run_id = %s",
                    (dag_id, run_id),
                )
                db.commit()
    finally:
        db.rollback()
    # Not logged here: the check task raises them in one error, which Airflow logs.
    return failures
