"""Load staged row files into the warehouse in one transaction, at the speed of COPY.

Three paths, chosen at the start of the transaction:

- **initial bulk load** (no repository and no snapshot stored, and no other session uses them): indexes
  and keys are dropped, the row files are copied straight into ``github.repositories``, snapshots are
  inserted from it and everything is rebuilt at once;
- **nothing to change** (the staged key files show every repository stored with the same data, the same
  bookkeeping and today's snapshot): no row file is read at all;
- **merge**: COPY into a temporary table, then an ``INSERT ... ON CONFLICT DO UPDATE`` of the new
  repositories and an ``UPDATE`` of the stored ones that changed. With key files, only the lines of
  repositories that are new or whose data changed are parsed; the others' bookkeeping and snapshot come
  from their stored rows.

The statements live in ``include/sql/github_repositories``; this module sequences them, streams the
files and counts. A load either commits entirely (repositories, snapshots, deletions and the audit row
in ``github.load_runs``) or leaves the warehouse exactly as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from github_etl.columns import HISTORY_COLUMNS, KEY_COLUMNS, SNAPSHOT_COLUMNS, STAGED_COLUMNS
from github_etl.errors import DeletionGuardError
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema, ensure_snapshot_partition, load_sql
from github_etl.line_stream import LineStream
from github_etl.selected_lines import LineNumbers, SelectedLines, StagedFilesMismatch
from github_etl.transform import copy_escape
from github_etl.xcom import XComRecord

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

log = logging.getLogger(__name__)

STAGING_TABLE = "staged_repositories"
KEYS_TABLE = "staged_keys"
# Temporary table of the ids a run reports gone (see create_reported_ids.sql).
GONE_TABLE = "gone_ids"
# Bytes handed to COPY per read: big enough that a round of Python work per chunk is negligible,
# small enough that memory stays constant whatever the file size.
COPY_CHUNK_BYTES = 1 << 20
# Characters per read of the ids a run reports gone (see _copy_reported_ids): they are made
# line by line in Python, and a read holds every line of its chunk as a string object of its own
# (about 60 bytes for an id), so smaller chunks than the files' keep that under a megabyte.
REPORTED_CHUNK_CHARS = 1 << 16
# Memory for the merge's hash join and the duplicate search, for this transaction only: the default
# 4 MB would spill a million-row join to disk.
MERGE_WORK_MEM = "256MB"
# Session memory for the staging table (temporary tables live in backend-local buffers, 8 MB by default):
# a million staged rows take about 400 MB, and spilling them to disk would make every later pass over
# them read it back. Memory is taken only as the table grows.
STAGING_TEMP_BUFFERS = "1GB"
# Memory for the index builds of an initial bulk load, this transaction only: building an index from
# all rows at once is several times faster than growing it row by row.
INDEX_BUILD_MEMORY = "512MB"
# Counters of the extract and transform recorded in the audit row; missing ones are recorded as 0.
STATS_KEYS = ("listed", "enriched", "skipped", "rejected", "api_requests")
# Staged keys checked before all of them are (see _nothing_to_change), and sampled to tell how many
# lines a merge must parse (see _merge_staged).
CHANGE_SAMPLE_SIZE = 1_000
# Above this share of lines to parse, a merge parses every line rather than sort out the changed ones:
# the sorting (a join of all staged keys with the stored rows) then saves little.
PARSE_EVERY_LINE_ABOVE = 0.5
# Offending ids a failed quality check names: enough to start investigating, short enough to read.
CHECK_SAMPLE_SIZE = 20

# Columns an update rewrites: the staged ones but the key.
_DATA_COLUMNS = tuple(c for c in STAGED_COLUMNS if c != "id")
_STAGED = sql.Identifier(STAGING_TABLE)
# Ids of repositories seen with the data stored (see touch_unchanged.sql): those staged with the stored
# row_hash, which take_changed_lines.sql leaves in staged_keys.
_STAGED_UNCHANGED = sql.SQL("(SELECT DISTINCT id FROM {})").format(sql.Identifier(KEYS_TABLE))


class Openable(Protocol):
    """A path-like object that opens itself (``pathlib.Path``, Airflow's ``ObjectStoragePath``)."""

    def open(self, mode: str = ...) -> IO[Any]: ...


RowFile = IO[str] | IO[bytes] | Openable | str | os.PathLike[str]


class Merged(NamedTuple):
    """What staging and merging a run's row files did (the figures of :class:`LoadResult`)."""

    total: int
    duplicates: int
    inserted: int
    updated: int
    snapshots: int


@dataclass(frozen=True)
class LoadResult(XComRecord):
    """What one load did to ``github.repositories``; ``inserted + updated + unchanged == total``.

    :param inserted: repositories new to the warehouse.
    :param updated: repositories whose data or bookkeeping changed.
    :param unchanged: repositories staged but left untouched.
    :param snapshots: snapshot rows inserted or updated for the run's date.
    :param total: distinct repositories staged (a repository staged more than once counted once).
    :param duplicates: staged lines dropped because another line of the run had the same id (search
        pages that shifted while stars moved); the load keeps the freshest (``dedupe_staged.sql``).
    """

    inserted: int
    updated: int
    unchanged: int
    snapshots: int
    total: int
    duplicates: int = 0


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


QUALITY_CHECKS: tuple[_QualityCheck, ...] = (
    _QualityCheck("ids_unique_not_null", "check_ids_unique.sql", "repository ids are unique and not null"),
    _QualityCheck("loaded_count", "check_loaded_count.sql", "the warehouse holds every row the run staged"),
    _QualityCheck("counts_not_negative", "check_counts_not_negative.sql", "counts and sizes are not negative"),
    _QualityCheck("created_at_in_range", "check_created_at_range.sql", "created_at is between 2007-10-01 and tomorrow"),
    _QualityCheck(
        "snapshots_reference_repositories",
        "check_snapshots_reference_repositories.sql",
        "every snapshot of the run's date belongs to a stored repository",
    ),
)


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
) -> LoadResult:
    """Load one run's staged row files into the warehouse, atomically, and commit.

    Re-running a load with the same files and observation time writes nothing to the repositories and
    snapshots (only the audit row is rewritten), so a retried task is harmless. Every stored date is
    the observation time's: GitHub serves only current values, so a run of a past logical date (a
    backfill) stores what it saw under the day it saw it, never under its logical date.

    :param db: warehouse connection; the schema is applied (and committed) first, then the load runs
        in a transaction of its own, committed on success and rolled back on any error.
    :param row_files: staged files in COPY text format, ``STAGED_COLUMNS`` (see :mod:`github_etl.columns`):
        open file objects (left open) or paths (opened and closed here). Streamed, never read whole;
        not read at all when the key files show that nothing would change.
    :param run_id: Airflow run id, the audit row's key.
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
    :param census: census mode: the id range crawled, ``{"since_id", "until_id"}``; the census's cursor
        moves over it in this transaction (``advance_census_cursor.sql``).
    """
    _require_aware(logical_date)
    _require_aware(observed_at)
    unknown = set(stats) - set(STATS_KEYS)
    if unknown:
        log.warning("Ignoring unknown load stats %s; known: %s", sorted(unknown), ", ".join(STATS_KEYS))
    apply_schema(db)
    ensure_snapshot_partition(db, _snapshot_date(observed_at))
    try:
        with db.cursor() as cur:
            _tune_transaction(cur)
            bulk_structures = _claim_empty_warehouse(cur)
            if bulk_structures is not None:
                total, duplicates = _bulk_load(cur, row_files, bulk_structures, observed_at)
                merged = Merged(total, duplicates, inserted=total, updated=0, snapshots=total)
            elif key_files is not None:
                key_lines = _stage_keys(cur, key_files)
                if _nothing_to_change(cur, observed_at):
                    cur.execute(load_sql("count_staged_keys.sql"))
                    total, lines = (int(value or 0) for value in cur.fetchone())
                    merged = Merged(total, lines - total, inserted=0, updated=0, snapshots=0)
                    log.info("Every staged repository is stored as staged: no row file read")
                else:
                    merged = _merge_staged(cur, row_files, key_lines, observed_at)
            else:
                merged = _merge(cur, row_files, observed_at)
            deleted = _mark_deleted(
                cur, deleted, observed_at, checked=int(stats.get("listed", 0)), max_share=max_deleted_share
            )
            if census is not None:
                _advance_census_cursor(cur, census, run_id)
            if merged.snapshots:
                _refresh_day_summaries(cur, _snapshot_date(observed_at))
            result = LoadResult(**merged._asdict(), unchanged=merged.total - merged.inserted - merged.updated)
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
                    "unreachable": json.dumps(list(unreachable)),
                    "started_at": started_at,
                },
            )
        db.commit()
    except BaseException:
        db.rollback()
        raise
    log.info(
        "Loaded run %s: %s staged (%s duplicates dropped), %s inserted, %s updated, %s unchanged, "
        "%s snapshots written, %s marked deleted",
        run_id,
        result.total,
        result.duplicates,
        result.inserted,
        result.updated,
        result.unchanged,
        result.snapshots,
        deleted,
    )
    return result


