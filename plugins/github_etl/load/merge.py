"""The merge into a warehouse that holds rows: repositories, their attribute history and snapshots.

The row files are copied into a temporary staging table, then new repositories are inserted and
stored ones that changed updated, their previous attribute values kept first. With key files, only
the lines of repositories new or with other data are parsed; those seen unchanged have their
bookkeeping moved and their snapshot taken from the stored row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from github_etl.columns import HISTORY_COLUMNS, KEY_COLUMNS, SNAPSHOT_WRITTEN_COLUMNS, STAGED_COLUMNS
from github_etl.hooks.warehouse import load_sql
from github_etl.load.generation import write_generation
from github_etl.load.observation import snapshot_date_of
from github_etl.load.row_files import RowFile, check_line_counts, copy_changed_lines, copy_file, drop_duplicates
from github_etl.load.statements import identifiers, template

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

log = logging.getLogger(__name__)

STAGING_TABLE = "staged_repositories"
KEYS_TABLE = "staged_keys"
# Staged keys checked before all of them are (see nothing_to_change), and sampled to tell how many
# lines a merge must parse (see merge_with_keys).
CHANGE_SAMPLE_SIZE = 1_000
# Above this share of lines to parse, a merge parses every line rather than sort out the changed ones:
# the sorting (a join of all staged keys with the stored rows) then saves little.
PARSE_EVERY_LINE_ABOVE = 0.5

# Columns an update rewrites: the staged ones but the key.
_DATA_COLUMNS = tuple(c for c in STAGED_COLUMNS if c != "id")
_STAGED = sql.Identifier(STAGING_TABLE)
# Each data column of update_repositories.sql: the staged value, unless the stored row was observed later.
_NEWEST_DATA = sql.SQL(", ").join(
    sql.SQL("CASE WHEN target.last_seen_at <= %(seen_at)s THEN {} ELSE {} END").format(
        sql.Identifier("staged", column), sql.Identifier("target", column)
    )
    for column in _DATA_COLUMNS
)
# Ids of repositories seen with the data stored (see touch_unchanged.sql): those staged with the stored
# row_hash, which take_changed_lines.sql leaves in staged_keys.
_STAGED_UNCHANGED = sql.SQL("(SELECT DISTINCT id FROM {})").format(sql.Identifier(KEYS_TABLE))
# The relations of record_late_attributes.sql whose tracked columns it names.
_LATE_RELATIONS = ("seen", "current", "covering", "following", "kept", "late", "earliest")


def _stage(
    cur: PgCursor, row_files: Iterable[RowFile], key_lines: list[int] | None = None, row_counts: list[int] | None = None
) -> tuple[int, int]:
    """Create the staging table, COPY the files into it and drop duplicate ids.

    :param key_lines: the line count of each row file's key file: copy only the lines that
        ``take_changed_lines.sql`` put in ``changed_lines``. None: copy every line, which must be ``row_counts``.
    :return: distinct rows staged, duplicate rows dropped.
    """
    cur.execute(template("create_staging.sql", columns=identifiers(STAGED_COLUMNS)))
    table = sql.Identifier(STAGING_TABLE)
    if key_lines is None:
        row_files = list(row_files)
        per_file = [copy_file(cur, row_file, table, STAGED_COLUMNS) for row_file in row_files]
        check_line_counts(row_files, per_file, row_counts)
        copied = sum(per_file)
    else:
        copied = copy_changed_lines(cur, row_files, key_lines, table)
    duplicates = drop_duplicates(cur, table)
    # Autovacuum never analyses temporary tables. The row count and the id column are all the merge's
    # plan depends on, and analysing one column is much cheaper than analysing thirty.
    cur.execute(sql.SQL("ANALYZE {} (id)").format(sql.Identifier(STAGING_TABLE)))
    return copied - duplicates, duplicates


def stage_keys(cur: PgCursor, key_files: Iterable[RowFile]) -> list[int]:
    """COPY the key files into ``staged_keys``, numbering their lines; returns each file's line count."""
    cur.execute(load_sql("create_staged_keys.sql"))
    table = sql.Identifier(KEYS_TABLE)
    key_lines = [copy_file(cur, key_file, table, KEY_COLUMNS) for key_file in key_files]
    cur.execute(sql.SQL("ANALYZE {}").format(table))
    return key_lines


