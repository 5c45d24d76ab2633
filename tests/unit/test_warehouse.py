"""DatabaseConnection, the schema helpers and the embedded server, against a real PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import psycopg2.errors
import pytest

from github_etl.errors import WarehouseConnectionLostError, WarehouseError, WarehouseUnavailableError
from github_etl.hooks.warehouse import (
    DatabaseConnection,
    apply_schema,
    count_repositories,
    ensure_snapshot_partition,
    load_sql,
)
from tests.fixtures.postgres import server_refusing_logins, with_database
from tests.ports import closed_port

PASSWORD = "Hunter2-TopSecret"


def _scalar(url: str, statement: str) -> object:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _insert_repository(db: DatabaseConnection, repo_id: int, *, table: str = "github.repositories") -> None:
    with db.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (id, node_id, full_name, name, owner_login, created_at, first_seen_at, last_seen_at)"
            " VALUES (%s, 'R', 'o/r', 'r', 'o', now(), now(), now())",
            (repo_id,),
        )


# -- DatabaseConnection -----------------------------------------------------------------------------


def test_context_manager_commits_on_success_and_closes(pg_url):
    with DatabaseConnection(pg_url) as db, db.cursor() as cur:
        cur.execute("CREATE TABLE kept (n int)")
        cur.execute("INSERT INTO kept VALUES (1)")
        raw = db.connection

    assert raw.closed
    assert _scalar(pg_url, "SELECT count(*) FROM kept") == 1


def test_context_manager_rolls_back_on_error_and_closes(pg_url):
    db = DatabaseConnection(pg_url)

    def work_then_fail() -> None:
        with db, db.cursor() as cur:
            cur.execute("CREATE TABLE discarded (n int)")
            raise RuntimeError("boom")

    raw = db.connection
    with pytest.raises(RuntimeError, match="boom"):
        work_then_fail()

    assert raw.closed
    assert _scalar(pg_url, "SELECT to_regclass('discarded') IS NULL") is True


def test_query_errors_propagate_without_retry_and_the_connection_stays_usable(pg_url):
    db = DatabaseConnection(pg_url)
    try:
        backend = db.connection.get_backend_pid()
        with pytest.raises(psycopg2.errors.UndefinedTable), db.cursor() as cur:
            cur.execute("SELECT * FROM no_such_table")
        db.rollback()
        with db.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] == backend, "a query error must not reconnect"
    finally:
        db.close()


def test_a_broken_connection_is_replaced_on_next_use(pg_url):
    db = DatabaseConnection(pg_url)
    try:
        victim = db.connection.get_backend_pid()
        assert _scalar(pg_url, f"SELECT pg_terminate_backend({victim}, 10000)") is True
        with pytest.raises(psycopg2.OperationalError), db.cursor() as cur:
            cur.execute("SELECT 1")
        db.rollback()  # the server already discarded the transaction; this must not raise

        with db.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] != victim
    finally:
        db.close()


@pytest.mark.parametrize("given_as", ["Airflow connection", "connection string"])
def test_a_connection_lost_in_the_middle_of_a_task_names_the_warehouse_and_what_the_retry_does(
    pg_url, monkeypatch, given_as
):
    table = f"lost_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_UNDER_TEST", pg_url)
    options = {"conn_id": "warehouse_under_test"} if given_as == "Airflow connection" else {"dsn": pg_url}
    with pytest.raises(WarehouseConnectionLostError) as lost, DatabaseConnection(**options) as db, db.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (x int)")
        cur.execute(f"INSERT INTO {table} VALUES (1)")
        assert _scalar(pg_url, f"SELECT pg_terminate_backend({db.connection.get_backend_pid()}, 10000)") is True
        cur.execute(f"INSERT INTO {table} VALUES (2)")

    parts = urlsplit(pg_url)
    message = str(lost.value)
    assert f"warehouse at {parts.hostname}:{parts.port}{parts.path} was lost" in message
    assert "server closed the connection unexpectedly" in message
    assert "none of it is stored; the task's retry runs it again" in message
    assert isinstance(lost.value, WarehouseUnavailableError), "retried by Airflow, as any unavailable warehouse"
    assert _scalar(pg_url, f"SELECT to_regclass('{table}') IS NULL") is True, "nothing of the transaction stays"


def _keepalive_of(db: DatabaseConnection) -> tuple[int, int, int, int]:
    """The TCP keepalive settings of the connection's own socket: what the kernel does, not what was asked."""
    with socket.socket(fileno=os.dup(db.connection.fileno())) as sock:
        return (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        )


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="TCP keepalive settings are Linux's")
def test_a_silent_network_cut_ends_a_wait_on_the_warehouse_within_a_minute_not_hours(pg_url):
    # A cut that sends no reset leaves a task waiting for a statement's answer until TCP keepalive gives up:
    # with the system's defaults (Linux: 2 hours idle, then 9 probes 75 s apart), for over two hours.
    with DatabaseConnection(pg_url) as db:
        assert _keepalive_of(db) == (1, 30, 10, 3)
    with DatabaseConnection(f"{pg_url}?keepalives_idle=5") as db:
        assert _keepalive_of(db) == (1, 5, 10, 3), "the connection's own settings win"