def mark_deleted(db: DatabaseConnection, ids: Iterable[tuple[int, str]], observed_at: datetime) -> int:
    """Mark repositories GitHub no longer serves as deleted at ``observed_at``, with why, and commit.

    Rows already marked keep their first deletion date; the rows themselves stay.

    :param db: warehouse connection.
    :param ids: ``(id, reason)`` pairs.
    :param observed_at: the run's observation time (timezone-aware).
    :return: rows newly marked.
    """
    _require_aware(observed_at)
    try:
        with db.cursor() as cur:
            marked = _mark_deleted(cur, ids, observed_at)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return marked


def load_quality_checks(db: DatabaseConnection, run_id: str) -> list[CheckFailure]:
    """Run the data-quality checks over the repositories a committed run loaded.

    A run's repositories are those whose ``last_seen_at`` is its observation time, so run the checks right
    after the load, before a later observation time is loaded.

    :param db: warehouse connection (read only; its transaction is rolled back).
    :param run_id: the run, as recorded in ``github.load_runs``.
    :return: the failed checks, empty when all pass.
    """
    failures: list[CheckFailure] = []
    try:
        with db.cursor() as cur:
            cur.execute("SELECT 1 FROM github.load_runs WHERE run_id = %s", (run_id,))
            if cur.fetchone() is None:
                return [CheckFailure("run_recorded", f"no row for run {run_id!r} in github.load_runs")]
            for check in QUALITY_CHECKS:
                cur.execute(load_sql(check.sql_file), {"run_id": run_id, "sample_size": CHECK_SAMPLE_SIZE})
                row = cur.fetchone()
                if row is None:
                    continue
                failing_rows, sample_ids, detail = row
                message = f"expected {check.expectation}; {failing_rows} rows fail"
                failures.append(
                    CheckFailure(check.name, f"{message} ({detail})" if detail else message, tuple(sample_ids or ()))
                )
    finally:
        db.rollback()
    for failure in failures:
        log.error("Quality check %s failed for run %s: %s; ids %s", failure.check, run_id, failure.message, failure.ids)
    return failures


