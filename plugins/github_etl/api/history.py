"""The API's SQL for attribute history: earlier versions of a repository, and a repository by a former name."""

from __future__ import annotations

from psycopg2 import sql

from github_etl.api.models import AttributeVersion
from github_etl.api.queries import REPOSITORIES, REPOSITORY_COLUMNS, Row, _columns, _fetch
from github_etl.hooks.warehouse import DatabaseConnection

HISTORY = sql.Identifier("github", "repository_history")
# The response model is the contract: select exactly its fields.
HISTORY_COLUMNS = tuple(AttributeVersion.model_fields)
# Versions a detail returns: a repository renamed or relicensed daily for years is the only one with more.
MAX_VERSIONS = 100


def list_versions(db: DatabaseConnection, repo_id: int) -> list[Row]:
    """Earlier versions of a repository's tracked attributes, newest first.

    :param db: warehouse connection.
    :param repo_id: repository id.
    """
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE repo_id = %(repo_id)s ORDER BY valid_until DESC LIMIT %(limit)s"
    ).format(columns=_columns(HISTORY_COLUMNS), table=HISTORY)
    return _fetch(db, query, {"repo_id": repo_id, "limit": MAX_VERSIONS})


def get_renamed_repository(db: DatabaseConnection, owner: str, name: str) -> Row | None:
    """The repository that was once called ``owner/name`` (case-insensitive), as it is now, or None.

    When several repositories held the name, the one that held it last wins.

    :param db: warehouse connection.
    :param owner: former owner login.
    :param name: former repository name.
    """
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE id = ("
        " SELECT repo_id FROM {history} WHERE lower(full_name) = lower(%(full_name)s)"
        " ORDER BY valid_until DESC LIMIT 1)"
    ).format(columns=_columns(REPOSITORY_COLUMNS), table=REPOSITORIES, history=HISTORY)
    rows = _fetch(db, query, {"full_name": f"{owner}/{name}"})
    return rows[0] if rows else None
