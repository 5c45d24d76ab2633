"""Before ``make run``: does the warehouse that ``postgres_default`` names accept a connection?

Against a warehouse that cannot be reached, a run retries each connection and each task, as it should
in production: minutes pass before the error (about four with nothing listening on the port). ``make
run`` connects once first, without retries, and stops at once saying why. A refused login fails the
same way, in seconds rather than after Airflow has started.

Run with the Airflow environment of ``tools.dev`` (it resolves the connection as the DAG's tasks do).
"""

from __future__ import annotations

import sys

# Seconds libpq waits for the server; a local or nearby PostgreSQL answers in milliseconds.
CONNECT_TIMEOUT = 10


def main() -> int:
    """Exit 1 with the reason and a hint when the warehouse refuses or cannot be reached; else 0."""
    from github_etl.errors import WarehouseError
    from github_etl.hooks.warehouse import DatabaseConnection

    try:
        with DatabaseConnection(connect_retries=0, connect_timeout=CONNECT_TIMEOUT):
            pass
    except WarehouseError as exc:
        print(
            f"{exc}\n`make run` loads into that warehouse: start it or correct AIRFLOW_CONN_POSTGRES_DEFAULT "
            "(left unset, `make run` starts an embedded PostgreSQL of its own).",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
