"""The load's write generation: the number every row it changes carries, in the order loads commit.

``github.write_generation()`` (``schema.sql``) takes it once per transaction, locking the row every writer of
``github.repositories`` queues on, so a load that commits later always carries a greater generation than one
that committed before it, whatever their observation times. Readers of changes rely on that
(docs/history.md#reading-changes-incrementally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from github_etl.hooks.warehouse import load_sql

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor


def write_generation(cur: PgCursor) -> int:
    """The transaction's write generation; the first call waits for every other writer to commit
    (``lock_repositories_writers.sql``), the later ones return the same number at once."""
    cur.execute(load_sql("lock_repositories_writers.sql"))
    return int(cur.fetchone()[0])
