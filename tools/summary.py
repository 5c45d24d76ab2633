"""Print the run's audit row and the table's total: the last words of ``make run``.

    python -m tools.summary [--since ISO-TIMESTAMP]

With ``--since`` (when ``make run`` started its run) only a load finished since then is this run's: a run
that failed before its load says so instead of showing an earlier run's figures as if they were its own.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from github_etl.hooks.warehouse import DatabaseConnection, count_repositories
from github_etl.staging import RunStaging
from tools.airflow_processes import see_stored_connections

AUDIT_COLUMNS = (
    "listed",
    "enriched",
    "skipped",
    "rejected",
    "inserted",
    "updated",
    "unchanged",
    "duplicates",
    "api_requests",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.summary", description=__doc__.splitlines()[0])
    parser.add_argument("--since", type=datetime.fromisoformat, default=None, help="only a load finished since then")
    since = parser.parse_args(argv).since
    see_stored_connections()
    with DatabaseConnection() as db:
        with db.cursor() as cursor:
            # A run Airflow refused before prepare (its params against the form) leaves a new warehouse
            # without its schema: that run loaded nothing, which is what to say, not a missing table.
            cursor.execute("SELECT to_regclass('github.load_runs') IS NOT NULL")
            (ready,) = cursor.fetchone()
            row = None
            if ready:
                cursor.execute(
                    "SELECT run_id, dag_id, mode, " + ", ".join(AUDIT_COLUMNS) + " FROM github.load_runs"
                    " WHERE %(since)s::timestamptz IS NULL OR finished_at >= %(since)s::timestamptz"
                    " ORDER BY finished_at DESC LIMIT 1",
                    {"since": since},
                )
                row = cursor.fetchone()
            census = None
            if row is not None and row[2] == "census":
                cursor.execute("SELECT since_id, cursor_id, run_id FROM github.census_cursor")
                census = cursor.fetchone()
        total = count_repositories(db) if ready else 0
    if row is None:
        if since is not None:
            # Whether the run was refused, failed before its load or in it, a failed load commits nothing.
            print(f"This run committed nothing to the warehouse (see above why). github.repositories holds {total}.")
        else:
            print("No run has been loaded yet.")
        return 1
    run_id, dag_id, mode, *figures = row
    print(f"Run {run_id} (mode {mode}):")
    for name, value in zip(AUDIT_COLUMNS, figures, strict=True):
        print(f"  {name:>13}: {value}")
    if figures[AUDIT_COLUMNS.index("rejected")]:
        # A count alone leaves whoever ran it to find the staging layout; the run's folder says which and why.
        print(
            f"  the rejected records, one JSON line each with its reason: {RunStaging(dag_id, run_id).uri('rejected')}"
        )
    if mode == "census":
        # A first census loads nothing: the range it starts is what the run did.
        print(
            f"  the census covers ids ({census[0]}, {census[1]}], last widened by run {census[2]}"
            if census
            else "  the census has no cursor yet: only a run up to today's end of the id space starts it"
        )
    print(f"  github.repositories now holds {total} repositories")
    return 0


if __name__ == "__main__":
    sys.exit(main())