# -- steps of the load ----------------------------------------------------------------------------


def _tune_transaction(cur: PgCursor) -> None:
    """Settings for this transaction only; durability settings are deliberately left alone."""
    cur.execute("SET LOCAL work_mem = %s", (MERGE_WORK_MEM,))
    # JIT would compile the merge's many-column comparisons anew on every load; at these row counts
    # compiling costs more than it saves.
    cur.execute("SET LOCAL jit = off")
    # temp_buffers only counts before the session first touches a temporary table, hence the check.
    cur.execute("SELECT pg_my_temp_schema() = 0")
    if cur.fetchone()[0]:
        cur.execute("SET LOCAL temp_buffers = %s", (STAGING_TEMP_BUFFERS,))


def _stage(cur: PgCursor, row_files: Iterable[RowFile], key_lines: list[int] | None = None) -> tuple[int, int]:
    """Create the staging table, COPY the files into it and drop duplicate ids.

    :param key_lines: the line count of each row file's key file: copy only the lines that
        ``take_changed_lines.sql`` put in ``changed_lines``. None: copy every line.
    :return: distinct rows staged, duplicate rows dropped.
    """
    cur.execute(_template("create_staging.sql", columns=_identifiers(STAGED_COLUMNS)))
    table = sql.Identifier(STAGING_TABLE)
    if key_lines is None:
        copied = sum(_copy_file(cur, row_file, table, STAGED_COLUMNS) for row_file in row_files)
    else:
        copied = _copy_changed_lines(cur, row_files, key_lines, table)
    duplicates = _drop_duplicates(cur, table)
    # Autovacuum never analyses temporary tables. The row count and the id column are all the merge's
    # plan depends on, and analysing one column is much cheaper than analysing thirty.
    cur.execute(sql.SQL("ANALYZE {} (id)").format(sql.Identifier(STAGING_TABLE)))
    return copied - duplicates, duplicates


