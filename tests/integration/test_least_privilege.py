"""The warehouse run by roles a DBA grants no more than they need (``least_privilege_roles``).

The DAG's role owns only the ``github`` schema, which the DBA created: no CREATE on the database, no
superuser. Analysts use a read-only role.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import psycopg2
import pytest
from psycopg2 import sql

from github_etl.errors import FINAL_ERRORS, WarehousePrivilegeError
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from tests.fixtures.postgres import execute_autocommit
from tests.unit.test_load import DAY_1, _load, _repo, _row_file


def test_the_etl_role_prepares_and_loads_with_no_more_than_its_schema(least_privilege_roles, tmp_path):
    roles = least_privilege_roles
    with DatabaseConnection(roles.etl_url, connect_retries=0) as db:
        apply_schema(db)
        apply_schema(db)
        # The first load is the bulk one (indexes dropped and rebuilt), the next the merge (temporary
        # tables, ANALYZE, SET LOCAL of planner settings, a new month's partition, the day summaries).
        _load(db, [_row_file(tmp_path, _repo(1), _repo(2))], when=DAY_1)
        later = DAY_1 + timedelta(days=31)
        _load(db, [_row_file(tmp_path, _repo(1, stargazers_count=99), _repo(3))], when=later)

    with psycopg2.connect(roles.reader_url) as reader, reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM github.repositories")
        assert cur.fetchone() == (3,)
        # The partition of the later month, created by the load, is readable directly too.
        cur.execute(
            sql.SQL("SELECT count(*) FROM github.{}").format(sql.Identifier(f"repository_snapshots_{later:%Y_%m}"))
        )
        assert cur.fetchone() == (2,)
        cur.execute("SELECT count(*) FROM github.star_gain_windows")
        assert cur.fetchone()[0] >= 0
    reader.close()


def test_a_role_without_its_schema_is_told_what_the_dba_must_grant(least_privilege_roles, pg_url):
    roles = least_privilege_roles
    execute_autocommit(pg_url, sql.SQL("DROP SCHEMA github"))
    with DatabaseConnection(roles.etl_url, connect_retries=0) as db:
        with pytest.raises(WarehousePrivilegeError) as raised:
            apply_schema(db)
        role = db.connection.info.user
        # The connection stays usable.
        with db.cursor() as cur:
            cur.execute("SELECT 1")
    message = str(raised.value)
    assert "permission denied for database" in message
    assert f'CREATE SCHEMA github AUTHORIZATION "{role}"' in message


def test_a_schema_whose_objects_another_role_created_is_reported_with_what_to_change(least_privilege_roles, pg_url):
    with DatabaseConnection(pg_url, connect_retries=0) as admin:
        apply_schema(admin)  # the DBA applied the schema as themself
    with DatabaseConnection(least_privilege_roles.etl_url, connect_retries=0) as db:
        with pytest.raises(WarehousePrivilegeError) as raised:
            apply_schema(db)
        role = db.connection.info.user
    assert "must be owner of" in str(raised.value)
    assert f'OWNER TO "{role}"' in str(raised.value)


def test_a_read_only_role_given_to_the_tasks_fails_at_once_saying_so(least_privilege_roles, pg_url):
    """The reader role (default_transaction_read_only = on, docs/warehouse-dba.md) or a standby given to the tasks by
    mistake: prepare failed with psycopg2's bare "cannot execute CREATE FUNCTION in a read-only transaction", retried
    twice, naming neither the role nor the connection."""
    roles = least_privilege_roles
    with DatabaseConnection(roles.etl_url, connect_retries=0) as db:
        apply_schema(db)
    reader = urlsplit(roles.reader_url).username
    execute_autocommit(
        pg_url, sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(reader))
    )
    try:
        with (
            DatabaseConnection(roles.reader_url, connect_retries=0) as db,
            pytest.raises(WarehousePrivilegeError) as raised,
        ):
            apply_schema(db)
        message = str(raised.value)
        assert f"default_transaction_read_only is on for the role {reader}" in message
        assert "the connection string" in message and "not a reader's or a standby's" in message
        assert isinstance(raised.value, FINAL_ERRORS)
    finally:
        execute_autocommit(pg_url, sql.SQL("ALTER ROLE {} RESET ALL").format(sql.Identifier(reader)))
