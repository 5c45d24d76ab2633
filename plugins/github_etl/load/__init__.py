"""Load staged row files into the warehouse in one transaction, at the speed of COPY.

Three paths, chosen at the start of the transaction:

- **initial bulk load** (no repository and no snapshot stored, and no other session uses them): indexes
  and keys are dropped, the row files are copied straight into ``github.repositories``, snapshots are
  inserted from it and everything is rebuilt at once (:mod:`github_etl.load.bulk`);
- **nothing to change** (the staged key files show every repository stored with the same data, the same
  bookkeeping and today's snapshot): no row file is read at all;
- **merge**: COPY into a temporary table, then an ``INSERT ... ON CONFLICT DO UPDATE`` of the new
  repositories and an ``UPDATE`` of the stored ones that changed. With key files, only the lines of
  repositories that are new or whose data changed are parsed; the others' bookkeeping and snapshot come
  from their stored rows (:mod:`github_etl.load.merge`).

The statements live in ``include/sql/github_repositories``; this package sequences them, streams the
files (:mod:`github_etl.load.row_files`) and counts. A load either commits entirely (repositories,
snapshots, deletions (:mod:`github_etl.load.deletions`) and the audit row in ``github.load_runs``) or
leaves the warehouse exactly as it was. The quality checks that follow a load are in
:mod:`github_etl.load.checks`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from github_etl import metrics
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema, ensure_snapshot_partition, load_sql
from github_etl.load.bulk import bulk_load, claim_empty_warehouse
from github_etl.load.deletions import apply_gone_reports, mark_gone
from github_etl.load.generation import write_generation
from github_etl.load.merge import Merged, merge_with_keys, nothing_to_change, stage_and_merge, stage_keys
from github_etl.load.observation import require_aware, snapshot_date_of
from github_etl.load.row_files import RowFile, check_line_counts
from github_etl.load.source import claim_source
from github_etl.xcom import XComRecord

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

log = logging.getLogger(__name__)

# Memory for the merge's hash join and the duplicate search, for this transaction only: the default
# 4 MB would spill a million-row join to disk.
MERGE_WORK_MEM = "256MB"
# Session memory for the staging table (temporary tables live in backend-local buffers, 8 MB by default):
# a million staged rows take about 400 MB, and spilling them to disk would make every later pass over
# them read it back. Memory is taken only as the table grows.
STAGING_TEMP_BUFFERS = "1GB"
# How often the server checks, while a load's statement runs, that the load's process is still there.
CLIENT_CHECK_INTERVAL = "2s"
CLIENT_CHECK_MIN_SERVER_VERSION = 140000
# The server's keepalive of the load's connection, as the client's (hooks/warehouse.py KEEPALIVES): a network
# cut that sends no reset while the server waits for COPY's next rows would otherwise hold the writers' lock
# (the bulk load's blocks every reader) for the system's two hours, and the load's retry behind it.
SERVER_KEEPALIVES = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}
# Counters of the extract and transform recorded in the audit row; missing ones are recorded as 0.
STATS_KEYS = ("listed", "enriched", "skipped", "rejected", "api_requests", "missing_owners", "read_over_rest")


@dataclass(frozen=True)
class LoadResult(XComRecord):
    """What one load did to ``github.repositories``; ``inserted + updated + unchanged == total``.

    :param inserted: repositories new to the warehouse.
    :param updated: repositories whose data or bookkeeping changed.
    :param unchanged: repositories staged but left untouched.
    :param snapshots: snapshot rows of the run's date whose counts it inserted or changed (one whose observed_at
        alone moved is not counted).
    :param total: distinct repositories staged (a repository staged more than once counted once).
    :param duplicates: staged lines dropped because another line of the run had the same id (search
        pages that shifted while stars moved); the load keeps the freshest (``dedupe_staged.sql``).
    :param marked_deleted: stored repositories the run found gone and marked deleted (rows written too).
    """

    inserted: int
    updated: int
    unchanged: int
    snapshots: int
    total: int
    duplicates: int = 0
    marked_deleted: int = 0


def load_run(
    db: DatabaseConnection,
    *,
    row_files: Iterable[RowFile],
    run_id: str,
    dag_id: str,
    logical_date: datetime,
    observed_at: datetime,
    mode: str,
    stats: Mapping[str, int],
    deleted: Iterable[tuple[int, str]] = (),
    max_deleted_share: float | None = None,
    started_at: datetime | None = None,
    key_files: Iterable[RowFile] | None = None,
    unreachable: Iterable[Mapping[str, Any]] = (),
    census: Mapping[str, int] | None = None,
    rejected_reasons: Mapping[str, int] | None = None,
    source: str | None = None,
    row_counts: list[int] | None = None,
) -> LoadResult:
    """Load one run's staged row files into the warehouse, atomically, and commit.

    Re-running a load with the same files and observation time writes nothing, audit row included, so a
    retried task is harmless. A run loaded after a later one (its load failed, then was cleared; or it
    overlapped a run that fetched later and committed first) adds its snapshots, moves ``first_seen_at``
    back and places what it saw among the kept versions of the attribute history, but changes no data or
    deletion a later observation wrote. Every stored date is
    the observation time's: GitHub serves only current values, so a run of a past logical date (a
    backfill) stores what it saw under the day it saw it, never under its logical date.

    :param db: warehouse connection; the schema is applied (and committed) first, then the load runs
        in a transaction of its own, committed on success and rolled back on any error.
    :param row_files: staged files in COPY text format, ``STAGED_COLUMNS`` (see :mod:`github_etl.columns`):
        open file objects (left open) or paths (opened and closed here). Streamed, never read whole;
        not read at all when the key files show that nothing would change.
    :param run_id: Airflow run id; with ``dag_id`` the audit row's key (two DAGs may harvest into one
        warehouse, and on one schedule their runs have the same ids).
    :param dag_id: Airflow DAG id.
    :param logical_date: the run's logical date (timezone-aware), recorded in the audit row only.
    :param observed_at: when the run's data were fetched from GitHub (timezone-aware), as staged by the
        extract: first/last-seen bookkeeping, ``deleted_at`` and the snapshot date come from it, never
        from the clock or the logical date.
    :param mode: the run's mode, recorded in the audit row.
    :param stats: counters of the extract (``listed``, ``enriched``, ``skipped``, ``rejected``,
        ``api_requests``).
    :param deleted: ``(id, reason)`` of the repositories GitHub no longer serves (reasons as in
        :data:`github_etl.github.responses.GONE_REASONS`); marked deleted in the same transaction.
    :param max_deleted_share: the largest share of the repositories the run checked (``stats["listed"]``)
        it may mark deleted; above it the load fails with :class:`DeletionGuardError` and commits
        nothing. None: no limit.
    :param started_at: when the run started; the start of the load's transaction when omitted.
    :param unreachable: search mode: the seconds whose matches GitHub could not serve in full, recorded.
    :param key_files: the row files' key files (``id``, ``row_hash`` per row, as the transform writes
        them), all of them or None; with them, a load that would change nothing reads only these.
    :param census: census mode: the id range crawled, ``{"since_id", "until_id", "reaches_end"}``; the census's
        cursor moves over it in this transaction (``advance_census_cursor.sql``).
    :param rejected_reasons: records the transform quarantined, per reason; recorded in the audit row.
    :param row_counts: the rows the transform wrote to each row file: a file (or key file) holding another
        number of lines, cut short or swapped, fails the load with :class:`StagedFilesMismatch` whichever path it
        takes. None: the files are trusted as they are.
    :param source: the API root of the GitHub the run harvested: recorded in ``github.source`` by the first
        load; a warehouse holding another GitHub's data refuses the load (:class:`OtherGitHubError`) before
        it writes anything. None: neither recorded nor checked.
    """
    require_aware(logical_date)
    require_aware(observed_at)
    unknown = set(stats) - set(STATS_KEYS)
    if unknown:
        log.warning("Ignoring unknown load stats %s; known: %s", sorted(unknown), ", ".join(STATS_KEYS))
    began = time.monotonic()
    apply_schema(db)
    ensure_snapshot_partition(db, snapshot_date_of(observed_at))
    try:
        with db.cursor() as cur:
            _tune_transaction(cur)
            if source is not None:
                claim_source(cur, source, dag_id=dag_id, run_id=run_id, where=db.where)
            bulk_structures = claim_empty_warehouse(cur)
            # After the claim: the bulk path's locks are taken NOWAIT, and this read's would keep another load's off.
            summaries_kept = _summarized_but_dropped(cur, snapshot_date_of(observed_at))
            if bulk_structures is not None:
                total, duplicates = bulk_load(cur, row_files, bulk_structures, observed_at, row_counts)
                merged = Merged(total, duplicates, inserted=total, updated=0, snapshots=total)
            elif key_files is not None:
                key_files = list(key_files)
                key_lines = stage_keys(cur, key_files)
                check_line_counts(key_files, key_lines, row_counts)
                if nothing_to_change(cur, observed_at):
                    cur.execute(load_sql("count_staged_keys.sql"))
                    total, lines = (int(value or 0) for value in cur.fetchone())
                    merged = Merged(total, lines - total, inserted=0, updated=0, snapshots=0)
                    log.info("Every staged repository is stored as staged: no row file read")
                else:
                    merged = merge_with_keys(cur, row_files, key_lines, observed_at, row_counts)
            else:
                merged = stage_and_merge(cur, row_files, observed_at, row_counts=row_counts)
            if merged.inserted:
                apply_gone_reports(cur)
            deleted = mark_gone(
                cur,
                deleted,
                observed_at,
                checked=int(stats.get("listed", 0)),
                max_share=max_deleted_share,
                of_warehouse=mode == "refresh",
            )
            if census is not None:
                _advance_census_cursor(cur, census, dag_id, run_id)
            if merged.snapshots and not summaries_kept:
                _refresh_day_summaries(cur, snapshot_date_of(observed_at))
            result = LoadResult(
                **merged._asdict(),
                unchanged=merged.total - merged.inserted - merged.updated,
                marked_deleted=deleted,
            )
            cur.execute(
                load_sql("record_run.sql"),
                {
                    "run_id": run_id,
                    "dag_id": dag_id,
                    "logical_date": logical_date,
                    "observed_at": observed_at,
                    "mode": mode,
                    **{key: int(stats.get(key, 0)) for key in STATS_KEYS},
                    "inserted": result.inserted,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "duplicates": result.duplicates,
                    "marked_deleted": result.marked_deleted,
                    "unreachable": json.dumps(list(unreachable)),
                    "rejected_reasons": json.dumps(dict(rejected_reasons or {})),
                    "started_at": started_at,
                },
            )
        db.commit()
    except BaseException:
        db.rollback()
        raise
    seconds = time.monotonic() - began
    log.info(
        "Loaded run %s into the warehouse at %s (%s) in %.1f s: %s staged (%s duplicates dropped), %s inserted, "
        "%s updated, %s unchanged, %s snapshots written, %s marked deleted",
        run_id,
        db.where,
        db.hook.source,
        seconds,
        result.total,
        result.duplicates,
        result.inserted,
        result.updated,
        result.unchanged,
        result.snapshots,
        result.marked_deleted,
    )
    metrics.incr(metrics.LOAD_INSERTED, result.inserted)
    metrics.incr(metrics.LOAD_UPDATED, result.updated)
    metrics.incr(metrics.LOAD_UNCHANGED, result.unchanged)
    metrics.incr(metrics.LOAD_MARKED_DELETED, result.marked_deleted)
    metrics.timing(metrics.LOAD_DURATION, seconds)
    return result


def _tune_transaction(cur: PgCursor) -> None:
    """Settings for this transaction only; durability settings are deliberately left alone."""
    cur.execute("SET LOCAL work_mem = %s", (MERGE_WORK_MEM,))
    # JIT would compile the merge's many-column comparisons anew on every load; at these row counts
    # compiling costs more than it saves.
    cur.execute("SET LOCAL jit = off")
    # A load whose task process dies (SIGKILL, OOM, a lost worker) would otherwise have its server session run
    # the statement to its end, holding the writers' lock (or the bulk load's exclusive lock, which blocks every
    # reader) while the retry queues behind it. PostgreSQL 14 and later can check for a vanished client.
    if cur.connection.server_version >= CLIENT_CHECK_MIN_SERVER_VERSION:
        cur.execute("SET LOCAL client_connection_check_interval = %s", (CLIENT_CHECK_INTERVAL,))
    for name, value in SERVER_KEEPALIVES.items():
        # Ignored on a unix socket.
        cur.execute("SELECT set_config(%s, %s, true)", (name, str(value)))
    # temp_buffers only counts before the session first touches a temporary table, hence the check.
    cur.execute("SELECT pg_my_temp_schema() = 0")
    if cur.fetchone()[0]:
        cur.execute("SET LOCAL temp_buffers = %s", (STAGING_TEMP_BUFFERS,))


def _summarized_but_dropped(cur: PgCursor, snapshot_date: date) -> bool:
    """Whether the date's snapshots were dropped for retention after they were summarized.

    A run of that date loaded again (its load cleared) brings back its own snapshots only, not those of the
    date's other runs: summarizing them again would erase the rest of the day from the summaries. The first such
    load records the day in ``github.summaries_kept_days``, by which the later ones, and the windows that
    compare with the day, know it too.
    """
    cur.execute(
        "SELECT EXISTS (SELECT FROM github.summaries_kept_days WHERE snapshot_date = %(day)s),"
        " EXISTS (SELECT FROM github.language_days WHERE snapshot_date = %(day)s)"
        " AND NOT EXISTS (SELECT FROM github.repository_snapshots WHERE snapshot_date = %(day)s)",
        {"day": snapshot_date},
    )
    recorded, dropped = cur.fetchone()
    if dropped and not recorded:
        cur.execute(
            "INSERT INTO github.summaries_kept_days (snapshot_date) VALUES (%s) ON CONFLICT DO NOTHING",
            (snapshot_date,),
        )
        log.info(
            "The snapshots of %s were dropped (retention) after they were summarized: this load writes its own "
            "again and keeps the day's summaries as they were (github.summaries_kept_days)",
            snapshot_date,
        )
    return bool(recorded or dropped)


def _refresh_day_summaries(cur: PgCursor, snapshot_date: date) -> None:
    """Rebuild the API's summaries of the date (``github.refresh_day_summaries``), in the load's transaction,
    so that they never disagree with the snapshots they summarize."""
    cur.execute("SELECT github.refresh_day_summaries(%s)", (snapshot_date,))


def _advance_census_cursor(cur: PgCursor, census: Mapping[str, int], dag_id: str, run_id: str) -> None:
    from github_etl.extract.census import CENSUS_NAME

    # The writers' lock before the cursor's row, as every writer takes them: a load with nothing to change
    # reaches here without it, and taking the row first deadlocked against a census load that was writing.
    write_generation(cur)
    crawled = {"since_id": int(census["since_id"]), "until_id": int(census["until_id"])}
    reaches_end = bool(census["reaches_end"])
    named = {"census": CENSUS_NAME, "dag_id": dag_id, "run_id": run_id}
    cur.execute(load_sql("record_census_range.sql"), {**named, **crawled})
    cur.execute(load_sql("advance_census_cursor.sql"), {**named, "reaches_end": reaches_end, **crawled})
    moved = cur.rowcount
    while True:
        cur.execute(load_sql("absorb_census_ranges.sql"), named)
        if not cur.rowcount:
            break
        moved += cur.rowcount
    if not moved:
        log.info(
            "The census crawled ids (%s, %s], within or apart from the range it covers%s: its cursor stays",
            crawled["since_id"],
            crawled["until_id"],
            "" if reaches_end else " (short of today's end of the id space, it starts none either)",
        )
