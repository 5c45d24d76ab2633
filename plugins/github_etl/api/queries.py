"""The API's SQL: every value travels as a bind parameter, every identifier is a constant of this module.

Each list query is shaped so that one of the indexes of ``schema.sql`` returns its rows already in order
and the scan stops after a page: keyset paging (``(key, id) < (last key, last id)``) instead of OFFSET,
so page 1,000 costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from psycopg2 import sql

from github_etl.api.models import LoadRun, Repository, RepositorySort, RunSort, Snapshot
from github_etl.api.paging import CursorPosition
from github_etl.hooks.warehouse import DatabaseConnection, count_repositories

REPOSITORIES = sql.Identifier("github", "repositories")
SNAPSHOTS = sql.Identifier("github", "repository_snapshots")
LOAD_RUNS = sql.Identifier("github", "load_runs")
GENERATION = sql.Identifier("github", "repositories_generation")

# The response models are the contract: select exactly their fields.
REPOSITORY_COLUMNS = tuple(Repository.model_fields)
SNAPSHOT_COLUMNS = tuple(Snapshot.model_fields)
LOAD_RUN_COLUMNS = tuple(LoadRun.model_fields)

Row = dict[str, Any]


@dataclass(frozen=True)
class SortSpec:
    """How one sort order is written in SQL.

    :param column: the sort key.
    :param nullable: whether the key may be NULL; such rows come last, ordered by id.
    :param nulls: NULLS placement of the index serving this order. Rows with and without a key are read
        in two separate segments, so the placement never changes the result; it only lets PostgreSQL
        walk the index in order instead of sorting.
    """

    column: str
    nullable: bool
    nulls: str


SORTS: dict[RepositorySort, SortSpec] = {
    # repositories_stars_idx (stargazers_count DESC, id DESC), or the language one when filtering by language.
    RepositorySort.STARS: SortSpec("stargazers_count", nullable=False, nulls="NULLS FIRST"),
    # repositories_created_idx (created_at DESC, id DESC).
    RepositorySort.CREATED: SortSpec("created_at", nullable=False, nulls="NULLS FIRST"),
    # repositories_pushed_idx (pushed_at DESC NULLS LAST, id DESC).
    RepositorySort.PUSHED: SortSpec("pushed_at", nullable=True, nulls="NULLS LAST"),
}


@dataclass(frozen=True)
class RepositoryFilter:
    """Conditions on the repository list; None means no condition.

    :param language: primary language, in any case.
    :param owner: owner login, compared case-insensitively.
    :param topic: a topic the repository must carry.
    :param min_stars: lowest star count.
    :param archived: archived state.
    """

    language: str | None = None
    owner: str | None = None
    topic: str | None = None
    min_stars: int | None = None
    archived: bool | None = None


T = TypeVar("T")


def list_repositories(
    db: DatabaseConnection,
    filters: RepositoryFilter,
    sort: RepositorySort,
    after: CursorPosition | None,
    limit: int,
) -> tuple[list[Row], CursorPosition | None]:
    """One page of repositories and the position to continue from (None on the last page).

    :param db: warehouse connection.
    :param filters: conditions every row must meet.
    :param sort: order of the rows.
    :param after: last row of the previous page; None for the first page.
    :param limit: page size.
    """
    spec = SORTS[sort]
    column = sql.Identifier(spec.column)
    conditions, params = _filter_conditions(filters)
    # What the text of a segment's query depends on; the values travel as parameters.
    shape = (sort, *params)
    # One row more than the page tells whether another page follows.
    wanted = limit + 1
    in_null_segment = after is not None and after.value is None

    rows: list[Row] = []
    if not in_null_segment:
        segment = list(conditions)
        if spec.nullable:
            segment.append(sql.SQL("{} IS NOT NULL").format(column))
        if after is not None:
            segment.append(sql.SQL("({}, id) < (%(after_value)s, %(after_id)s)").format(column))
            params.update(after_value=after.value, after_id=after.last_id)
        rows = _select_repositories(db, (*shape, "key", after is not None), segment, spec, params, wanted)
    if spec.nullable and len(rows) < wanted:
        segment = [*conditions, sql.SQL("{} IS NULL").format(column)]
        if in_null_segment:
            segment.append(sql.SQL("id < %(after_id)s"))
            params.update(after_id=after.last_id)
        rows += _select_repositories(db, (*shape, "null", in_null_segment), segment, spec, params, wanted - len(rows))

    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, CursorPosition(sort=sort, value=last[spec.column], last_id=last["id"])


def get_repository(db: DatabaseConnection, owner: str, name: str) -> Row | None:
    """The repository ``owner/name`` (case-insensitive), or None.

    A name deleted on GitHub and created again is held twice, under two ids: the live one wins, then the
    one seen last.

    :param db: warehouse connection.
    :param owner: owner login.
    :param name: repository name.
    """
    query = sql.SQL(
        "SELECT {columns} FROM {table}"
        " WHERE lower(owner_login) = lower(%(owner)s) AND lower(name) = lower(%(name)s)"
        " ORDER BY deleted_at IS NULL DESC, last_seen_at DESC, id DESC LIMIT 1"
    ).format(columns=_columns(REPOSITORY_COLUMNS), table=REPOSITORIES)
    rows = _fetch(db, query, {"owner": owner, "name": name})
    return rows[0] if rows else None


def list_snapshots(db: DatabaseConnection, repo_id: int, limit: int) -> list[Row]:
    """Counters of a repository per logical date, newest first.

    :param db: warehouse connection.
    :param repo_id: repository id.
    :param limit: most snapshots returned.
    """
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE repo_id = %(repo_id)s ORDER BY snapshot_date DESC LIMIT %(limit)s"
    ).format(columns=_columns(SNAPSHOT_COLUMNS), table=SNAPSHOTS)
    return _fetch(db, query, {"repo_id": repo_id, "limit": limit})


# The orders of the run list, each total: ties fall to the run id.
RUN_ORDERS: dict[RunSort, sql.Composable] = {
    RunSort.LOGICAL_DATE: sql.SQL("logical_date DESC, started_at DESC, run_id DESC, dag_id DESC"),
    RunSort.FINISHED: sql.SQL("finished_at DESC, run_id DESC, dag_id DESC"),
}


def list_load_runs(
    db: DatabaseConnection,
    limit: int,
    sort: RunSort = RunSort.LOGICAL_DATE,
    checks_passed: bool | None = None,
    dag_id: str | None = None,
) -> list[Row]:
    """Audit rows of the latest load runs, newest first.

    :param db: warehouse connection.
    :param limit: most runs returned.
    :param sort: newest logical date first, or the last to finish first.
    :param checks_passed: only the runs whose quality checks passed (True) or did not (False); None: all.
    :param dag_id: only the runs of this DAG; None: every DAG's.
    """
    conditions: list[sql.Composable] = [sql.SQL("true")]
    if checks_passed is not None:
        conditions.append(sql.SQL("checks_passed_at IS {} NULL").format(sql.SQL("NOT" if checks_passed else "")))
    if dag_id is not None:
        conditions.append(sql.SQL("dag_id = %(dag_id)s"))
    query = sql.SQL("SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT %(limit)s").format(
        columns=_columns(LOAD_RUN_COLUMNS),
        table=LOAD_RUNS,
        where=sql.SQL(" AND ").join(conditions),
        order=RUN_ORDERS[sort],
    )
    return _fetch(db, query, {"limit": limit, "dag_id": dag_id})


def repositories_generation(db: DatabaseConnection) -> int:
    """The generation of ``github.repositories`` (see ``schema.sql``).

    :param db: warehouse connection, in autocommit.
    """
    with db.cursor() as cur:
        cur.execute(sql.SQL("SELECT generation FROM {}").format(GENERATION))
        return int(cur.fetchone()[0])


def generation_and_count(db: DatabaseConnection) -> tuple[int, int]:
    """The generation of ``github.repositories`` and :func:`~github_etl.hooks.warehouse.count_repositories`,
    read in one snapshot: the count is exactly that of the generation.

    :param db: warehouse connection, in autocommit.
    """
    return in_one_snapshot(lambda db: (repositories_generation(db), count_repositories(db)))(db)


def in_one_snapshot(work: Callable[[DatabaseConnection], T]) -> Callable[[DatabaseConnection], T]:
    """``work``, whose statements then all read one snapshot of the warehouse (a repeatable-read transaction).

    For an answer made of several statements: in autocommit each would see the loads committed before it, and
    a load committing between two of them would show half (a detail whose history names its current name).
    The transaction is ended before the wrapped call returns.
    """

    def in_snapshot(db: DatabaseConnection) -> T:
        with db.cursor() as cur:
            cur.execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            result = work(db)
        except BaseException:
            _end_transaction(db, "ROLLBACK")
            raise
        _end_transaction(db, "COMMIT")
        return result

    return in_snapshot


def _end_transaction(db: DatabaseConnection, statement: str) -> None:
    # As SQL: in autocommit mode psycopg2's commit() and rollback() do nothing, and the explicit
    # transaction would stay open, its snapshot with it.
    if not db.connection.closed:
        with db.cursor() as cur:
            cur.execute(statement)


def _filter_conditions(filters: RepositoryFilter) -> tuple[list[sql.Composable], dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if filters.language is not None:
        # The expression of repositories_language_stars_idx: any case, as GitHub's language: qualifier.
        conditions.append(sql.SQL("lower(language) = lower(%(language)s)"))
        params["language"] = filters.language
    if filters.owner is not None:
        # The expression of repositories_owner_login_idx.
        conditions.append(sql.SQL("lower(owner_login) = lower(%(owner)s)"))
        params["owner"] = filters.owner
    if filters.topic is not None:
        # @> is the operator the GIN index on topics serves.
        conditions.append(sql.SQL("topics @> ARRAY[%(topic)s]::text[]"))
        params["topic"] = filters.topic
    if filters.min_stars is not None:
        conditions.append(sql.SQL("stargazers_count >= %(min_stars)s"))
        params["min_stars"] = filters.min_stars
    if filters.archived is not None:
        conditions.append(sql.SQL("archived = %(archived)s"))
        params["archived"] = filters.archived
    return conditions, params


# The text of each list query shape rendered so far: rendering thirty quoted column names costs about
# a tenth of a millisecond of CPU, a sizeable part of a page no cache holds. At most a few hundred
# shapes (sorts x filter combinations x segments).
_LIST_QUERY_TEXT: dict[tuple[Any, ...], str] = {}


def _select_repositories(
    db: DatabaseConnection,
    shape: tuple[Any, ...],
    conditions: list[sql.Composable],
    spec: SortSpec,
    params: dict[str, Any],
    limit: int,
) -> list[Row]:
    text = _LIST_QUERY_TEXT.get(shape)
    if text is None:
        where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
        query = sql.SQL(
            "SELECT {columns} FROM {table} WHERE {where} ORDER BY {column} DESC {nulls}, id DESC LIMIT %(limit)s"
        ).format(
            columns=_columns(REPOSITORY_COLUMNS),
            table=REPOSITORIES,
            where=where,
            column=sql.Identifier(spec.column),
            nulls=sql.SQL(spec.nulls),
        )
        with db.cursor() as cur:
            text = _LIST_QUERY_TEXT[shape] = query.as_string(cur)
    return _fetch(db, text, {**params, "limit": limit})


def _columns(names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _fetch(db: DatabaseConnection, query: sql.Composable | str, params: dict[str, Any]) -> list[Row]:
    with db.cursor() as cur:
        cur.execute(query, params)
        names = [column.name for column in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
