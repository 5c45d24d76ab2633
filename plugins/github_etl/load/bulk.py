"""The initial bulk load: an empty warehouse filled straight from the row files, its indexes built after.

Only a warehouse that holds nothing and that no other session uses takes this path: its keys and
indexes are dropped, the rows copied frozen into ``github.repositories``, snapshots inserted from them,
and every structure rebuilt from all rows at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from github_etl.columns import SNAPSHOT_WRITTEN_COLUMNS, STAGED_COLUMNS
from github_etl.hooks.warehouse import load_sql
from github_etl.load.generation import write_generation
from github_etl.load.observation import snapshot_date_of
from github_etl.load.row_files import RowFile, check_line_counts, copy_file, drop_duplicates
from github_etl.load.statements import identifiers, template

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

log = logging.getLogger(__name__)

# Memory for the index builds of an initial bulk load, this transaction only: building an index from
# all rows at once is several times faster than growing it row by row.
INDEX_BUILD_MEMORY = "512MB"


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


def claim_empty_warehouse(cur: PgCursor) -> list[_Structure] | None:
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


def bulk_load(
    cur: PgCursor,
    row_files: Iterable[RowFile],
    structures: list[_Structure],
    observed_at: datetime,
    row_counts: list[int] | None = None,
) -> tuple[int, int]:
    """Initial load into the empty warehouse claimed by :func:`claim_empty_warehouse`.

    The row files are copied straight into ``github.repositories``, with no index or key to maintain
    and no staging table to write first: the rows are parsed and written once, as ``psql``'s ``\\copy``
    would, and frozen. Duplicates are then dropped, snapshots inserted from the new rows, and every
    structure is rebuilt from all rows at once. The bookkeeping columns, absent from the files, take the
    observation time and the load's write generation through column defaults set for this transaction only.

    :param row_counts: the rows the transform wrote to each file, which the files must hold; None: not checked.
    :return: distinct repositories loaded, duplicate rows dropped.
    """
    phases: dict[str, float] = {}
    began = time.perf_counter()
    for structure in reversed(structures):
        cur.execute(structure.drop())
    log.info("Empty warehouse: bulk load, rebuilding %s afterwards", ", ".join(s.name for s in structures))
    generation = write_generation(cur)
    cur.execute(
        "ALTER TABLE github.repositories"
        " ALTER COLUMN first_seen_at SET DEFAULT %(seen_at)s, ALTER COLUMN last_seen_at SET DEFAULT %(seen_at)s,"
        " ALTER COLUMN generation SET DEFAULT %(generation)s",
        {"seen_at": observed_at, "generation": generation},
    )
    # The table is empty and locked against every other session; truncating it anyway lets COPY write
    # the rows frozen and their pages all-visible. Without that, the first scan after the commit would
    # dirty every page to set hint bits, and a later anti-wraparound vacuum would rewrite every page to
    # freeze it, work and WAL that a frozen load never costs. COPY itself is no slower. The catch,
    # PostgreSQL's documented one: a transaction whose snapshot was taken before the commit, and that has
    # not touched the table yet, sees the rows too, where it would otherwise see the empty table.
    cur.execute("TRUNCATE github.repositories")
    table = sql.Identifier("github", "repositories")
    row_files = list(row_files)
    per_file = [copy_file(cur, row_file, table, STAGED_COLUMNS, freeze=True) for row_file in row_files]
    check_line_counts(row_files, per_file, row_counts)
    copied = sum(per_file)
    cur.execute(
        "ALTER TABLE github.repositories ALTER COLUMN first_seen_at DROP DEFAULT,"
        " ALTER COLUMN last_seen_at DROP DEFAULT, ALTER COLUMN generation SET DEFAULT github.write_generation()"
    )
    began = _phase(phases, "copy", began)
    cur.execute("SET LOCAL maintenance_work_mem = %s", (INDEX_BUILD_MEMORY,))
    repositories_key = next(s for s in structures if s.table == "repositories" and s.kind == "constraint")
    duplicates = _build_unique_key(cur, repositories_key, table)
    cur.execute(
        template("bulk_snapshots.sql", snapshot_columns=identifiers(SNAPSHOT_WRITTEN_COLUMNS)),
        {"snapshot_date": snapshot_date_of(observed_at), "seen_at": observed_at, "generation": generation},
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
        duplicates = drop_duplicates(cur, table)
        cur.execute(key.create())
        return duplicates
    cur.execute("RELEASE SAVEPOINT build_unique_key")
    return 0