def _copy_file(
    cur: PgCursor, row_file: RowFile, table: sql.Identifier, columns: tuple[str, ...], *, freeze: bool = False
) -> int:
    """COPY one staged file into ``table``, streaming it; returns the rows copied.

    :param freeze: write the rows frozen (``COPY ... FREEZE``); the table must have been created or
        truncated in the current transaction.
    """
    with _opened(row_file) as stream:
        return _copy_stream(cur, stream, _name_of(row_file), table, columns, freeze=freeze)


def _copy_stream(
    cur: PgCursor,
    stream: IO[bytes] | SelectedLines,
    name: str,
    table: sql.Identifier,
    columns: tuple[str, ...],
    *,
    freeze: bool = False,
) -> int:
    """COPY what ``stream`` reads (COPY text rows of the staged file ``name``) into ``table``."""
    options = sql.SQL("WITH (FREEZE)") if freeze else sql.SQL("")
    statement = _template("copy_staged.sql", table=table, columns=_identifiers(columns), options=options).as_string(
        cur.connection
    )
    try:
        cur.copy_expert(statement, stream, size=COPY_CHUNK_BYTES)
    except psycopg2.Error as exc:
        log.error("COPY of staged file %s failed: %s", name, str(exc).strip())
        if isinstance(stream, SelectedLines) and stream.error is not None:
            raise stream.error from exc
        raise
    log.debug("Copied %s rows from %s", cur.rowcount, name)
    return cur.rowcount


def _copy_changed_lines(
    cur: PgCursor, row_files: Iterable[RowFile], key_lines: list[int], table: sql.Identifier
) -> int:
    """COPY the row files' lines listed in ``changed_lines`` into ``table``; returns the rows copied.

    The line numbers are spooled to a temporary file first, because the connection cannot read them
    while it feeds a COPY; they take 8 bytes or so per changed line on disk and none in memory. A row
    file with no changed line is not opened.
    """
    row_files = list(row_files)
    if len(row_files) != len(key_lines):
        raise StagedFilesMismatch(f"{len(key_lines)} key files staged for {len(row_files)} row files")
    copied = 0
    with tempfile.TemporaryFile() as spool:
        cur.copy_expert("COPY (SELECT line FROM changed_lines ORDER BY line) TO STDOUT", spool, size=COPY_CHUNK_BYTES)
        spool.seek(0)
        numbers = LineNumbers(int(line) for line in spool)
        for row_file, line_count in zip(row_files, key_lines, strict=True):
            wanted = numbers.for_file(line_count)
            first = next(wanted, None)
            if first is None:
                continue
            with _opened(row_file) as stream:
                name = _name_of(row_file)
                selected = SelectedLines(stream, itertools.chain([first], wanted), name)
                copied += _copy_stream(cur, selected, name, table, STAGED_COLUMNS)
    return copied


def _drop_duplicates(cur: PgCursor, table: sql.Identifier) -> int:
    """Keep one row per id in ``table`` (see ``dedupe_staged.sql``); returns the rows dropped."""
    cur.execute(_template("dedupe_staged.sql", table=table))
    return cur.rowcount


def _stage_keys(cur: PgCursor, key_files: Iterable[RowFile]) -> list[int]:
    """COPY the key files into ``staged_keys``, numbering their lines; returns each file's line count."""
    cur.execute(load_sql("create_staged_keys.sql"))
    table = sql.Identifier(KEYS_TABLE)
    key_lines = [_copy_file(cur, key_file, table, KEY_COLUMNS) for key_file in key_files]
    cur.execute(sql.SQL("ANALYZE {}").format(table))
    return key_lines


def _nothing_to_change(cur: PgCursor, observed_at: datetime) -> bool:
    """Tell whether merging the staged keys' rows would write nothing (``keys_changed.sql``).

    A run that changes anything usually changes it everywhere (a new observation time moves every
    ``last_seen_at``), so a sample of the keys is checked first and the first change found settles it;
    only when the sample shows none are all the keys checked.
    """
    table = sql.Identifier(KEYS_TABLE)
    params = {"seen_at": observed_at, "snapshot_date": _snapshot_date(observed_at)}
    sample = sql.SQL("(SELECT id, row_hash FROM {} LIMIT {})").format(table, sql.Literal(CHANGE_SAMPLE_SIZE))
    for staged in (sample, table):
        cur.execute(_template("keys_changed.sql", staged=staged), params)
        if cur.fetchone()[0]:
            return False
    return True


