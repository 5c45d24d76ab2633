"""Repositories GitHub no longer serves: streamed in as the run reports them, marked deleted under a guard.

The rows stay (their history and snapshots keep meaning something); only ``deleted_at`` and why are set.
A run reporting implausibly many gone marks none and fails instead, since an outage or a token that lost
access looks like mass deletion from here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg2
from psycopg2 import sql

from github_etl.errors import DeletionGuardError
from github_etl.hooks.warehouse import load_sql
from github_etl.line_stream import LineStream
from github_etl.load.generation import write_generation
from github_etl.load.statements import identifiers, template
from github_etl.transform import copy_escape

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

# Temporary table of the ids a run reports gone, with why (see create_gone_ids.sql).
GONE_TABLE = "gone_ids"
# Characters per read of the ids a run reports gone (see _copy_reported): they are made
# line by line in Python, and a read holds every line of its chunk as a string object of its own
# (about 60 bytes for an id), so smaller chunks than the files' keep that under a megabyte.
REPORTED_CHUNK_CHARS = 1 << 16


def mark_gone(
    cur: PgCursor,
    gone: Iterable[tuple[int, str]],
    observed_at: datetime,
    *,
    checked: int = 0,
    max_share: float | None = None,
    of_warehouse: bool = False,
) -> int:
    """Mark the repositories GitHub no longer serves, unless there are implausibly many of them.

    An outage, a token that lost access or a bug looks like mass deletion from here: past
    ``max_share`` of the ``checked`` repositories, nothing is marked and the load fails.

    :param of_warehouse: a refresh: the share is of the warehouse's repositories not marked deleted, when they
        are more than it checked. A refresh of the stale ones checks those other runs stopped finding, mostly
        gone: of those alone, any deletion would be too many.
    """
    lines = (f"{int(repo_id)}\t{copy_escape(reason)}\n" for repo_id, reason in gone)
    if not _copy_reported(cur, "create_gone_ids.sql", GONE_TABLE, ("id", "reason"), lines):
        return 0
    if max_share is not None:
        cur.execute(load_sql("count_deletions.sql"), {"deleted_at": observed_at})
        marking = int(cur.fetchone()[0])
        whose = "it checked"
        # Rounded: 0.29 * 100 is 28.999999999999996 in floating point, and 29 is not above 29 %.
        if marking > round(max_share * max(checked, 0), 6) and of_warehouse:
            cur.execute("SELECT count(*) FROM github.repositories WHERE deleted_at IS NULL")
            if (stored := int(cur.fetchone()[0])) > checked:
                checked, whose = stored, "the warehouse holds"
        if marking > round(max_share * max(checked, 0), 6):
            share = f"{marking / checked:.1%}" if checked else "all"
            raise DeletionGuardError(
                f"The run would mark {marking} of the {checked} repositories {whose} as deleted ({share}), "
                f"more than the {max_share * 100:g}% GITHUB_ETL_MAX_DELETED_SHARE allows; "
                "nothing was loaded or marked. "
                "An outage or a token that lost access looks like this: check GitHub's status and the token, "
                "and raise GITHUB_ETL_MAX_DELETED_SHARE for a run that really sees that many go."
            )
    marking = {"deleted_at": observed_at, "generation": write_generation(cur)}
    cur.execute(load_sql("backdate_deleted.sql"), marking)
    cur.execute(load_sql("mark_deleted.sql"), marking)
    marked = cur.rowcount
    cur.execute(load_sql("keep_gone_reports.sql"), marking)
    return marked


def apply_gone_reports(cur: PgCursor) -> None:
    """Mark deleted the repositories this load inserted that a run loaded before it had found gone.

    Call after the merge of a load that inserted repositories, before :func:`mark_gone`: a run loaded late
    (its failed load cleared after the next run's) must not store as alive what a later run saw gone.
    """
    generation = write_generation(cur)
    # Mostly empty: then the statements would still plan a join with every stored repository.
    cur.execute("SELECT EXISTS (SELECT FROM github.gone_reports)")
    if cur.fetchone()[0]:
        cur.execute(load_sql("apply_gone_reports.sql"), {"generation": generation})


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
    cur.execute(template(create, table=target))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, identifiers(columns)).as_string(cur.connection)
    stream = LineStream(itertools.chain([first], lines))
    try:
        cur.copy_expert(statement, stream, size=REPORTED_CHUNK_CHARS)
    except psycopg2.Error as exc:
        if stream.error is not None:
            raise stream.error from exc
        raise
    return cur.rowcount
