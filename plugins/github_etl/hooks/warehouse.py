"""The PostgreSQL warehouse: one connection with bounded connect retries, and the schema it needs.

No Airflow import at module level: the load, the tests and the tools use this module without Airflow's
configuration; only a connection looked up by ``conn_id`` imports Airflow, at connect time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from github_etl.errors import WarehouseError, WarehouseRejectedError, WarehouseUnavailableError
from github_etl.settings import WAREHOUSE_CONN_ID, sql_dir

if TYPE_CHECKING:
    from types import TracebackType

    from psycopg2.extensions import connection as PgConnection
    from psycopg2.extensions import cursor as PgCursor

log = logging.getLogger(__name__)

SCHEMA_FILE = "schema.sql"
# Any constant works as long as every process applying the schema uses the same one; this one spells
# "github_etl" in ASCII so it is recognisable in pg_locks.
SCHEMA_LOCK_KEY = 0x6769746875625F65
# libpq options an Airflow connection's extras may carry; anything else there (PostgresHook's
# "iam", "cursor", "sqlalchemy_*", ...) is not meant for libpq, which would reject it.
LIBPQ_EXTRA_OPTIONS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "options",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "target_session_attrs",
        "gssencmode",
        "connect_timeout",
        "application_name",
    }
)


class DatabaseConnection:
    """A psycopg2 connection to the warehouse, opened lazily, with bounded retries when connecting.

    Only connecting is retried: an ``OperationalError`` there (server restarting, network blip) is
    usually transient. Errors of statements are not retried: they are not transient (bad data, a
    constraint, a terminated session) and re-running a statement after a partial failure would redo
    work whose outcome is unknown; they propagate, and the transaction is rolled back.

    Used as a context manager it commits on success, rolls back on an exception, and always closes::

        with DatabaseConnection(dsn) as db, db.cursor() as cur:
            cur.execute("SELECT 1")

    :param dsn: libpq connection string or ``postgresql://`` URL; when omitted, the Airflow
        connection ``conn_id`` is used (``AIRFLOW_CONN_POSTGRES_DEFAULT`` in practice).
    :param conn_id: Airflow connection id used when ``dsn`` is None.
    :param connect_retries: retries after a failed first attempt to connect.
    :param retry_delay: seconds before the first retry; doubles on each later retry.
    :param connect_timeout: seconds libpq waits for one connection attempt.
    :param application_name: shown in ``pg_stat_activity``, so a DBA knows whose session it is.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        conn_id: str = WAREHOUSE_CONN_ID,
        connect_retries: int = 3,
        retry_delay: float = 1.0,
        connect_timeout: int = 10,
        application_name: str = "github_etl",
    ) -> None:
        if connect_retries < 0:
            raise ValueError("connect_retries must be >= 0")
        self._conn_id = conn_id
        self._connect_retries = connect_retries
        self._retry_delay = retry_delay
        self._defaults = {"connect_timeout": connect_timeout, "application_name": application_name}
        self._params: dict[str, Any] | None = None if dsn is None else _parse_dsn(dsn)
        # Where the settings came from, for messages that say what to fix.
        self._source = "the connection string" if dsn is not None else f"the Airflow connection '{conn_id}'"
        self._conn: PgConnection | None = None

    # -- connection lifecycle --------------------------------------------------------------------

    @property
    def connection(self) -> PgConnection:
        """The open psycopg2 connection, (re)connecting when there is none or it was closed or broken."""
        return self.connect()

    def connect(self) -> PgConnection:
        """Open the connection unless it is open already.

        :raises WarehouseUnavailableError: when every attempt failed; the message names host, port and
            database and the last reason, never the password.
        """
        if self._conn is not None and not self._conn.closed:
            return self._conn
        params = {**self._defaults, **self._connection_params()}
        attempts = self._connect_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self._conn = psycopg2.connect(**params)
            except psycopg2.OperationalError as exc:
                reason = _redact(str(exc).strip(), params.get("password"))
                if _is_refusal(reason):
                    raise WarehouseRejectedError(
                        f"the warehouse at {_describe(params)} refused the connection: {reason}. "
                        f"Check {self._source} (database, user, password)."
                    ) from exc
                if attempt == attempts:
                    raise WarehouseUnavailableError(
                        f"cannot connect to the warehouse at {_describe(params)} after {attempts} attempts: {reason}"
                    ) from exc
                delay = self._retry_delay * 2 ** (attempt - 1)
                log.warning(
                    "Warehouse %s unreachable (attempt %s of %s), retrying in %.2f s: %s",
                    _describe(params),
                    attempt,
                    attempts,
                    delay,
                    reason,
                )
                time.sleep(delay)
            else:
                return self._conn
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @contextlib.contextmanager
    def cursor(self) -> Iterator[PgCursor]:
        """A cursor on the connection, closed on exit; transactions stay the caller's business."""
        cur = self.connection.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def commit(self) -> None:
        """Commit the open transaction."""
        if self._conn is not None and not self._conn.closed:
            self._conn.commit()

    def rollback(self) -> None:
        """Roll back the open transaction.

        When the connection is gone (server restarted, session terminated) the server has already
        discarded the transaction: the connection is closed, so the next use reconnects, and the error
        that revealed the loss stays the one the caller sees.
        """
        if self._conn is None or self._conn.closed:
            return
        try:
            self._conn.rollback()
        except (psycopg2.InterfaceError, psycopg2.OperationalError) as exc:
            log.warning("Warehouse connection lost during rollback, closing it: %s", str(exc).strip())
            self.close()

    def close(self) -> None:
        """Close the connection; an uncommitted transaction is rolled back by the server."""
        if self._conn is not None:
            if not self._conn.closed:
                self._conn.close()
            self._conn = None

    def __enter__(self) -> DatabaseConnection:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.close()

    def __repr__(self) -> str:
        target = _describe(self._params) if self._params is not None else f"conn_id={self._conn_id}"
        return f"{type(self).__name__}({target})"

    def _connection_params(self) -> dict[str, Any]:
        if self._params is None:
            self._params = _airflow_connection_params(self._conn_id)
        return self._params