@dataclass(frozen=True)
class _Structure:
    kind: str  # "index" or "constraint"
    schema: str
    table: str
    name: str
    definition: str

    def drop(self) -> sql.Composed:
        if self.kind == "index":
            return sql.SQL("DROP INDEX {}").format(sql.Identifier(self.schema, self.name))
        return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(self._table(), sql.Identifier(self.name))

    def create(self) -> sql.Composable:
        if self.kind == "index":
            return sql.SQL(self.definition)
        return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(self._table(), sql.Identifier(self.name)) + sql.SQL(
            self.definition
        )

    def _table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)


def _claim_empty_warehouse(cur: PgCursor) -> list[_Structure] | None:
    """Take an empty warehouse nobody else is using for an initial bulk load.

    :return: the indexes and constraints to drop and rebuild around the bulk insert, in rebuild
        order; None when the warehouse holds rows, another session uses its tables or another table's
        foreign key depends on its primary key, and the load then takes another path.
    """
    if not _warehouse_is_empty(cur):
        return None
    cur.execute(load_sql("foreign_references.sql"))
    references = [name for (name,) in cur.fetchall()]
    if references:
        log.info("Empty warehouse, but %s reference its keys: loading without the bulk path", ", ".join(references))
        return None
    # Locks taken after a savepoint are released by rolling back to it, so a failed claim leaves no trace.
    cur.execute("SAVEPOINT claim_empty_warehouse")
    try:
        cur.execute(load_sql("bulk_load_lock.sql"))
    except psycopg2.errors.LockNotAvailable:
        cur.execute("ROLLBACK TO SAVEPOINT claim_empty_warehouse")
        return None
    if not _warehouse_is_empty(cur):  # another load committed between the first look and the lock
        cur.execute("ROLLBACK TO SAVEPOINT claim_empty_warehouse")
        return None
    cur.execute("RELEASE SAVEPOINT claim_empty_warehouse")
    cur.execute(load_sql("bulk_load_structures.sql"))
    return [_Structure(*row) for row in cur.fetchall()]


def _warehouse_is_empty(cur: PgCursor) -> bool:
    """Whether both tables the bulk load rebuilds are empty.

    Snapshots outlive their repositories (no foreign key cascades), so a warehouse whose repositories were
    deleted can still hold their history. Loading the same date again must then merge into it, and
    rebuilding the snapshots' key would re-sort all that history: the ordinary path does neither.
    """
    cur.execute(
        "SELECT NOT EXISTS (SELECT FROM github.repositories), NOT EXISTS (SELECT FROM github.repository_snapshots)"
    )
    no_repositories, no_snapshots = cur.fetchone()
    if no_repositories and not no_snapshots:
        log.info("No repositories stored, but snapshots are: loading without the bulk path")
    return bool(no_repositories and no_snapshots)


def _bulk_load(
    cur: PgCursor, row_files: Iterable[RowFile], structures: list[_Structure], observed_at: datetime
) -> tuple[int, int]:
    """Initial load into the empty warehouse claimed by :func:`_claim_empty_warehouse`.

    The row files are copied straight into ``github.repositories``, with no index or key to maintain
    and no staging table to write first: the rows are parsed and written once, as ``psql``'s ``\\copy``
    would, and frozen. Duplicates are then dropped, snapshots inserted from the new rows, and every
    structure is rebuilt from all rows at once. The bookkeeping columns, absent from the files, take the
    observation time through column defaults set for this transaction only.

    :return: distinct repositories loaded, duplicate rows dropped.
    """
    phases: dict[str, float] = {}
    began = time.perf_counter()
    for structure in reversed(structures):
        cur.execute(structure.drop())
    log.info("Empty warehouse: bulk load, rebuilding %s afterwards", ", ".join(s.name for s in structures))
    cur.execute(
        "ALTER TABLE github.repositories"
        " ALTER COLUMN first_seen_at SET DEFAULT %(seen_at)s, ALTER COLUMN last_seen_at SET DEFAULT %(seen_at)s",
        {"seen_at": observed_at},
    )
    # The table is empty and locked against every other session; truncating it anyway lets COPY write
    # the rows frozen and their pages all-visible. Without that, the first scan after the commit would
    # dirty every page to set hint bits, and a later anti-wraparound vacuum would rewrite every page to
    # freeze it, work and WAL that a frozen load never costs. COPY itself is no slower. The catch,
    # PostgreSQL's documented one: a transaction whose snapshot was taken before the commit, and that has
    # not touched the table yet, sees the rows too, where it would otherwise see the empty table.
    cur.execute("TRUNCATE github.repositories")
    table = sql.Identifier("github", "repositories")
    copied = sum(_copy_file(cur, row_file, table, STAGED_COLUMNS, freeze=True) for row_file in row_files)
    cur.execute(
        "ALTER TABLE github.repositories ALTER COLUMN first_seen_at DROP DEFAULT,"
        " ALTER COLUMN last_seen_at DROP DEFAULT"
    )
    began = _phase(phases, "copy", began)
    cur.execute("SET LOCAL maintenance_work_mem = %s", (INDEX_BUILD_MEMORY,))
    repositories_key = next(s for s in structures if s.table == "repositories" and s.kind == "constraint")
    duplicates = _build_unique_key(cur, repositories_key, table)
    cur.execute(
        _template("bulk_snapshots.sql", snapshot_columns=_identifiers(SNAPSHOT_COLUMNS)),
        {"snapshot_date": _snapshot_date(observed_at)},
    )
    began = _phase(phases, "keys_and_snapshots", began)
    for structure in structures:
        if structure is not repositories_key:
            cur.execute(structure.create())
    _phase(phases, "indexes_and_constraints", began)
    # No ANALYZE: index builds already set the row counts the next load's joins are planned from, and
    # autovacuum analyses the new rows soon after; analysing here would add a sizeable share to the load.
    log.info(
        "Bulk load phases: %s",
        ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items()),
        extra={"phases": phases},
    )
    return copied - duplicates, duplicates


