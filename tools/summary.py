"""Print the latest run's audit row and the table's total: the last words of ``make run``."""

from __future__ import annotations

import sys

from github_etl.hooks.warehouse import DatabaseConnection, count_repositories

AUDIT_COLUMNS = ("listed", "enriched", "skipped", "rejected", "inserted", "updated", "unchanged", "api_requests")


def main() -> int:
    with DatabaseConnection() as db:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT run_id, mode, " + ", ".join(AUDIT_COLUMNS) + " FROM github.load_runs"
                " ORDER BY finished_at DESC LIMIT 1"
            )
            row = cursor.fetchone()
        total = count_repositories(db)
    if row is None:
        print("No run has been loaded yet.")
        return 1
    run_id, mode, *figures = row
    print(f"Run {run_id} (mode {mode}):")
    for name, value in zip(AUDIT_COLUMNS, figures, strict=True):
        print(f"  {name:>13}: {value}")
    print(f"  github.repositories now holds {total} repositories")
    return 0


if __name__ == "__main__":
    sys.exit(main())
