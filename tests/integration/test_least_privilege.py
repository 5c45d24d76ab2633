"""The warehouse run by roles a DBA grants no more than they need (docs/deploy-kubernetes.md, "Least privilege").

The DAG's role owns only the ``github`` schema, which the DBA created: no CREATE on the database, no
superuser. Analysts and the repository API use a read-only role. Roles are made by each test (cluster-wide,
so named uniquely) and dropped after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import sql

from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from tests.fixtures.postgres import execute_autocommit
from tests.unit.test_load import DAY_1, _load, _repo, _row_file

# What the DBA runs, as in docs/deploy-kubernetes.md: {etl} and {reader} are the two roles.
DBA_GRANTS = """
REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {etl};
GRANT CONNECT ON DATABASE {database} TO {reader};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA github AUTHORIZATION {etl};
GRANT USAGE ON SCHEMA github TO {reader};
ALTER DEFAULT PRIVILEGES FOR ROLE {etl} IN SCHEMA github GRANT SELECT ON TABLES TO {reader};
"""


@dataclass(frozen=True)
class Roles:
    etl_url: str
    reader_url: str


def _as(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


@pytest.fixture
def roles(pg_url: str) -> Iterator[Roles]:
    """An ETL role owning only the schema ``github`` and a read-only role, granted as documented."""
    suffix = uuid.uuid4().hex[:10]
    etl, reader = f"github_etl_test_{suffix}", f"github_reader_test_{suffix}"
    database = urlsplit(pg_url).path.lstrip("/")
    for role in (etl, reader):
        execute_autocommit(pg_url, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        execute_autocommit(
            pg_url,
            sql.SQL(DBA_GRANTS).format(
                database=sql.Identifier(database), etl=sql.Identifier(etl), reader=sql.Identifier(reader)
            ),
        )
        yield Roles(etl_url=_as(pg_url, etl), reader_url=_as(pg_url, reader))
    finally:
        # One role at a time: both name the same default privileges, which one DROP OWNED would drop twice.
        for role in (etl, reader):
            execute_autocommit(pg_url, sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        for role in (etl, reader):
            execute_autocommit(pg_url, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_etl_role_prepares_and_loads_with_no_more_than_its_schema(roles, tmp_path):
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