def _phase(phases: dict[str, float], name: str, began: float) -> float:
    """Record the seconds since ``began`` as phase ``name``; returns now, the next phase's start."""
    now = time.perf_counter()
    phases[name] = round(now - began, 3)
    return now


def _build_unique_key(cur: PgCursor, key: _Structure, table: sql.Identifier) -> int:
    """Build the primary key of the bulk-loaded table, dropping duplicate ids first if there are any.

    Building the key is the cheapest test for duplicates: it fails on the first one. Only then is the
    table searched for them (a full aggregate), and the key built again.

    :return: duplicate rows dropped.
    """
    cur.execute("SAVEPOINT build_unique_key")
    try:
        cur.execute(key.create())
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT build_unique_key")
        cur.execute("RELEASE SAVEPOINT build_unique_key")
        duplicates = _drop_duplicates(cur, table)
        cur.execute(key.create())
        return duplicates
    cur.execute("RELEASE SAVEPOINT build_unique_key")
    return 0


def _merge_repositories(cur: PgCursor, observed_at: datetime) -> tuple[int, int]:
    """Insert the new repositories, keep the attribute history of the stored ones that changed, then update them.

    :return: (inserted, updated).
    """
    cur.execute(load_sql("lock_repositories_writers.sql"))
    seen_at = {"seen_at": observed_at}
    insert = _template(
        "insert_repositories.sql",
        columns=_identifiers(STAGED_COLUMNS),
        staged_columns=_identifiers(STAGED_COLUMNS, "staged"),
    )
    cur.execute(insert, seen_at)
    inserted = cur.rowcount
    # Before the update overwrites them: the previous values of the attributes whose history is kept.
    history = _template(
        "record_attribute_changes.sql",
        tracked=_identifiers(HISTORY_COLUMNS),
        existing_tracked=_identifiers(HISTORY_COLUMNS, "existing"),
        staged_tracked=_identifiers(HISTORY_COLUMNS, "staged"),
    )
    cur.execute(history, seen_at)
    update = _template(
        "update_repositories.sql",
        data_columns=_identifiers(_DATA_COLUMNS),
        staged_data=_identifiers(_DATA_COLUMNS, "staged"),
    )
    cur.execute(update, seen_at)
    return inserted, cur.rowcount


def _merge(
    cur: PgCursor, row_files: Iterable[RowFile], observed_at: datetime, key_lines: list[int] | None = None
) -> Merged:
    """Stage the row files (every line, or the changed ones: see :func:`_stage`) and merge them."""
    staged, duplicates = _stage(cur, row_files, key_lines)
    inserted, updated = _merge_repositories(cur, observed_at)
    return Merged(staged, duplicates, inserted, updated, _merge_snapshots(cur, observed_at))


