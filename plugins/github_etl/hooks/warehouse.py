"""The PostgreSQL warehouse: the provider's PostgresHook with bounded connect retries, and the schema it needs.

:class:`WarehouseHook` is ``PostgresHook``: the provider maps the Airflow connection (host, login,
extras, IAM) to libpq parameters. It adds only what the pipeline needs of connecting: psycopg2
connections (the load streams files through ``copy_expert``), bounded retries of a transient failure,
an immediate error when the server refuses the login, and messages that never carry the password.
:class:`DatabaseConnection` is one such connection with commit-or-rollback scoping.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from airflow.providers.postgres.hooks.postgres import PostgresHook
from psycopg2 import sql

from github_etl.columns import column_descriptions
from github_etl.errors import (
    WarehouseConnectionLostError,
    WarehouseError,
    WarehouseNotConfiguredError,
    WarehousePrivilegeError,
    WarehouseRejectedError,
    WarehouseSchemaError,
    WarehouseSqlNotFoundError,
    WarehouseUnavailableError,
)
from github_etl.hooks.env_connection import (
    PERCENT_ENCODING_HINT,
    secrets_backends,
    unreadable_connection,
    where_to_define,
)
from github_etl.settings import WAREHOUSE_CONN_ID, sql_dir

if TYPE_CHECKING:
    from types import TracebackType

    from airflow.sdk import Connection
    from psycopg2.extensions import connection as PgConnection
    from psycopg2.extensions import cursor as PgCursor

log = logging.getLogger(__name__)

SCHEMA_FILE = "schema.sql"
# The comments of the columns that hold the spec's columns (github_etl.columns.column_descriptions).
DESCRIBE_COLUMNS = (
    "SELECT github.describe(relation::regclass, column_name, description)"
    " FROM unnest(%s::text[], %s::text[], %s::text[]) AS described (relation, column_name, description)"
)
# Any constant works as long as every process applying the schema uses the same one; this one spells
# "github_etl" in ASCII so it is recognisable in pg_locks.
SCHEMA_LOCK_KEY = 0x6769746875625F65


# TCP keepalive of every warehouse connection, unless the connection sets its own: a network cut that sends no
# reset (a firewall or NAT forgetting the connection, a failover) then ends a task's wait for an answer after
# about a minute of silence, instead of the system's default of over two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# The rows COPY sends are UTF-8 bytes: any other client encoding (a database's or role's default, the worker's
# PGCLIENTENCODING) would make the server re-read them as that encoding and store them garbled, without an error.
CLIENT_ENCODING = "UTF8"


class WarehouseHook(PostgresHook):
    """``PostgresHook`` whose ``get_conn`` opens a psycopg2 connection with bounded retries.

    Only connecting is retried: an ``OperationalError`` there (server restarting, network blip) is
    usually transient, unless the server answered and refused the login, which fails at once.

    :param postgres_conn_id: the Airflow connection of the warehouse, used when ``dsn`` is None.
    :param dsn: libpq connection string or ``postgresql://`` URL instead of an Airflow connection.
    :param connect_retries: retries after a failed first attempt to connect.
    :param retry_delay: seconds before the first retry; doubles on each later retry.
    :param connect_timeout: seconds libpq waits for one connection attempt (unless the connection sets it).
    :param application_name: shown in ``pg_stat_activity`` (unless the connection sets it).
    """

    hook_name = "GitHub ETL warehouse"

    def __init__(
        self,
        postgres_conn_id: str = WAREHOUSE_CONN_ID,
        *,
        dsn: str | None = None,
        connect_retries: int = 3,
        retry_delay: float = 1.0,
        connect_timeout: int = 10,
        application_name: str = "github_etl",
    ) -> None:
        if connect_retries < 0:
            raise ValueError("connect_retries must be >= 0")
        super().__init__(postgres_conn_id=postgres_conn_id)
        self.dsn_params: dict[str, Any] | None = None if dsn is None else _parse_dsn(dsn)
        self.connect_retries = connect_retries
        self.retry_delay = retry_delay
        self.defaults = {"connect_timeout": connect_timeout, "application_name": application_name, **KEEPALIVES}
        # Where the settings come from, for messages that say what to fix.
        self.source = "the connection string" if dsn is not None else f"the Airflow connection '{postgres_conn_id}'"
        # The AWS connection that signed the login's IAM token, when the connection asks for one.
        self.iam_aws_conn_id: str | None = None

    def get_conn(self) -> PgConnection:
        """A new psycopg2 connection to the warehouse.

        :raises WarehouseNotConfiguredError: the Airflow connection is not defined.
        :raises WarehouseRejectedError: the server refused the login (database, user, password).
        :raises WarehouseUnavailableError: every attempt failed; the message names host, port and
            database and the last reason, never the password.
        """
        if self.dsn_params is not None:
            return self._create_connection(dict(self.dsn_params))
        from github_etl.airflow_version import AirflowNotFoundException

        try:
            return super().get_conn()
        except AirflowNotFoundException:
            conn_id = self.postgres_conn_id
            unreadable = unreadable_connection(conn_id, WarehouseNotConfiguredError, WarehouseUnavailableError)
            if unreadable is not None:
                raise unreadable from None
            if secrets_backends():
                raise WarehouseNotConfiguredError(
                    f"the warehouse's Airflow connection '{conn_id}' is not defined: store it "
                    f"{where_to_define(conn_id)} (postgresql://user:password@host:5432/database, or Airflow's "
                    f"connection JSON), where every Airflow component finds it"
                ) from None
            raise WarehouseNotConfiguredError(
                f"the warehouse's Airflow connection '{conn_id}' is not defined: set "
                f"AIRFLOW_CONN_{conn_id.upper()}=postgresql://user:password@host:5432/database in the environment "
                f"of every Airflow component, or store it with `airflow connections add {conn_id} --conn-uri ...`"
            ) from None

    def get_iam_token(self, conn: Connection) -> tuple[str, str, int]:
        """The provider's IAM token for an ``"iam": true`` connection, its failures said as the warehouse's.

        :raises WarehouseNotConfiguredError: boto3 has no region or no credentials to sign the token with.
        :raises WarehouseUnavailableError: AWS could not be asked (Redshift's credentials, an STS role).
        """
        if conn.extra_dejson.get("azure_conn_id"):
            # Microsoft Entra ID's token, which the Azure provider gets: none of AWS's settings apply.
            return super().get_iam_token(conn)
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        aws_conn_id = self.iam_aws_conn_id = conn.extra_dejson.get("aws_conn_id", "aws_default")
        asks = f'{self.source} asks for IAM authentication ("iam": true in its extra)'
        try:
            return super().get_iam_token(conn)
        except NoRegionError:
            raise WarehouseNotConfiguredError(
                f"{asks}, and boto3 finds no AWS region to sign its token for: set region_name in the extra of the "
                f"AWS connection '{aws_conn_id}', or AWS_DEFAULT_REGION wherever the tasks and the API run"
            ) from None
        except NoCredentialsError:
            raise WarehouseNotConfiguredError(
                f"{asks}, and boto3 finds no AWS credentials to sign its token with: none in the AWS connection "
                f"'{aws_conn_id}', the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE) "
                f"or an instance role; give the pods an IAM role allowed rds-db:connect "
                f'(docs/warehouse-dba.md, "IAM authentication")'
            ) from None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in AWS_REFUSALS:
                raise WarehouseNotConfiguredError(
                    f"{asks}, and AWS refused the AWS connection '{aws_conn_id}' ({exc}): check its credentials and "
                    "the role it assumes (role_arn in its extra), which a retry cannot change"
                ) from exc
            raise WarehouseUnavailableError(f"{asks}, and its token could not be had from AWS: {exc}") from exc
        except BotoCoreError as exc:
            raise WarehouseUnavailableError(f"{asks}, and its token could not be had from AWS: {exc}") from exc

    def _create_connection(self, conn_args: dict[str, Any]) -> PgConnection:
        # PostgresHook hands psycopg 3 connections where SQLAlchemy 2 is installed; the load needs psycopg2's.
        params = {**self.defaults, **{k: v for k, v in conn_args.items() if v not in (None, "")}}
        params["client_encoding"] = CLIENT_ENCODING
        if _misread(params):
            # The parts a message names (host, port, database) would hold pieces of the password.
            raise WarehouseNotConfiguredError(
                f"{self.source} names a host, port or database holding '@': it is a URI whose password (or "
                f"user) a parser misread; {PERCENT_ENCODING_HINT}"
            )
        attempts = self.connect_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                self.conn = psycopg2.connect(**params)
            except psycopg2.ProgrammingError as exc:
                # libpq refused an option before connecting ("invalid dsn: invalid connection option").
                raise WarehouseNotConfiguredError(_bad_option(exc, params, self.source)) from exc
            except psycopg2.OperationalError as exc:
                reason = _one_line(_redact(str(exc), params.get("password")))
                if _BAD_OPTION_VALUE.search(reason):
                    raise WarehouseNotConfiguredError(_bad_option(exc, params, self.source)) from exc
                if _is_refusal(reason):
                    raise WarehouseRejectedError(_refusal(reason, params, self.source, self.iam_aws_conn_id)) from exc
                if attempt == attempts:
                    raise WarehouseUnavailableError(
                        f"cannot connect to the warehouse at {_describe(params)} after {attempts} "
                        f"attempt{'s' if attempts > 1 else ''}: {reason} (if the warehouse is up, check the "
                        f"host and port {self.source} names)"
                    ) from exc
                delay = self.retry_delay * 2 ** (attempt - 1)
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
                return self.conn
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def describe(self) -> str:
        """``host:port/dbname`` of a connection string, or the Airflow connection's id; never a password."""
        return _describe(self.dsn_params) if self.dsn_params is not None else f"conn_id={self.postgres_conn_id}"


class DatabaseConnection:
    """One warehouse connection (a :class:`WarehouseHook`'s), opened lazily.

    Errors of statements are not retried: they are not transient (bad data, a constraint, a terminated
    session) and re-running a statement after a partial failure would redo work whose outcome is
    unknown; they propagate, and the transaction is rolled back.

    Used as a context manager it commits on success, rolls back on an exception, and always closes::

        with DatabaseConnection(dsn) as db, db.cursor() as cur:
            cur.execute("SELECT 1")

    :param dsn: libpq connection string or ``postgresql://`` URL; when omitted, the Airflow
        connection ``conn_id`` is used (``AIRFLOW_CONN_POSTGRES_DEFAULT`` in practice).
    :param conn_id: Airflow connection id used when ``dsn`` is None.
    :param hook_options: :class:`WarehouseHook`'s connect options (``connect_retries``, ``retry_delay``,
        ``connect_timeout``, ``application_name``).
    """

    def __init__(self, dsn: str | None = None, *, conn_id: str = WAREHOUSE_CONN_ID, **hook_options: Any) -> None:
        self.hook = WarehouseHook(conn_id, dsn=dsn, **hook_options)
        self._conn: PgConnection | None = None
        self._described: str | None = None

    # -- connection lifecycle --------------------------------------------------------------------

    @property
    def connection(self) -> PgConnection:
        """The open psycopg2 connection, (re)connecting when there is none or it was closed or broken."""
        return self.connect()

    def connect(self) -> PgConnection:
        """Open the connection unless it is open already (see :meth:`WarehouseHook.get_conn`)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.hook.get_conn()
            # Kept for messages: a connection the server closed no longer says where it led.
            self._described = _describe(self._conn.get_dsn_parameters())
        return self._conn

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
        where = self._where()
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
            lost = isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError) and (
                self._conn is None or self._conn.closed
            )
        finally:
            self.close()
        if lost:
            # psycopg2 says only "server closed the connection unexpectedly": say where, and what became of
            # the work, so that no one wonders whether half a load is stored.
            reason = " ".join(str(exc).split())
            raise WarehouseConnectionLostError(
                f"The connection to the warehouse at {where} was lost in the middle of the task ({reason}): the "
                "server restarted, the session was terminated or the network cut it. The server rolls back what "
                "the task had not committed, so none of it is stored; the task's retry runs it again (a load that "
                "committed just before the cut is found loaded, and changes nothing)."
            ) from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hook.describe()})"

    @property
    def where(self) -> str:
        """``host:port/dbname`` the connection leads to, never its password: what a log line may name."""
        return self._where()

    def _where(self) -> str:
        """``host:port/dbname`` of the last connection (never its password), else what the hook was given."""
        return self._described or self.hook.describe()


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
    :raises WarehousePrivilegeError: the role may not create the schema (it neither owns ``github`` nor may
        create schemas in the database); the message says what to grant.
    """
    described = [
        (f"github.{table}", column, text)
        for table, columns in column_descriptions().items()
        for column, text in columns.items()
    ]
    check_sql_files()
    schema = load_sql(SCHEMA_FILE)
    _under_schema_lock(
        db,
        _check_encoding,
        # Before schema.sql, whose functions and comments name the columns it declares.
        lambda cur: _check_declared_columns(cur, schema),
        schema,
        (DESCRIBE_COLUMNS, tuple(list(values) for values in zip(*described, strict=True))),
    )


def _check_encoding(cur: PgCursor) -> None:
    """Fail, before anything is created, when the warehouse database cannot hold GitHub's text as sent.

    GitHub's text is any language and emoji. A LATIN1 (or other single-language) database refuses or
    garbles it, and a SQL_ASCII one stores bytes nothing checks, which readers then fail to decode.

    :raises WarehouseSchemaError: naming the database, its encoding and how to create one in UTF8.
    """
    cur.execute(
        "SELECT current_database(), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()"
    )
    database, encoding = cur.fetchone()
    if encoding == CLIENT_ENCODING:
        return
    raise WarehouseSchemaError(
        f"the warehouse database {database} is encoded {encoding}: GitHub's text (any language, emoji) needs "
        f"UTF8, and {encoding} would garble or refuse it. A database's encoding cannot be changed: create the "
        f"warehouse as CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0 and point the connection at it "
        f"(docs/warehouse-dba.md)"
    )


def _check_declared_columns(cur: PgCursor, schema: str) -> None:
    """Fail, saying what to run, when a table ``schema.sql`` would find in place lacks a column it declares.

    ``schema.sql`` creates a table only when it is missing, so a warehouse created before a column was
    added to one of its tables does not have it; every load would fail on it.

    :raises WarehouseSchemaError: naming each missing column and the statement that adds it.
    """
    cur.execute(
        "SELECT relation.relname, attribute.attname FROM pg_attribute AS attribute"
        " JOIN pg_class AS relation ON relation.oid = attribute.attrelid"
        " WHERE relation.relnamespace = to_regnamespace('github') AND relation.relkind IN ('r', 'p')"
        " AND attribute.attnum > 0 AND NOT attribute.attisdropped"
    )
    present: dict[str, set[str]] = {}
    for table, column in cur.fetchall():
        present.setdefault(table, set()).add(column)
    missing = [
        (table, column)
        for table, columns in _declared_columns(schema).items()
        if table in present
        for column, _ in columns
        if column not in present[table]
    ]
    if not missing:
        return
    names = ", ".join(f"github.{table}.{column}" for table, column in missing)
    statements = []
    filled_first = []
    for table, column in missing:
        declaration = _declaration(schema, table, column)
        if " NOT NULL" in declaration and " DEFAULT " not in declaration:
            # PostgreSQL refuses NOT NULL without a default on a table with rows: the rows need values first.
            declaration = declaration.replace(" NOT NULL", "")
            filled_first.append(
                f"ALTER TABLE github.{table} ALTER COLUMN {column} SET NOT NULL; once an UPDATE has given "
                f"every row of github.{table} a {column}"
            )
        statements.append(f"ALTER TABLE github.{table} ADD COLUMN {column} {declaration};")
    then = f" Then {'; and '.join(filled_first)}." if filled_first else ""
    raise WarehouseSchemaError(
        f"the warehouse has no column {names}, which schema.sql declares: its tables were created before "
        f"the column was added, and schema.sql creates only missing tables. Add it as schema.sql declares it, "
        f"with github_repositories paused (ALTER TABLE locks the table; docs/warehouse-dba.md): "
        f"{' '.join(statements)}{then} Each run after that fills it in for the repositories it sees"
    )


def _declared_columns(schema: str) -> dict[str, list[tuple[str, str]]]:
    """Each ``CREATE TABLE github.<table>`` of ``schema.sql``: its columns' names and declarations, in order."""
    return {
        table.group(1): [
            (column.group(1), " ".join(column.group(2).split()))
            for column in re.finditer(r"^\s+([a-z_][a-z0-9_]*)\s+(.+?),?\s*$", table.group(2), re.MULTILINE)
        ]
        for table in re.finditer(r"CREATE TABLE IF NOT EXISTS github\.(\w+) \((.*?)\n\)", schema, re.DOTALL)
    }


def _declaration(schema: str, table: str, column: str) -> str:
    """A column's type and constraints as the ``CREATE TABLE github.<table>`` of ``schema.sql`` declares them."""
    return dict(_declared_columns(schema).get(table, [])).get(column, "<its type as schema.sql declares it>")


def ensure_snapshot_partition(db: DatabaseConnection, day: date) -> None:
    """Create the partition of ``github.repository_snapshots`` that holds ``day``, if missing, and commit.

    Called before the transaction that writes the day's snapshots, so that the only lock it takes on the
    partitioned table is held for an instant (see ``github.ensure_snapshot_partition`` in ``schema.sql``).
    Serialised with :func:`apply_schema` by the same advisory lock, so two runs never create one twice.

    :param db: connection to use; its open transaction, if any, is committed too.
    :param day: a snapshot date.
    """
    # A month that has its partition, as every day but a month's first has, is found without the schema lock: a
    # load waiting on it would queue every run's prepare, and the creation below can wait for a first (bulk) load.
    try:
        with db.cursor() as cur:
            cur.execute("SELECT github.snapshot_partition_exists(%s)", (day,))
            exists = cur.fetchone()[0]
        db.commit()
    except Exception:
        db.rollback()
        raise
    if exists:
        return
    try:
        _under_schema_lock(db, ("SELECT github.ensure_snapshot_partition(%s)", (day,)))
    except psycopg2.errors.ObjectNotInPrerequisiteState as exc:
        # A month's table a DBA detached and kept: no retry helps until they drop, rename or attach it.
        hint = f" {exc.diag.message_hint}." if exc.diag.message_hint else ""
        raise WarehouseSchemaError(f"{exc.diag.message_primary}.{hint}") from exc


def _under_schema_lock(
    db: DatabaseConnection, *statements: str | tuple[str, tuple[Any, ...]] | Callable[[PgCursor], None]
) -> None:
    """Run schema statements (each alone, with its parameters, or a step given the cursor) in a transaction
    of their own, after any concurrent one, and commit."""
    try:
        with db.cursor() as cur:
            if db.connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                # Each statement must see what the one before the lock committed: under a role's repeatable read the
                # snapshot would be taken by the lock's own statement, before the lock is granted.
                cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            for statement in statements:
                if callable(statement):
                    statement(cur)
                else:
                    cur.execute(*((statement,) if isinstance(statement, str) else statement))
        db.commit()
    except psycopg2.errors.ReadOnlySqlTransaction as exc:
        db.rollback()
        raise WarehousePrivilegeError(_read_only(db, exc)) from exc
    except psycopg2.errors.InsufficientPrivilege as exc:
        db.rollback()
        role = db.connection.info.user
        raise WarehousePrivilegeError(
            f"the warehouse role {role} may not create or change the warehouse schema ({str(exc).strip()}). "
            f"It needs to own the schema github and what is in it: have a DBA run "
            f'CREATE SCHEMA github AUTHORIZATION "{role}", or ALTER ... OWNER TO "{role}" for what another role '
            f'created there, then the readers\' grants of docs/deploy-kubernetes.md, "Access", for a schema made anew'
        ) from exc
    except Exception:
        db.rollback()
        raise


def _read_only(db: DatabaseConnection, refused: Exception) -> str:
    """Why the warehouse refused to write: a standby, or a role whose transactions are read-only (a reader's)."""
    role = db.connection.info.user
    try:
        with db.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            standby = cur.fetchone()[0]
        db.rollback()
    except psycopg2.Error:
        db.rollback()
        standby = False
    why = "the server is a standby" if standby else f"default_transaction_read_only is on for the role {role}"
    return (
        f"the warehouse at {db.where} ({db.hook.source}) is read-only: {why} ({str(refused).strip()}). Preparing "
        "and loading need the primary and the DAG's own role, not a reader's or a standby's: point the connection "
        "at them"
    )


# The digest of this version's SQL files (include/sql/github_repositories): a folder GITHUB_ETL_SQL_DIR names that
# holds others (a copy made for an earlier version, or part of one) would apply an older schema and fail a load
# later, after GitHub was called. tests/unit/test_warehouse.py says the new value when a file changes.
SQL_FILES_DIGEST = "8c412e6e1ab14dd3"


def sql_files_digest(folder: Path) -> str:
    """The digest of the ``.sql`` files of ``folder``: their names and their text, line ends aside."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()[:16]


def check_sql_files() -> None:
    """Fail at once unless the SQL folder holds this version's files."""
    folder = sql_dir()
    if not folder.is_dir():
        raise WarehouseSqlNotFoundError(
            f"The SQL folder {folder} does not exist: set GITHUB_ETL_SQL_DIR to this version's "
            "include/sql/github_repositories, or copy the project's include/ folder beside its plugins/ folder"
        )
    if sql_files_digest(folder) != SQL_FILES_DIGEST:
        raise WarehouseSqlNotFoundError(
            f"The SQL folder {folder} holds other SQL files than this version of the plugin reads (a copy of an "
            "earlier version's, or part of one?): copy this version's include/sql/github_repositories there, or set "
            "GITHUB_ETL_SQL_DIR to it"
        )


@cache
def load_sql(name: str) -> str:
    """Text of a file in the warehouse SQL folder (``GITHUB_ETL_SQL_DIR`` or ``include/sql/github_repositories``).

    :param name: file name, e.g. ``update_repositories.sql``.
    """
    path = Path(sql_dir()) / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WarehouseSqlNotFoundError(
            f"SQL file {path} not found; set GITHUB_ETL_SQL_DIR to the folder holding it, or copy the project's "
            "include/ folder beside its plugins/ folder"
        ) from None


# -- connection parameters ------------------------------------------------------------------------


def _parse_dsn(dsn: str) -> dict[str, Any]:
    try:
        return psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        # libpq's message may quote the malformed part of the string, which may be the password.
        raise WarehouseError("the warehouse connection string is malformed") from None


def _describe(params: dict[str, Any]) -> str:
    """``host:port/dbname`` of a parameter set, for messages; never includes the password.

    A host that is a directory is where libpq finds the server's unix socket (Cloud SQL's Auth Proxy names it
    ``/cloudsql/PROJECT:REGION:INSTANCE``, whose colons would read as a port): the socket's own path is named.
    """
    host = str(params.get("host") or "localhost")
    port = params.get("port") or 5432
    dbname = params.get("dbname") or params.get("user") or "postgres"
    if host.startswith("/"):
        return f"{host.rstrip('/')}/.s.PGSQL.{port} (database {dbname})"
    return f"{host}:{port}/{dbname}"


# What PostgreSQL answers when its configuration refuses a login; retrying cannot change it. The
# server's own words (lc_messages in English, the default): any other wording is retried as transient.
_REFUSALS = (
    "does not exist",  # database "x" / role "x"
    "password authentication failed",
    "no pg_hba.conf entry",
    "is not permitted to log in",
    # A role without CONNECT on the database (granted to PUBLIC by default, revoked on a locked-down server).
    "permission denied for database",
    "no password supplied",
    "peer authentication failed",
    "ident authentication failed",
    # RDS's refusal of an IAM token it cannot accept.
    "pam authentication failed",
    # A socket directory whose path leaves no room for the socket's name (at most 107 bytes on Linux).
    "unix-domain socket path",
    # TLS as the connection asks for it and the server cannot give (sslmode, sslrootcert, a host its
    # certificate does not name), or as the server asks for it and the connection does not give (a client
    # certificate, sslcert and sslkey, missing or signed by a CA it does not trust); a connection merely
    # cut during its handshake ("SSL SYSCALL error", "unexpected eof") is still retried.
    "does not support ssl",
    "certificate",
    "does not match host name",
    "unknown ca",
    "alert protocol version",
    "invalid sslmode value",
    "private key file",
    # PgBouncer's own refusals: a user or database it does not know, a connection option it does not pass
    # on (options=-c ... in the connection's extras; its other errors, a full pool say, may pass).
    "no such user",
    "no such database",
    "unsupported startup parameter",
)


def _misread(params: dict[str, Any]) -> bool:
    """Whether a URI's parser took part of its password for the host, port or database (or a query option).

    In ``postgresql://user:pa/ss@host/db`` the host part ends at the ``/``: ``pa`` is read as the port and
    ``ss@host/db`` as the database. An ``@`` is in no host, port or option name, and in no database name
    written in a URI, where it is percent-encoded.
    """
    named = (str(params.get(key) or "") for key in ("host", "port", "dbname"))
    return any("@" in text for text in (*named, *params))


def _is_refusal(reason: str) -> bool:
    lowered = reason.lower()
    return any(refusal in lowered for refusal in _REFUSALS)


# libpq's refusal of an option's value, before any network traffic ("invalid integer value "30s" for connection
# option "keepalives_idle"", "invalid sslmode value: "requir""): no retry changes the connection's settings.
_BAD_OPTION_VALUE = re.compile(r"invalid (?:integer |\w+ )?value", re.IGNORECASE)


def _bad_option(exc: Exception, params: dict[str, Any], source: str) -> str:
    reason = _one_line(_redact(str(exc), params.get("password")))
    return f"{source} sets a connection option libpq refuses: {reason}. Fix it in the connection (its extra)"


# AWS's answers to credentials or a role it will not accept, as opposed to throttling or its own faults.
AWS_REFUSALS = frozenset(
    {"AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException"}
)

# Refusals about TLS: what to fix is the connection's TLS settings, not its login.
_TLS_REFUSALS = ("ssl", "certificate", "unknown ca", "alert protocol version", "private key file")
_TLS_HINT = (
    "sslmode (verify-full to check the server's certificate and name), sslrootcert (the file of the CA that signed "
    "the server's certificate: a managed PostgreSQL's CA bundle, or sslrootcert=system for the system's trusted "
    "roots), a host that certificate names, and sslcert and sslkey when the server requires a client "
    'certificate (docs/warehouse-dba.md, "TLS")'
)


def _refusal(reason: str, params: dict[str, Any], source: str, iam_aws_conn_id: str | None = None) -> str:
    """The message of a refused connection: what was refused, and the settings of ``source`` that can change it.

    :param iam_aws_conn_id: the AWS connection that signed the login's IAM token, if the login used one.
    """
    lowered = reason.lower()
    where = _describe(params)
    if iam_aws_conn_id is not None and "authentication failed" in lowered:
        return (
            f"the warehouse at {where} refused the connection: {reason}. {source} logs in with an IAM token, "
            f'which RDS accepts when the user is granted rds_iam (GRANT rds_iam TO "{params.get("user")}"), the '
            f"IAM identity of the AWS connection '{iam_aws_conn_id}' is allowed rds-db:connect for that user, "
            f"and that connection's region is the database's (docs/warehouse-dba.md, \"IAM authentication\")."
        )
    if "unix-domain socket path" in lowered:
        return (
            f"cannot connect to the warehouse at {where}: {reason}. Check {source}: a shorter socket directory as "
            f"its host (Cloud SQL's Auth Proxy: a shorter --unix-socket folder, docs/warehouse-dba.md)."
        )
    if params.get("sslmode") == "disable" and "no pg_hba.conf entry" in lowered:
        # A managed PostgreSQL that forces TLS (rds.force_ssl, Azure's require_secure_transport, Cloud SQL's
        # ssl mode) refuses an unencrypted login this way, as does a hostssl-only pg_hba.conf.
        return (
            f"the warehouse at {where} refused the connection: {reason}. The server accepts only TLS "
            f"connections and {source} sets sslmode=disable: set sslmode=verify-full and sslrootcert to the "
            f'file of the CA that signed the server\'s certificate (docs/warehouse-dba.md, "TLS").'
        )
    if "permission denied for database" in lowered:
        return (
            f"the warehouse at {where} refused the connection: {reason}. The user lacks CONNECT on the database: "
            f'GRANT CONNECT ON DATABASE "{params.get("dbname")}" TO "{params.get("user")}" '
            f'(docs/deploy-kubernetes.md, "Access").'
        )
    if any(marker in lowered for marker in _TLS_REFUSALS):
        return f"the TLS connection to the warehouse at {where} failed: {reason}. Check in {source}: {_TLS_HINT}."
    return f"the warehouse at {where} refused the connection: {reason}. Check {source} (database, user, password)."


def _one_line(message: str) -> str:
    """libpq's message as one sentence or more without the full stop a message of ours adds: its hints follow on
    indented lines, each line without a stop of its own."""
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()]
    return " ".join(line if line.endswith((".", "?", "!")) else f"{line}." for line in lines).rstrip(".")


def _redact(message: str, password: str | None) -> str:
    """libpq does not echo passwords, but a message must never carry one, whatever produced it."""
    return message.replace(password, "***") if password else message
