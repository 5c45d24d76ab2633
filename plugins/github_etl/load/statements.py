"""The load's SQL: the files of ``include/sql/github_repositories`` with their identifiers filled in.

Values always go in as bind parameters; only table and column names are spliced into the text, quoted.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg2 import sql

from github_etl.hooks.warehouse import load_sql


def template(name: str, **fragments: sql.Composable) -> sql.Composed:
    """An SQL file whose ``{placeholders}`` are filled with quoted identifiers."""
    return sql.SQL(load_sql(name)).format(**fragments)


def identifiers(columns: Iterable[str], relation: str | None = None) -> sql.Composed:
    """``"a", "b"`` or, with a relation, ``"rel"."a", "rel"."b"``."""
    names = [sql.Identifier(relation, c) if relation else sql.Identifier(c) for c in columns]
    return sql.SQL(", ").join(names)