def _merge_staged(cur: PgCursor, row_files: Iterable[RowFile], key_lines: list[int], observed_at: datetime) -> Merged:
    """Merge a run whose key files are staged, parsing only the lines whose data are not stored.

    Under the writers' lock, ``take_changed_lines.sql`` splits the staged repositories in two: those
    new or stored with other data, whose lines are parsed and merged as without key files, and those
    stored with the data staged, whose bookkeeping moves and whose snapshot is taken from the stored row
    (:func:`_touch_unchanged`). A daily run that sees most repositories again unchanged then parses
    and copies few lines. When a sample of the keys shows that most lines must be parsed anyway, every
    line is, as without key files.
    """
    cur.execute(_template("changed_share.sql", sample_size=sql.Literal(CHANGE_SAMPLE_SIZE)))
    if float(cur.fetchone()[0]) > PARSE_EVERY_LINE_ABOVE:
        return _merge(cur, row_files, observed_at)
    cur.execute(load_sql("count_staged_keys.sql"))
    total, lines = (int(value or 0) for value in cur.fetchone())
    cur.execute(load_sql("lock_repositories_writers.sql"))
    cur.execute(load_sql("take_changed_lines.sql"))
    parsed = _merge(cur, row_files, observed_at, key_lines)
    touched, unchanged_snapshots = _touch_unchanged(cur, _STAGED_UNCHANGED, observed_at)
    log.info(
        "Merged %s repositories: %s new or with other data (their lines parsed), %s stored as staged"
        " (%s with bookkeeping moved, their lines not parsed)",
        total,
        parsed.total,
        total - parsed.total,
        touched,
    )
    return Merged(
        total, lines - total, parsed.inserted, parsed.updated + touched, parsed.snapshots + unchanged_snapshots
    )


def _merge_snapshots(
    cur: PgCursor,
    observed_at: datetime,
    source: sql.Composable = _STAGED,
) -> int:
    """Write the staged repositories' snapshots of the run's date; returns the rows written.

    When none of them has a snapshot of the date yet they are appended (``append_snapshots.sql``);
    otherwise, as when a date is loaded again, they are merged, writing only the counts that differ
    (``merge_snapshots.sql``).

    :param source: the relation the counts come from (``id`` and the snapshot columns): the staging
        table, or the stored rows of repositories seen unchanged.
    """
    snapshot_date = {"snapshot_date": _snapshot_date(observed_at)}
    appended: int | None = None
    cur.execute("SAVEPOINT append_snapshots")
    try:
        cur.execute(
            _template("append_snapshots.sql", snapshot_columns=_identifiers(SNAPSHOT_COLUMNS), source=source),
            snapshot_date,
        )
        appended = cur.rowcount
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT append_snapshots")
    cur.execute("RELEASE SAVEPOINT append_snapshots")
    if appended is not None:
        return appended
    statement = _template(
        "merge_snapshots.sql",
        source=source,
        snapshot_columns=_identifiers(SNAPSHOT_COLUMNS),
        staged_counts=_identifiers(SNAPSHOT_COLUMNS, "staged"),
        existing_counts=_identifiers(SNAPSHOT_COLUMNS, "existing"),
        target_counts=_identifiers(SNAPSHOT_COLUMNS, "target"),
        excluded_counts=_identifiers(SNAPSHOT_COLUMNS, "excluded"),
    )
    cur.execute(statement, snapshot_date)
    return int(cur.fetchone()[0])


def _refresh_day_summaries(cur: PgCursor, snapshot_date: date) -> None:
    """Rebuild the API's summaries of the date (``github.refresh_day_summaries``), in the load's transaction,
    so that they never disagree with the snapshots they summarize."""
    cur.execute("SELECT github.refresh_day_summaries(%s)", (snapshot_date,))


def _mark_deleted(
    cur: PgCursor,
    gone: Iterable[tuple[int, str]],
    observed_at: datetime,
    *,
    checked: int = 0,
    max_share: float | None = None,
) -> int:
    """Mark the repositories GitHub no longer serves, unless there are implausibly many of them.

    An outage, a token that lost access or a bug looks like mass deletion from here: past
    ``max_share`` of the ``checked`` repositories, nothing is marked and the load fails.
    """
    lines = (f"{int(repo_id)}\t{copy_escape(reason)}\n" for repo_id, reason in gone)
    if not _copy_reported(cur, "create_gone_ids.sql", GONE_TABLE, ("id", "reason"), lines):
        return 0
    if max_share is not None:
        cur.execute(load_sql("count_deletions.sql"))
        marking = int(cur.fetchone()[0])
        if marking > max_share * max(checked, 0):
            share = f"{marking / checked:.1%}" if checked else "all"
            raise DeletionGuardError(
                f"The run would mark {marking} of the {checked} repositories it checked as deleted ({share}), "
                f"more than the {max_share:.0%} GITHUB_ETL_MAX_DELETED_SHARE allows; nothing was loaded or marked. "
                "An outage or a token that lost access looks like this: check GitHub's status and the token, "
                "and raise GITHUB_ETL_MAX_DELETED_SHARE for a run that really sees that many go."
            )
    cur.execute(load_sql("mark_deleted.sql"), {"deleted_at": observed_at})
    return cur.rowcount