def nothing_to_change(cur: PgCursor, observed_at: datetime) -> bool:
    """Tell whether merging the staged keys' rows would write nothing (``keys_changed.sql``).

    A run that changes anything usually changes it everywhere (a new observation time moves every
    ``last_seen_at``), so a sample of the keys is checked first and the first change found settles it;
    only when the sample shows none are all the keys checked.
    """
    table = sql.Identifier(KEYS_TABLE)
    params = {"seen_at": observed_at, "snapshot_date": snapshot_date_of(observed_at)}
    sample = sql.SQL("(SELECT id, row_hash FROM {} LIMIT {})").format(table, sql.Literal(CHANGE_SAMPLE_SIZE))
    for staged in (sample, table):
        cur.execute(template("keys_changed.sql", staged=staged), params)
        if cur.fetchone()[0]:
            return False
    return True


def _merge_repositories(cur: PgCursor, observed_at: datetime) -> tuple[int, int]:
    """Insert the new repositories, keep the attribute history of the stored ones that changed, then update them.

    :return: (inserted, updated).
    """
    seen_at = {"seen_at": observed_at, "generation": write_generation(cur)}
    insert = template(
        "insert_repositories.sql",
        columns=identifiers(STAGED_COLUMNS),
        staged_columns=identifiers(STAGED_COLUMNS, "staged"),
    )
    cur.execute(insert, seen_at)
    inserted = cur.rowcount
    # Before the update overwrites them: the previous values of the attributes whose history is kept.
    _record_attribute_changes(cur, seen_at)
    _record_late_attributes(cur, seen_at, _STAGED)
    update = template("update_repositories.sql", data_columns=identifiers(_DATA_COLUMNS), newest_data=_NEWEST_DATA)
    cur.execute(update, seen_at)
    return inserted, cur.rowcount


def _record_attribute_changes(cur: PgCursor, seen_at: dict[str, Any]) -> None:
    """Keep, in ``github.repository_history``, the tracked attributes of the stored rows the staged ones change.

    A step of its own so the load benchmark can time it and measure the load without it.
    """
    history = template(
        "record_attribute_changes.sql",
        tracked=identifiers(HISTORY_COLUMNS),
        existing_tracked=identifiers(HISTORY_COLUMNS, "existing"),
        staged_tracked=identifiers(HISTORY_COLUMNS, "staged"),
    )
    cur.execute(history, seen_at)


def _record_late_attributes(cur: PgCursor, seen_at: dict[str, Any], source: sql.Composable) -> None:
    """Place the tracked attributes of a run observed before a later one already loaded among the versions kept
    (``record_late_attributes.sql``), before the merge moves ``first_seen_at`` back.

    Only when a run observed later has loaded: no stored observation can be later otherwise, and a daily load
    then pays one look at ``github.load_runs``.

    :param seen_at: the statements' parameters: ``seen_at``, the observation time, and the load's ``generation``.
    :param source: the run's repositories, ``id`` and the tracked columns.
    """
    cur.execute("SELECT EXISTS (SELECT FROM github.load_runs WHERE observed_at > %(seen_at)s)", seen_at)
    if not cur.fetchone()[0]:
        return
    fragments = {f"{name}_tracked": identifiers(HISTORY_COLUMNS, name) for name in _LATE_RELATIONS}
    statement = template("record_late_attributes.sql", source=source, tracked=identifiers(HISTORY_COLUMNS), **fragments)
    cur.execute(statement, seen_at)


class Merged(NamedTuple):
    """What staging and merging a run's row files did (the figures of ``LoadResult``)."""

    total: int
    duplicates: int
    inserted: int
    updated: int
    snapshots: int