# -- helpers on the warehouse ---------------------------------------------------------------------


def count_repositories(
    db: DatabaseConnection | None = None, *, schema: str = "github", table: str = "repositories"
) -> int:
    """Number of rows in the repositories table.

    :param db: connection to use; a short-lived one on the Airflow connection when omitted.
    :param schema: schema of the table.
    :param table: table name.
    """
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
    if db is None:
        with DatabaseConnection() as own, own.cursor() as cur:
            cur.execute(query)
            return int(cur.fetchone()[0])
    with db.cursor() as cur:
        cur.execute(query)
        return int(cur.fetchone()[0])


def apply_schema(db: DatabaseConnection) -> None:
    """Create the warehouse schema if needed (``schema.sql``) and commit.

    Two processes may run this at once (two DAG runs starting together): ``CREATE ... IF NOT EXISTS``
    is not safe against a concurrent twin, so a transaction-scoped advisory lock serialises them.

    :param db: connection to use; its open transaction, if any, is committed too.
    """
    _under_schema_lock(db, load_sql(SCHEMA_FILE))


def ensure_snapshot_partition(db: DatabaseConnection, day: date) -> None:
    """Create the partition of ``github.repository_snapshots`` that holds ``day``, if missing, and commit.

    Called before the transaction that writes the day's snapshots, so that the only lock it takes on the
    partitioned table is held for an instant (see ``github.ensure_snapshot_partition`` in ``schema.sql``).
    Serialised with :func:`apply_schema` by the same advisory lock, so two runs never create one twice.

    :param db: connection to use; its open transaction, if any, is committed too.
    :param day: a snapshot date.
    """
    _under_schema_lock(db, "SELECT github.ensure_snapshot_partition(%s)", (day,))


def _under_schema_lock(db: DatabaseConnection, statement: str, params: tuple[Any, ...] | None = None) -> None:
    """Run a schema statement in a transaction of its own, after any concurrent one, and commit."""
    try:
        with db.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            cur.execute(statement, params)
        db.commit()
    except Exception:
        db.rollback()
        raise


@cache
def load_sql(name: str) -> str:
    """Text of a file in the warehouse SQL folder (``GITHUB_ETL_SQL_DIR`` or ``include/sql/github_repositories``).

    :param name: file name, e.g. ``update_repositories.sql``.
    """
    path = Path(sql_dir()) / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WarehouseError(f"SQL file {path} not found; set GITHUB_ETL_SQL_DIR to the folder holding it") from None


# -- connection parameters ------------------------------------------------------------------------


def _parse_dsn(dsn: str) -> dict[str, Any]:
    try:
        return psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        # libpq's message may quote the malformed part of the string, which may be the password.
        raise WarehouseError("the warehouse connection string is malformed") from None


def _airflow_connection_params(conn_id: str) -> dict[str, Any]:
    """libpq parameters of an Airflow connection, mapped the way PostgresHook maps them."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    params: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema,
    }
    params.update({k: v for k, v in (conn.extra_dejson or {}).items() if k in LIBPQ_EXTRA_OPTIONS})
    return {k: v for k, v in params.items() if v not in (None, "")}


def _describe(params: dict[str, Any]) -> str:
    """``host:port/dbname`` of a parameter set, for messages; never includes the password."""
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    dbname = params.get("dbname") or params.get("user") or "postgres"
    return f"{host}:{port}/{dbname}"


# What PostgreSQL answers when its configuration refuses a login; retrying cannot change it. The
# server's own words (lc_messages in English, the default): any other wording is retried as transient.
_REFUSALS = (
    "does not exist",  # database "x" / role "x"
    "password authentication failed",
    "no pg_hba.conf entry",
    "is not permitted to log in",
    "no password supplied",
    "peer authentication failed",
    "ident authentication failed",
)


def _is_refusal(reason: str) -> bool:
    lowered = reason.lower()
    return any(refusal in lowered for refusal in _REFUSALS)


def _redact(message: str, password: str | None) -> str:
    """libpq does not echo passwords, but a message must never carry one, whatever produced it."""
    return message.replace(password, "***") if password else message