def _touch_unchanged(cur: PgCursor, seen: sql.Composable, observed_at: datetime) -> tuple[int, int]:
    """Move the bookkeeping of repositories seen with the data stored, and snapshot their stored counts.

    :param seen: a relation of their ids (``_STAGED_UNCHANGED``).
    :return: rows whose bookkeeping moved, snapshots written.
    """
    cur.execute(_template("touch_unchanged.sql", seen=seen), {"seen_at": observed_at})
    touched = cur.rowcount
    stored = sql.SQL("(SELECT stored.id, {counts} FROM github.repositories AS stored JOIN {seen} AS seen USING (id))")
    counts = sql.SQL(", ").join(sql.Identifier("stored", c) for c in SNAPSHOT_COLUMNS)
    return touched, _merge_snapshots(cur, observed_at, stored.format(counts=counts, seen=seen))


def _advance_census_cursor(cur: PgCursor, census: Mapping[str, int], run_id: str) -> None:
    from github_etl.extract.census import CENSUS_NAME

    crawled = {"since_id": int(census["since_id"]), "until_id": int(census["until_id"])}
    cur.execute(load_sql("advance_census_cursor.sql"), {"census": CENSUS_NAME, "run_id": run_id, **crawled})
    if not cur.rowcount:
        log.info(
            "The census crawled ids (%s, %s], within or apart from the range it covers: its cursor stays",
            crawled["since_id"],
            crawled["until_id"],
        )


def _copy_reported_ids(cur: PgCursor, table: str, ids: Iterable[int]) -> int:
    lines = (f"{int(repo_id)}\n" for repo_id in ids)
    return _copy_reported(cur, "create_reported_ids.sql", table, ("id",), lines)


def _copy_reported(cur: PgCursor, create: str, table: str, columns: tuple[str, ...], lines: Iterable[str]) -> int:
    """COPY what a run reports beside its rows into a new temporary ``table``, streaming.

    The values come shard by shard from staged files and may be many (a refresh of a large warehouse
    can find a good share of it gone), so they are never collected in memory. Nothing is created
    when there is nothing to copy.

    :param create: the SQL file creating ``table``.
    :return: lines copied, repeats included.
    """
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        return 0
    target = sql.Identifier(table)
    cur.execute(_template(create, table=target))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, _identifiers(columns)).as_string(cur.connection)
    stream = LineStream(itertools.chain([first], lines))
    try:
        cur.copy_expert(statement, stream, size=REPORTED_CHUNK_CHARS)
    except psycopg2.Error as exc:
        if stream.error is not None:
            raise stream.error from exc
        raise
    return cur.rowcount


# -- small helpers --------------------------------------------------------------------------------


def _template(name: str, **fragments: sql.Composable) -> sql.Composed:
    """An SQL file whose ``{placeholders}`` are filled with quoted identifiers."""
    return sql.SQL(load_sql(name)).format(**fragments)


def _identifiers(columns: Iterable[str], relation: str | None = None) -> sql.Composed:
    """``"a", "b"`` or, with a relation, ``"rel"."a", "rel"."b"``."""
    names = [sql.Identifier(relation, c) if relation else sql.Identifier(c) for c in columns]
    return sql.SQL(", ").join(names)


@contextlib.contextmanager
def _opened(row_file: RowFile) -> Iterator[IO[Any]]:
    """The file object to COPY from: an open file as is, a path opened in binary (no decode/encode)."""
    if hasattr(row_file, "read"):
        yield row_file  # type: ignore[misc]
        return
    path = row_file if hasattr(row_file, "open") else Path(os.fspath(row_file))  # type: ignore[arg-type]
    with path.open("rb") as stream:  # type: ignore[union-attr]
        yield stream


def _name_of(row_file: RowFile) -> str:
    return str(getattr(row_file, "name", row_file))


def _snapshot_date(observed_at: datetime) -> date:
    """The date a run's snapshots are taken under: its observation time's UTC date."""
    return observed_at.astimezone(UTC).date()


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"logical_date and observed_at must be timezone-aware, got {moment!r}")