def stage_and_merge(
    cur: PgCursor,
    row_files: Iterable[RowFile],
    observed_at: datetime,
    key_lines: list[int] | None = None,
    row_counts: list[int] | None = None,
) -> Merged:
    """Stage the row files (every line, or the changed ones: see :func:`_stage`) and merge them."""
    staged, duplicates = _stage(cur, row_files, key_lines, row_counts)
    inserted, updated = _merge_repositories(cur, observed_at)
    return Merged(staged, duplicates, inserted, updated, _merge_snapshots(cur, observed_at))


def merge_with_keys(
    cur: PgCursor,
    row_files: Iterable[RowFile],
    key_lines: list[int],
    observed_at: datetime,
    row_counts: list[int] | None = None,
) -> Merged:
    """Merge a run whose key files are staged, parsing only the lines whose data are not stored.

    Under the writers' lock, ``take_changed_lines.sql`` splits the staged repositories in two: those
    new or stored with other data, whose lines are parsed and merged as without key files, and those
    stored with the data staged, whose bookkeeping moves and whose snapshot is taken from the stored row
    (:func:`_touch_unchanged`). A daily run that sees most repositories again unchanged then parses
    and copies few lines. When a sample of the keys shows that most lines must be parsed anyway, every
    line is, as without key files.
    """
    cur.execute(template("changed_share.sql", sample_size=sql.Literal(CHANGE_SAMPLE_SIZE)))
    if float(cur.fetchone()[0]) > PARSE_EVERY_LINE_ABOVE:
        return stage_and_merge(cur, row_files, observed_at, row_counts=row_counts)
    cur.execute(load_sql("count_staged_keys.sql"))
    total, lines = (int(value or 0) for value in cur.fetchone())
    write_generation(cur)
    cur.execute(load_sql("take_changed_lines.sql"))
    parsed = stage_and_merge(cur, row_files, observed_at, key_lines)
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
    snapshot_date = {
        "snapshot_date": snapshot_date_of(observed_at),
        "seen_at": observed_at,
        "generation": write_generation(cur),
    }
    appended: int | None = None
    cur.execute("SAVEPOINT append_snapshots")
    try:
        cur.execute(
            template("append_snapshots.sql", snapshot_columns=identifiers(SNAPSHOT_WRITTEN_COLUMNS), source=source),
            snapshot_date,
        )
        appended = cur.rowcount
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT append_snapshots")
    cur.execute("RELEASE SAVEPOINT append_snapshots")
    if appended is not None:
        return appended
    statement = template(
        "merge_snapshots.sql",
        source=source,
        snapshot_columns=identifiers(SNAPSHOT_WRITTEN_COLUMNS),
        staged_counts=identifiers(SNAPSHOT_WRITTEN_COLUMNS, "staged"),
        existing_counts=identifiers(SNAPSHOT_WRITTEN_COLUMNS, "existing"),
        target_counts=identifiers(SNAPSHOT_WRITTEN_COLUMNS, "target"),
        excluded_counts=identifiers(SNAPSHOT_WRITTEN_COLUMNS, "excluded"),
    )
    cur.execute(statement, snapshot_date)
    return int(cur.fetchone()[0])


def _touch_unchanged(cur: PgCursor, seen: sql.Composable, observed_at: datetime) -> tuple[int, int]:
    """Move the bookkeeping of repositories seen with the data stored, and snapshot their stored counts.

    :param seen: a relation of their ids (``_STAGED_UNCHANGED``).
    :return: rows whose bookkeeping moved, snapshots written.
    """
    stored = sql.SQL("(SELECT stored.id, {columns} FROM github.repositories AS stored JOIN {seen} AS seen USING (id))")
    seen_at = {"seen_at": observed_at, "generation": write_generation(cur)}
    # Seen with the data stored, so with the stored row's tracked attributes.
    _record_late_attributes(cur, seen_at, stored.format(columns=identifiers(HISTORY_COLUMNS, "stored"), seen=seen))
    cur.execute(template("touch_unchanged.sql", seen=seen), seen_at)
    touched = cur.rowcount
    counts = sql.SQL(", ").join(sql.Identifier("stored", c) for c in SNAPSHOT_WRITTEN_COLUMNS)
    return touched, _merge_snapshots(cur, observed_at, stored.format(columns=counts, seen=seen))
