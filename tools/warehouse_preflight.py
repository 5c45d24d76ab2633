"""Before ``make run``: does the warehouse that ``postgres_default`` names accept a connection?

Against a warehouse that cannot be reached, a run retries each connection and each task, as it should
in production: minutes pass before the error (about four with nothing listening on the port). ``make
run`` connects once first, without retries, and stops at once saying why. A refused login fails the
same way, in seconds rather than after Airflow has started.

Run with the Airflow environment of ``tools.dev`` (it resolves the connection as the DAG's tasks do).
"""

from __future__ import annotations

import argparse
import sys

from tools.airflow_processes import see_stored_connections

# Seconds libpq waits for the server; a local or nearby PostgreSQL answers in milliseconds.
CONNECT_TIMEOUT = 10
# The exit status of --defined when nothing defines the warehouse's connection.
UNDEFINED = 3


def main(argv: list[str] | None = None) -> int:
    """Exit 1 with the reason and a hint when the warehouse refuses or cannot be reached; else 0.

    With ``--defined``, only whether Airflow finds the warehouse's connection anywhere it looks (the
    environment, a secrets backend, the metadata database): 0 when it does, ``UNDEFINED`` when not.
    """
    parser = argparse.ArgumentParser(prog="python -m tools.warehouse_preflight")
    parser.add_argument("--defined", action="store_true", help=f"exit 0 if the connection is defined, else {UNDEFINED}")
    args = parser.parse_args(argv)
    see_stored_connections()
    if args.defined:
        return _defined()
    from github_etl.errors import WarehouseError
    from github_etl.hooks.warehouse import DatabaseConnection

    try:
        with DatabaseConnection(connect_retries=0, connect_timeout=CONNECT_TIMEOUT):
            pass
    except WarehouseError as exc:
        from github_etl.hooks.env_connection import backend_holding
        from github_etl.settings import WAREHOUSE_CONN_ID

        # Airflow reads the backend's entry before any variable: there is the one to correct.
        place = backend_holding(WAREHOUSE_CONN_ID)
        where = f"in {place}" if place else "(AIRFLOW_CONN_POSTGRES_DEFAULT, or `airflow connections`)"
        print(
            f"{exc}\n`make run` loads into that warehouse: start it or correct the connection postgres_default "
            f"{where}; with none, `make run` starts an embedded PostgreSQL of its own.",
            file=sys.stderr,
        )
        return 1
    return 0


def _defined() -> int:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    from github_etl.hooks.env_connection import unreadable_connection
    from github_etl.settings import WAREHOUSE_CONN_ID

    try:
        BaseHook.get_connection(WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        # A connection Airflow cannot read is not one to replace with an embedded warehouse.
        if (unreadable := unreadable_connection(WAREHOUSE_CONN_ID)) is not None:
            print(unreadable, file=sys.stderr)
            return 1
        return UNDEFINED
    return 0


if __name__ == "__main__":
    sys.exit(main())