def test_unreachable_warehouse_fails_after_bounded_retries_without_the_password(caplog):
    port = closed_port()
    db = DatabaseConnection(
        f"postgresql://etl:{PASSWORD}@127.0.0.1:{port}/analytics", connect_retries=2, retry_delay=0.001
    )

    with caplog.at_level(logging.WARNING), pytest.raises(WarehouseUnavailableError) as raised:
        db.connect()

    message = str(raised.value)
    assert f"127.0.0.1:{port}/analytics" in message
    assert "after 3 attempts" in message
    assert "refused" in message.lower(), "the underlying reason is part of the message"
    assert isinstance(raised.value.__cause__, psycopg2.OperationalError)
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2
    assert PASSWORD not in message
    assert PASSWORD not in str(raised.value.__cause__)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(db)


@pytest.mark.parametrize(
    ("extra", "option"),
    [({"keepalive_idle": "30"}, "keepalive_idle"), ({"keepalives_idle": "30s"}, "keepalives_idle")],
    ids=["misspelt-option", "value-not-an-integer"],
)
def test_a_connection_option_libpq_refuses_fails_at_once_naming_the_connection(
    pg_url: str, monkeypatch, caplog, extra: dict[str, str], option: str
) -> None:
    """Only the connection's extra can change it: no connect retry, and a final error naming both."""
    from urllib.parse import urlsplit

    from github_etl.errors import FINAL_ERRORS

    parts = urlsplit(pg_url)
    connection = {"conn_type": "postgres", "host": parts.hostname, "port": parts.port, "login": parts.username}
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", json.dumps({**connection, "extra": extra}))

    with caplog.at_level(logging.WARNING), pytest.raises(FINAL_ERRORS) as raised:
        DatabaseConnection(connect_retries=2, retry_delay=0.001).connect()

    assert "'postgres_default'" in str(raised.value) and option in str(raised.value), str(raised.value)
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_an_unreachable_warehouse_names_the_airflow_connection_its_host_and_port_come_from(monkeypatch) -> None:
    """A wrong host or port in the connection reads like a warehouse that is down: the message names both."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", f"postgresql://etl:{PASSWORD}@127.0.0.1:{closed_port()}/wh")

    with pytest.raises(WarehouseUnavailableError) as raised, DatabaseConnection(connect_retries=0) as db:
        db.cursor()

    assert "check the host and port the Airflow connection 'postgres_default' names" in str(raised.value)


@pytest.mark.parametrize(
    ("target", "refusal"),
    [
        pytest.param({"dbname": "github_etl_no_such_database"}, "does not exist", id="no-such-database"),
        pytest.param({"user": "github_etl_no_such_role"}, "does not exist", id="no-such-role"),
    ],
)
def test_a_warehouse_refusing_the_login_fails_at_once_as_a_configuration_error(pg_url, caplog, target, refusal):
    from airflow.sdk.exceptions import AirflowFailException

    from github_etl.errors import ConfigurationError, WarehouseRejectedError, fail_fast_on_final_errors

    dsn = psycopg2.extensions.make_dsn(pg_url, password=PASSWORD, **target)
    db = DatabaseConnection(dsn, connect_retries=3, retry_delay=0.001)

    with caplog.at_level(logging.WARNING), pytest.raises(WarehouseRejectedError) as raised:
        db.connect()

    assert isinstance(raised.value, ConfigurationError)
    assert isinstance(raised.value, WarehouseUnavailableError)  # the API still answers 503
    assert refusal in str(raised.value).lower()
    assert "refused the connection" in str(raised.value)
    assert "Check the connection string" in str(raised.value)  # given as a DSN, not an Airflow connection
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    assert PASSWORD not in str(raised.value) + caplog.text
    with pytest.raises(AirflowFailException, match="refused the connection"), fail_fast_on_final_errors():
        db.connect()


@pytest.mark.parametrize(
    "refusal", ["no such user", "no such database: analytics", "unsupported startup parameter: options"]
)
def test_a_pooler_refusing_the_login_fails_at_once_as_a_configuration_error(refusal, caplog):
    from github_etl.errors import WarehouseRejectedError

    with server_refusing_logins(refusal) as port:
        db = DatabaseConnection(
            f"postgresql://etl:{PASSWORD}@127.0.0.1:{port}/analytics", connect_retries=3, retry_delay=0.001
        )
        with caplog.at_level(logging.WARNING), pytest.raises(WarehouseRejectedError) as raised:
            db.connect()

    assert refusal in str(raised.value)
    assert "Check the connection string (database, user, password)" in str(raised.value)
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_an_undefined_warehouse_connection_fails_at_once_saying_how_to_define_it(monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from github_etl.errors import ConfigurationError, fail_fast_on_final_errors

    monkeypatch.delenv("AIRFLOW_CONN_POSTGRES_DEFAULT", raising=False)
    db = DatabaseConnection(conn_id="postgres_default")

    with pytest.raises(ConfigurationError) as raised:
        db.connect()

    assert isinstance(raised.value, WarehouseUnavailableError)  # the API still answers 503
    message = str(raised.value)
    assert "'postgres_default' is not defined" in message
    assert "AIRFLOW_CONN_POSTGRES_DEFAULT" in message and "airflow connections add" in message
    with pytest.raises(AirflowFailException, match="is not defined"), fail_fast_on_final_errors():
        db.connect()


# Pieces of a password holding what ends a URI's host part as typed: a parser's reading of the URI shows them.
SLASHED = "Pw@Tq7/Hunter2:TopSecret"
SLASHED_PIECES = ("Tq7", "Hunter2", "TopSecret")


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://etl:{SLASHED}@127.0.0.1:5432/db",
        "postgresql://etl:Hunter2/TopSecret@127.0.0.1:5432/db",
        "postgresql://etl:12345/TopSecret@127.0.0.1:5432/db",
    ],
)
@pytest.mark.parametrize("given_as", ["dsn", "airflow connection"])
def test_a_uri_password_not_percent_encoded_fails_at_once_without_a_piece_of_it(url, given_as, monkeypatch, caplog):
    """Generated passwords hold '/' (base64): as typed in a URI, the parser reads its pieces as port and database."""
    from github_etl.errors import ConfigurationError

    if given_as == "dsn":
        db = DatabaseConnection(url, connect_retries=0)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_UNDER_TEST", url)
        db = DatabaseConnection(conn_id="warehouse_under_test", connect_retries=0)

    with pytest.raises(ConfigurationError) as raised:
        db.connect()

    message = str(raised.value)
    assert "percent-encoded" in message
    assert [piece for piece in SLASHED_PIECES if piece in message + caplog.text] == []
    assert raised.value.__cause__ is None or [p for p in SLASHED_PIECES if p in str(raised.value.__cause__)] == []
    if given_as == "airflow connection" and "12345" not in url and "Pw@" not in url:
        # Airflow cannot read it at all and reports it as not defined: it is defined.
        assert "AIRFLOW_CONN_WAREHOUSE_UNDER_TEST is set, but" in message


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=127.0.0.1 password={PASSWORD} dangling",
        f"postgresql://etl:{PASSWORD}@127.0.0.1:5432/db?no_such_option=1",
        f"host=127.0.0.1 password='{PASSWORD}",
    ],
)
def test_malformed_connection_string_is_reported_without_the_password(dsn):
    with pytest.raises(WarehouseError) as raised:
        DatabaseConnection(dsn).connect()

    assert PASSWORD not in str(raised.value)
    assert raised.value.__cause__ is None or PASSWORD not in str(raised.value.__cause__)


def test_connection_comes_from_the_airflow_connection_when_no_dsn_is_given(pg_url, monkeypatch):
    database = pg_url.rsplit("/", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_UNDER_TEST", pg_url + "?sslmode=disable&sqlalchemy_scheme=x")

    with DatabaseConnection(conn_id="warehouse_under_test") as db, db.cursor() as cur:
        cur.execute("SELECT current_database(), current_setting('application_name')")
        assert cur.fetchone() == (database, "github_etl")


# -- schema helpers ---------------------------------------------------------------------------------


def test_count_repositories_counts_rows(warehouse):
    assert count_repositories(warehouse) == 0
    for repo_id in (1, 2, 3):
        _insert_repository(warehouse, repo_id)
    warehouse.commit()

    assert count_repositories(warehouse) == 3


def test_count_repositories_quotes_schema_and_table_names(warehouse):
    with warehouse.cursor() as cur:
        cur.execute('CREATE SCHEMA "Odd Schema"')
        cur.execute('CREATE TABLE "Odd Schema"."repos; DROP TABLE x" (LIKE github.repositories INCLUDING DEFAULTS)')
    _insert_repository(warehouse, 1, table='"Odd Schema"."repos; DROP TABLE x"')
    warehouse.commit()

    assert count_repositories(warehouse, schema="Odd Schema", table="repos; DROP TABLE x") == 1


def test_count_repositories_uses_the_airflow_connection_by_default(warehouse, pg_url, monkeypatch):
    _insert_repository(warehouse, 42)
    warehouse.commit()
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)

    assert count_repositories() == 1


def test_apply_schema_is_idempotent(warehouse):
    _insert_repository(warehouse, 1)
    warehouse.commit()

    apply_schema(warehouse)
    apply_schema(warehouse)

    assert count_repositories(warehouse) == 1


@pytest.mark.parametrize(
    ("dropped", "fix"),
    [
        pytest.param(
            ("repositories.homepage", "repositories.is_template"),
            "ALTER TABLE github.repositories ADD COLUMN homepage text; "
            "ALTER TABLE github.repositories ADD COLUMN is_template boolean NOT NULL DEFAULT false;",
            id="spec",
        ),
        # Not only the spec's: a column schema.sql declares for its own bookkeeping, named before schema.sql's
        # functions and comments, which name it, fail on its absence.
        pytest.param(
            ("repository_snapshots.observed_at", "load_runs.read_over_rest"),
            "ALTER TABLE github.repository_snapshots ADD COLUMN observed_at timestamptz; "
            "ALTER TABLE github.load_runs ADD COLUMN read_over_rest integer NOT NULL DEFAULT 0;",
            id="bookkeeping",
        ),
    ],
)
def test_a_warehouse_created_before_a_column_fails_saying_how_to_add_it(warehouse, dropped, fix):
    """schema.sql creates missing tables only: a column added since is not in an existing warehouse."""
    from github_etl.errors import ConfigurationError, WarehouseSchemaError

    with warehouse.cursor() as cur:
        for column in dropped:
            table, name = column.split(".")
            cur.execute(f"ALTER TABLE github.{table} DROP COLUMN {name}")
    warehouse.commit()

    with pytest.raises(WarehouseSchemaError) as raised:
        apply_schema(warehouse)

    message = str(raised.value)
    assert isinstance(raised.value, ConfigurationError)
    assert f"no column {', '.join(f'github.{column}' for column in dropped)}," in message
    assert fix in message
    with warehouse.cursor() as cur:
        cur.execute(fix)
    warehouse.commit()
    apply_schema(warehouse)
    with warehouse.cursor() as cur:
        cur.execute(
            "SELECT col_description(attrelid, attnum) FROM pg_attribute"
            " WHERE attrelid = 'github.repositories'::regclass AND attname = 'is_template'"
        )
        assert cur.fetchone()[0] == "True for a template repository."


@contextmanager
def _database_encoded(server_url: str, encoding: str) -> Iterator[str]:
    """A database of this test's own in ``encoding`` (what a DBA's ``CREATE DATABASE`` may have given)."""
    from psycopg2 import sql

    from tests.fixtures.postgres import execute_autocommit

    name = f"github_etl_test_{uuid.uuid4().hex[:12]}"
    create = "CREATE DATABASE {} ENCODING {} LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    execute_autocommit(server_url, sql.SQL(create).format(sql.Identifier(name), sql.Literal(encoding)))
    try:
        yield with_database(server_url, name)
    finally:
        execute_autocommit(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII"])
def test_a_warehouse_database_not_in_utf8_fails_at_once_saying_how_to_create_it(pg_server_url, encoding):
    """LATIN1 stored "café 😀" as "cafÃ© ð…" without an error; SQL_ASCII stored bytes no reader could decode."""
    from github_etl.errors import ConfigurationError, WarehouseSchemaError

    with _database_encoded(pg_server_url, encoding) as url, DatabaseConnection(url, connect_retries=0) as db:
        with pytest.raises(WarehouseSchemaError) as raised:
            apply_schema(db)

        message = str(raised.value)
        assert isinstance(raised.value, ConfigurationError)
        assert f"is encoded {encoding}" in message
        assert "ENCODING 'UTF8'" in message
        assert _scalar(url, "SELECT to_regnamespace('github') IS NULL") is True


@pytest.mark.parametrize("where", ["database setting", "PGCLIENTENCODING"])
def test_text_is_stored_as_github_sent_it_whatever_client_encoding_is_set_around_the_connection(
    pg_url, tmp_path, monkeypatch, where
):
    """A database's or environment's default client encoding must not re-read the UTF-8 rows the load sends."""
    from psycopg2 import sql

    from tests.fixtures.postgres import execute_autocommit
    from tests.unit.test_hostile_load import DAY_1, _load, _record, _transform

    if where == "database setting":
        database = urlsplit(pg_url).path.lstrip("/")
        alter = sql.SQL("ALTER DATABASE {} SET client_encoding = 'LATIN1'").format(sql.Identifier(database))
        execute_autocommit(pg_url, alter)
    else:
        monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    text = "caf\u00e9 \U0001f600 \u4e2d\u6587"
    path, rejected = _transform(tmp_path, [_record(1, description=text, topics=["\u00fc"])], "day1")

    with DatabaseConnection(pg_url, connect_retries=0) as db:
        apply_schema(db)
        _load(db, path, DAY_1, rejected)
    monkeypatch.delenv("PGCLIENTENCODING", raising=False)

    with DatabaseConnection(pg_url, connect_retries=0) as db, db.cursor() as cur:
        cur.execute("SELECT convert_to(description || topics[1], 'UTF8') FROM github.repositories")
        assert bytes(cur.fetchone()[0]).decode() == text + "\u00fc"


def test_apply_schema_again_waits_for_no_writer_or_vacuum_of_the_tables(warehouse, pg_url):
    """Every run applies the schema first: it must not queue behind a load still writing, an analyst's write
    or a DBA's VACUUM or REINDEX ... CONCURRENTLY, nor hold back the writers queued after it."""
    ensure_snapshot_partition(warehouse, date(2024, 5, 1))
    other = psycopg2.connect(pg_url)
    try:
        with other.cursor() as cur:
            cur.execute(
                "INSERT INTO github.repositories (id, node_id, full_name, name, owner_login, created_at,"
                " first_seen_at, last_seen_at) VALUES (1, 'R', 'o/r', 'r', 'o', now(), now(), now())"
            )
            cur.execute(
                "SELECT string_agg(oid::regclass::text, ', ') FROM pg_class"
                " WHERE relnamespace = 'github'::regnamespace AND relkind IN ('r', 'p')"
            )
            tables = cur.fetchone()[0]
            cur.execute(f"LOCK TABLE {tables} IN ROW EXCLUSIVE MODE")
            cur.execute(f"LOCK TABLE {tables} IN SHARE UPDATE EXCLUSIVE MODE")
        # A bound, not a measure: without it a schema step that waits would wait for the test's end.
        with warehouse.cursor() as cur:
            cur.execute("SET lock_timeout = '5s'")
        warehouse.commit()

        apply_schema(warehouse)
    finally:
        other.close()


