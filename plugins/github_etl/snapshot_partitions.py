"""Convert a warehouse's ``github.repository_snapshots`` from one table into monthly partitions.

Warehouses created before the snapshots were partitioned by month (see ``schema.sql``) keep one table,
which the load goes on writing. This conversion keeps every row where it is: the table becomes the
partition of every date before the first day of the month after the later of today and its newest
snapshot, and later months get partitions of their own as the load reaches them.

Three steps, so that nothing waits long on a big table:

1. a ``CHECK`` constraint on that bound is added ``NOT VALID`` (an instant's exclusive lock);
2. it is validated: one scan of the table, under a lock that readers and writers do not wait for;
3. in one short transaction, the table and its indexes are renamed, ``schema.sql`` creates the
   partitioned table under the old name, and the old table is attached to it; the validated constraint
   spares that attach a second scan.

Views that an analyst built on the table follow the rename (PostgreSQL binds them to the table, not to
its name): recreate them afterwards. Run it while no load is running::

    PYTHONPATH=plugins .venv/bin/python -m github_etl.snapshot_partitions [postgresql://...]
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, date, datetime

from psycopg2 import sql

from github_etl.hooks.warehouse import SCHEMA_LOCK_KEY, DatabaseConnection, load_sql

log = logging.getLogger(__name__)

BOUND_CONSTRAINT = "repository_snapshots_before_partitions"


def partition_snapshots(db: DatabaseConnection, *, today: date | None = None) -> str | None:
    """Make ``github.repository_snapshots`` the monthly partitioned table, the old table its first partition.

    :param db: warehouse connection; each step commits.
    :param today: the date the bound is taken from when no snapshot is newer (default: today, UTC).
    :return: the old table's new name, or None when the snapshots were partitioned already.
    """
    today = today or datetime.now(UTC).date()
    with db.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = 'github.repository_snapshots'::regclass")
        if cur.fetchone()[0] == "p":
            db.rollback()
            log.info("github.repository_snapshots is partitioned already: nothing to do")
            return None
        cur.execute("SELECT max(snapshot_date) FROM github.repository_snapshots")
        newest = cur.fetchone()[0]
    db.rollback()
    bound = _first_of_next_month(max(today, newest or today))
    legacy = f"repository_snapshots_before_{bound:%Y_%m}"

    table = sql.Identifier("github", "repository_snapshots")
    constraint = sql.Identifier(BOUND_CONSTRAINT)
    try:
        with db.cursor() as cur:
            # A run stopped after this step left its constraint, perhaps with an earlier bound.
            cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(table, constraint))
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (snapshot_date < {}) NOT VALID").format(
                    table, constraint, sql.Literal(bound)
                )
            )
        db.commit()
        with db.cursor() as cur:
            cur.execute(sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(table, constraint))
        db.commit()
        with db.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            cur.execute("LOCK TABLE github.repository_snapshots IN ACCESS EXCLUSIVE MODE")
            # The new table's indexes take the old names; the old ones make way.
            cur.execute(
                "SELECT index_class.relname FROM pg_index"
                " JOIN pg_class AS index_class ON index_class.oid = pg_index.indexrelid"
                " WHERE pg_index.indrelid = 'github.repository_snapshots'::regclass"
            )
            for (index,) in cur.fetchall():
                cur.execute(
                    sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                        sql.Identifier("github", index),
                        sql.Identifier(index.replace("repository_snapshots", legacy, 1)),
                    )
                )
            cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(table, sql.Identifier(legacy)))
            cur.execute(load_sql("schema.sql"))
            cur.execute(
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (MINVALUE) TO ({})").format(
                    table, sql.Identifier("github", legacy), sql.Literal(bound)
                )
            )
        db.commit()
    except BaseException:
        db.rollback()
        raise
    log.info("github.repository_snapshots is partitioned by month; rows before %s are in github.%s", bound, legacy)
    return legacy


def _first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = sys.argv[1:] if argv is None else argv
    with DatabaseConnection(*args[:1]) as db:
        partition_snapshots(db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