def _at_once(pg_url: str, sessions: int, step: Any, *, prepare: Any = None) -> list[BaseException | None]:
    """``step(db)`` in ``sessions`` connections released together (each made ready by ``prepare(db)`` first): what
    each ended with, None for a step that returned."""
    ready = threading.Barrier(sessions)
    outcomes: list[BaseException | None] = []

    def run() -> None:
        db = DatabaseConnection(pg_url, connect_retries=0)
        try:
            db.connect()
            if prepare is not None:
                prepare(db)
            ready.wait(timeout=30)
            step(db)
            outcomes.append(None)
        except BaseException as exc:
            outcomes.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_apply_schema_from_two_sessions_at_once(pg_url):
    errors = [outcome for outcome in _at_once(pg_url, 2, apply_schema) if outcome is not None]

    assert errors == []
    # repositories, repository_snapshots, load_runs, repositories_generation, repository_history, census_cursor,
    # census_ranges, gone_reports, source, and the day summaries language_days, star_gains, star_gain_topics,
    # star_gain_windows, summaries_kept_days.
    assert _scalar(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'github'") == 14
    assert _scalar(pg_url, "SELECT count(*) FROM pg_trigger WHERE tgname = 'repositories_bump_generation'") == 1


def _bounded(pg_url: str) -> DatabaseConnection:
    """A warehouse connection whose lock waits end (as a DBA's role lock_timeout ends them): a step that waits fails
    the test instead of hanging it."""
    db = DatabaseConnection(pg_url, connect_retries=0)
    with db.cursor() as cur:
        cur.execute("SET lock_timeout = '5s'")
    db.commit()
    return db


def _held_like_a_first_load(pg_url: str) -> psycopg2.extensions.connection:
    """A session holding what the first (bulk) load of a warehouse holds until it commits, hours for a census."""
    bulk = psycopg2.connect(pg_url)
    with bulk.cursor() as cur:
        cur.execute(load_sql("bulk_load_lock.sql"))
    return bulk


def test_a_months_partition_already_there_is_found_without_waiting_for_a_first_load(warehouse, pg_url):
    """Reading a partition's bound with its table's oid locks every month, so the look-up waited for the first
    load's exclusive lock (or a DBA's VACUUM FULL of any month) though the month's partition was there."""
    ensure_snapshot_partition(warehouse, date(2024, 5, 1))
    bulk = _held_like_a_first_load(pg_url)
    db = _bounded(pg_url)
    try:
        ensure_snapshot_partition(db, date(2024, 5, 2))
    finally:
        db.close()
        bulk.close()


def test_prepare_does_not_queue_behind_a_load_looking_for_its_months_partition(warehouse, pg_url):
    """A second run's load looking for its month's partition while the first run's bulk load holds the tables waited
    holding the schema lock, and every run's prepare queued behind it (or failed under the role's lock_timeout)."""
    ensure_snapshot_partition(warehouse, date(2024, 5, 1))
    bulk = _held_like_a_first_load(pg_url)
    second_load = DatabaseConnection(pg_url, connect_retries=0)
    looking = threading.Thread(target=lambda: ensure_snapshot_partition(second_load, date(2024, 5, 2)), daemon=True)
    try:
        looking.start()
        looking.join(timeout=30)
        assert not looking.is_alive(), "the load's partition step waited for the first load"
        prepare = _bounded(pg_url)
        try:
            apply_schema(prepare)
        finally:
            prepare.close()
    finally:
        bulk.close()
        looking.join(timeout=30)
        second_load.close()


def test_loads_creating_one_new_month_under_a_repeatable_read_role_all_go_on(warehouse, pg_url):
    """Under a role's default repeatable read, the schema transaction's snapshot was taken by its lock statement,
    before the lock was granted: the losers of three loads creating one month read the catalog from before the
    winner's commit, found its table by name and failed, final, advising to drop the live partition."""

    def repeatable_read(db: DatabaseConnection) -> None:
        with db.cursor() as cur:
            cur.execute("SET default_transaction_isolation = 'repeatable read'")
        db.commit()

    outcomes = _at_once(pg_url, 3, lambda db: ensure_snapshot_partition(db, date(2025, 1, 3)), prepare=repeatable_read)

    assert outcomes == [None, None, None]
    assert _scalar(pg_url, "SELECT to_regclass('github.repository_snapshots_2025_01') IS NOT NULL")


def test_the_sql_files_digest_is_this_versions():
    """Changing a file of include/sql/github_repositories changes the digest prepare compares the folder with."""
    from github_etl.hooks.warehouse import SQL_FILES_DIGEST, sql_files_digest
    from github_etl.settings import DEFAULT_SQL_DIR

    found = sql_files_digest(DEFAULT_SQL_DIR)
    assert found == SQL_FILES_DIGEST, f"set SQL_FILES_DIGEST = {found!r} in plugins/github_etl/hooks/warehouse.py"


@pytest.mark.parametrize("copy", ["older", "partial"])
def test_a_sql_folder_of_another_version_fails_prepare_at_once_naming_it(monkeypatch, tmp_path, pg_url, copy):
    """GITHUB_ETL_SQL_DIR naming a copy of include/sql made for an earlier version (or part of one): prepare applied
    its schema and passed, and the load failed after GitHub was called (a function the plugin calls missing), its
    retries spent; a missing file failed only the run that came to read it."""
    from github_etl.errors import FINAL_ERRORS
    from github_etl.settings import DEFAULT_SQL_DIR

    folder = tmp_path / "sql"
    shutil.copytree(DEFAULT_SQL_DIR, folder)
    if copy == "older":
        schema = folder / "schema.sql"
        schema.write_text(schema.read_text().replace("snapshot_partition_exists", "snapshot_partition_found"))
    else:
        (folder / "check_loaded_count.sql").unlink()
    monkeypatch.setenv("GITHUB_ETL_SQL_DIR", str(folder))
    load_sql.cache_clear()
    try:
        with DatabaseConnection(pg_url, connect_retries=0) as db, pytest.raises(WarehouseError) as raised:
            apply_schema(db)
        assert str(raised.value).startswith(f"The SQL folder {folder} holds other SQL files than this version")
        assert isinstance(raised.value, FINAL_ERRORS)
        assert _scalar(pg_url, "SELECT to_regnamespace('github') IS NULL"), "nothing applied"
    finally:
        load_sql.cache_clear()


def test_missing_sql_file_names_the_setting_and_fails_at_once(monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    from github_etl.errors import ConfigurationError, fail_fast_on_final_errors

    monkeypatch.setenv("GITHUB_ETL_SQL_DIR", str(tmp_path))
    load_sql.cache_clear()
    try:
        with pytest.raises(WarehouseError, match="GITHUB_ETL_SQL_DIR") as raised:
            load_sql("schema.sql")
        # No retry finds a file that is not there: the task fails instead of spending its retries.
        assert isinstance(raised.value, ConfigurationError)
        with pytest.raises(AirflowFailException, match=r"schema\.sql"), fail_fast_on_final_errors():
            load_sql("schema.sql")
    finally:
        load_sql.cache_clear()


def test_with_database_swaps_only_the_database():
    assert (
        with_database("postgresql://u@127.0.0.1:5/postgres?sslmode=disable", "t1")
        == "postgresql://u@127.0.0.1:5/t1?sslmode=disable"
    )


# -- embedded server --------------------------------------------------------------------------------


@pytest.mark.integration
def test_embedded_server_starts_once_serves_and_stops(capsys, monkeypatch):
    from tools.embedded_postgres import EmbeddedPostgres, main

    # make run starts it with the run's environment; the server outlives the run, and a superuser reads its
    # environment back with SQL.
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not_for_the_postmaster_0123")
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", '{"conn_type": "http", "password": "ghp_nor_this_one_0123"}')
    parent = Path(tempfile.mkdtemp(prefix="github-etl-embedded-"))
    data_dir = parent / "pgdata"
    server = EmbeddedPostgres(data_dir)
    try:
        url = server.start()
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        assert server.start() == url, "starting a running server only returns its URL"
        environment = _scalar(
            url,
            "SELECT encode(pg_read_binary_file('/proc/' || split_part(pg_read_file('postmaster.pid'), E'\\n', 1)"
            " || '/environ'), 'escape')",
        )
        assert "ghp_" not in environment and "PATH=" in environment

        with DatabaseConnection(url, connect_retries=0) as db:
            apply_schema(db)
            _insert_repository(db, 7)

        assert main(["url", "--data-dir", str(data_dir)]) == 0
        assert capsys.readouterr().out.strip() == url

        assert server.stop() is True
        assert server.is_running() is False
        assert server.stop() is False, "stopping a stopped server is a no-op"
        assert main(["url", "--data-dir", str(data_dir)]) == 1

        assert main(["start", "--data-dir", str(data_dir)]) == 0
        assert capsys.readouterr().out.strip() == url, "the port is kept across restarts"
        assert _scalar(url, "SELECT count(*) FROM github.repositories") == 1, "data survives a restart"
    finally:
        server.stop()
        shutil.rmtree(parent, ignore_errors=True)


def test_embedded_server_refuses_a_data_directory_of_another_major_version():
    """A folder initialised by older binaries names itself and both versions instead of a server FATAL."""
    from tools.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError, binaries_major_version

    parent = Path(tempfile.mkdtemp(prefix="github-etl-embedded-"))
    data_dir = parent / "pgdata"
    data_dir.mkdir()
    older = str(int(binaries_major_version()) - 2)
    (data_dir / "PG_VERSION").write_text(f"{older}\n")
    try:
        with pytest.raises(EmbeddedPostgresError, match=rf"{data_dir}.*PostgreSQL {older} cluster.*delete"):
            EmbeddedPostgres(data_dir).start()
        assert sorted(p.name for p in data_dir.iterdir()) == ["PG_VERSION"], "nothing is written into it"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def _embedded_parent() -> Iterator[Path]:
    """A folder for embedded data directories; not tmp_path: run as root, the server's account must traverse it."""
    parent = Path(tempfile.mkdtemp(prefix="github-etl-embedded-"))
    parent.chmod(0o711)
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _stopped_leaving_its_pid_file_to(server: Any, pid: int) -> None:
    """The server gone as after a crash, its postmaster.pid left behind, naming ``pid``: after a reboot the number
    is another program's."""
    pid_file = server.data_dir / "postmaster.pid"
    lines = pid_file.read_text(encoding="utf-8").splitlines()
    owner = pid_file.stat()
    assert server.stop() is True
    pid_file.write_text("\n".join([str(pid), *lines[1:]]) + "\n", encoding="utf-8")
    os.chown(pid_file, owner.st_uid, owner.st_gid)


@contextmanager
def _another_program() -> Iterator[subprocess.Popen[bytes]]:
    """A program of the embedded server's account that is no PostgreSQL (an editor, a browser)."""
    from tools.embedded_postgres import SERVER_ACCOUNT, ensure_user_exists

    as_account: dict[str, Any] = {}
    if os.geteuid() == 0:
        entry = ensure_user_exists(SERVER_ACCOUNT)
        as_account = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    program = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, **as_account)
    try:
        yield program
    finally:
        program.kill()
        program.wait()


@pytest.mark.integration
def test_after_a_crash_a_pid_file_naming_another_program_is_no_running_server():
    """pg_ctl status trusts any live process of the recorded PID: start() said "already running" and handed out the
    URL of a port nothing listened on, and stop() (make warehouse-stop, make clean) signalled the other program."""
    from tools.embedded_postgres import EmbeddedPostgres

    with _embedded_parent() as parent, _another_program() as program:
        server = EmbeddedPostgres(parent / "pgdata")
        try:
            server.start()
            _stopped_leaving_its_pid_file_to(server, program.pid)

            assert server.is_running() is False
            assert server.stop() is False
            assert program.poll() is None, "stop() signalled a program that is no PostgreSQL"
            url = server.start()
            assert _scalar(url, "SHOW data_directory") == str(server.data_dir)
        finally:
            server.stop()


@pytest.mark.integration
def test_a_copy_of_a_running_projects_data_directory_starts_a_server_of_its_own():
    """cp -a of a project while its make airflow runs: the copy's postmaster.pid names the first copy's server, whose
    URL the copy's start() handed out (make run then loaded into the other warehouse), and whose server its stop()
    stopped."""
    from tools.embedded_postgres import EmbeddedPostgres

    with _embedded_parent() as first_parent, _embedded_parent() as second_parent:
        first = EmbeddedPostgres(first_parent / "pgdata")
        second = EmbeddedPostgres(second_parent / "pgdata")
        try:
            first_url = first.start()
            subprocess.run(["cp", "-a", str(first.data_dir), str(second.data_dir)], check=True)

            assert second.is_running() is False
            second_url = second.start()
            assert second_url != first_url
            assert _scalar(second_url, "SHOW data_directory") == str(second.data_dir)
            assert second.stop() is True
            assert _scalar(first_url, "SHOW data_directory") == str(first.data_dir)
        finally:
            second.stop()
            first.stop()


@pytest.mark.integration
def test_an_initialisation_interrupted_part_way_leaves_nothing_a_later_start_trips_on(monkeypatch):
    """Ctrl-C during the first make run (subprocess.run kills initdb 0.25 s after it, before initdb cleans up) or a
    crash left a folder holding PG_VERSION but not the settings' include: every later start took it for made and
    started on PostgreSQL's default port, failing on (or answering with) the machine's own server."""
    from tools.embedded_postgres import EmbeddedPostgres

    with _embedded_parent() as parent:
        server = EmbeddedPostgres(parent / "pgdata")
        made = EmbeddedPostgres._run

        def interrupted_after_initdb(self: Any, command: Any, account: Any, **kwargs: Any) -> int:
            code = made(self, command, account, **kwargs)
            if Path(command[0]).name == "initdb":
                raise KeyboardInterrupt
            return code

        with monkeypatch.context() as patched:
            patched.setattr(EmbeddedPostgres, "_run", interrupted_after_initdb)
            with pytest.raises(KeyboardInterrupt):
                server.start()
        # What a SIGKILL leaves, where no clean-up runs: a folder being made beside the data directory.
        (parent / "pgdata.initialising-4242").mkdir()
        (parent / "pgdata.initialising-4242" / "PG_VERSION").write_text("1\n")
        try:
            url = server.start()
            assert _scalar(url, "SHOW data_directory") == str(server.data_dir)
            assert sorted(p.name for p in parent.iterdir()) == ["pgdata"]
        finally:
            server.stop()
