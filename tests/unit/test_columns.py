"""The column spec is the one declaration of a repository's columns: every consumer lists exactly its columns.

A new column is one entry in ``REPOSITORY_SPEC`` (and its line in ``schema.sql``, held equal here against
a real PostgreSQL); these tests fail when a consumer keeps a list of its own.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from psycopg2 import sql

from bench.rows import repository_records
from github_etl.api.models import AttributeVersion, Repository, Snapshot, repository_columns_model
from github_etl.api.queries import REPOSITORY_COLUMNS as API_REPOSITORY_COLUMNS
from github_etl.columns import (
    BOOKKEEPING_DESCRIPTIONS,
    GRAPHQL_REPOSITORY_FIELDS,
    HISTORY_COLUMNS,
    REPOSITORY_COLUMNS,
    REPOSITORY_SPEC,
    ROW_HASH_COLUMN,
    SNAPSHOT_COLUMNS,
    SNAPSHOT_WRITTEN_COLUMNS,
    STAGED_COLUMNS,
    RepositoryColumn,
    column_descriptions,
    graphql,
    graphql_selection,
)
from github_etl.field_rules import BIG_COUNT, COUNT, FREE_TEXT
from github_etl.transform import (
    compile_plain_text,
    compile_row_reader,
    format_copy_line,
    graphql_row,
    repository_row,
    staged_line,
    transform_records,
)

SPEC = {column.name: column for column in REPOSITORY_SPEC}

# A column GitHub serves that the warehouse does not keep (yet): added to the spec, and nowhere else.
MIRROR_URL = RepositoryColumn(
    "mirror_url", FREE_TEXT, "mirror_url", graphql("mirrorUrl"), "The URL of the repository it mirrors."
)
# A count GitHub serves that the warehouse does not keep (yet).
SUBSCRIBERS_COUNT = RepositoryColumn(
    "subscribers_count",
    COUNT,
    "subscribers_count",
    graphql("watchers { totalCount }", read="watchers.totalCount"),
    "People watching the repository.",
)
CREATED = "2020-02-02T02:02:02Z"
REST_RECORD = {
    "id": 1,
    "node_id": "R_1",
    "full_name": "o/r",
    "name": "r",
    "owner": {"login": "o"},
    "created_at": CREATED,
}
GRAPHQL_NODE = {"databaseId": 1, "id": "R_1", "nameWithOwner": "o/r", "name": "r", "owner": {"login": "o"}} | {
    "createdAt": CREATED
}


def _api_type(column: RepositoryColumn) -> Any:
    return column.rule.python_type | None if column.nullable else column.rule.python_type


def _table_columns(warehouse: Any, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, NOT NULL) of each column of a table, in order, as PostgreSQL itself describes them."""
    with warehouse.cursor() as cur:
        cur.execute(
            "SELECT column_name, format_type(attribute.atttypid, attribute.atttypmod), is_nullable = 'NO'"
            " FROM information_schema.columns AS col"
            " JOIN pg_attribute AS attribute"
            "   ON attribute.attrelid = format('%%I.%%I', col.table_schema, col.table_name)::regclass"
            "  AND attribute.attname = col.column_name"
            " WHERE col.table_schema = 'github' AND col.table_name = %s ORDER BY col.ordinal_position",
            (table,),
        )
        return [(str(name), str(sql_type), bool(not_null)) for name, sql_type, not_null in cur.fetchall()]


def _spec_columns(names: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    return [(name, SPEC[name].sql_type, not SPEC[name].nullable) for name in names]


# -- every consumer, against the spec ---------------------------------------------------------------


def test_schema_declares_each_spec_column_in_order_with_its_type(warehouse: Any) -> None:
    columns = _table_columns(warehouse, "repositories")

    assert columns[: len(REPOSITORY_SPEC)] == _spec_columns(REPOSITORY_COLUMNS)
    assert ROW_HASH_COLUMN in [name for name, _, _ in columns]


def test_history_and_snapshot_tables_type_their_columns_as_the_spec(warehouse: Any) -> None:
    # The spec's columns close each table but for its bookkeeping: the generation
    # (docs/history.md#reading-changes-incrementally) and a snapshot's observation time.
    bookkeeping = {"generation", "observed_at"}
    history = [column for column in _table_columns(warehouse, "repository_history") if column[0] not in bookkeeping]
    snapshots = [column for column in _table_columns(warehouse, "repository_snapshots") if column[0] not in bookkeeping]

    assert history[-len(HISTORY_COLUMNS) :] == _spec_columns(HISTORY_COLUMNS)
    assert snapshots[-len(SNAPSHOT_WRITTEN_COLUMNS) :] == _spec_columns(SNAPSHOT_WRITTEN_COLUMNS)


def test_rows_and_staged_files_hold_the_spec_columns_in_order() -> None:
    record = next(repository_records(1))

    assert len(repository_row(record)) == len(REPOSITORY_SPEC)
    assert (*REPOSITORY_COLUMNS, ROW_HASH_COLUMN) == STAGED_COLUMNS
    assert format_copy_line(repository_row(record)).count("\t") == len(REPOSITORY_SPEC) - 1


def test_graphql_query_selects_what_each_column_reads() -> None:
    selected = GRAPHQL_REPOSITORY_FIELDS.splitlines()

    for column in REPOSITORY_SPEC:
        assert set(column.graphql.selections) <= set(selected), column.name
    assert len(selected) == len(set(selected))


def test_api_repository_model_has_the_spec_columns_typed_by_their_rules() -> None:
    fields = list(Repository.model_fields.items())[: len(REPOSITORY_SPEC)]

    assert [name for name, _ in fields] == list(REPOSITORY_COLUMNS)
    assert [info.annotation for _, info in fields] == [_api_type(column) for column in REPOSITORY_SPEC]
    assert all(info.is_required() for _, info in fields)
    assert API_REPOSITORY_COLUMNS[: len(REPOSITORY_SPEC)] == REPOSITORY_COLUMNS


@pytest.mark.parametrize(
    ("model", "columns"),
    [(AttributeVersion, HISTORY_COLUMNS), (Snapshot, SNAPSHOT_COLUMNS)],
    ids=["history", "snapshot"],
)
def test_api_models_of_tracked_columns_type_them_as_the_spec(model: Any, columns: tuple[str, ...]) -> None:
    fields = list(model.model_fields.items())[-len(columns) :]

    assert [name for name, _ in fields] == list(columns)
    assert [info.annotation for _, info in fields] == [_api_type(SPEC[name]) for name in columns]


def test_every_field_of_the_api_repository_has_the_description_of_its_column() -> None:
    properties = Repository.model_json_schema()["properties"]

    assert {name: properties[name].get("description") for name in REPOSITORY_COLUMNS} == {
        column.name: column.description for column in REPOSITORY_SPEC
    }
    assert all(properties[name].get("description") for name in properties)


def _comments(warehouse: Any) -> dict[tuple[str, str | None], str | None]:
    """The comment of each table of the schema github (its partitions aside) and of each of its columns."""
    with warehouse.cursor() as cur:
        cur.execute(
            "SELECT relation.relname, NULL, obj_description(relation.oid, 'pg_class')"
            " FROM pg_class AS relation"
            " WHERE relation.relnamespace = 'github'::regnamespace AND relation.relkind IN ('r', 'p')"
            "   AND NOT relation.relispartition"
            " UNION ALL"
            " SELECT relation.relname, attribute.attname, col_description(relation.oid, attribute.attnum)"
            " FROM pg_class AS relation"
            " JOIN pg_attribute AS attribute ON attribute.attrelid = relation.oid"
            " WHERE relation.relnamespace = 'github'::regnamespace AND relation.relkind IN ('r', 'p')"
            "   AND NOT relation.relispartition AND attribute.attnum > 0 AND NOT attribute.attisdropped"
        )
        return {(table, column): comment for table, column, comment in cur.fetchall()}


def test_the_warehouse_describes_every_table_and_column_and_the_spec_columns_as_the_spec(warehouse: Any) -> None:
    """What psql's \\d+ and SQL clients show an analyst: no table or column left without its meaning."""
    comments = _comments(warehouse)

    assert [place for place, comment in comments.items() if not comment] == []
    repositories = {column: comment for (table, column), comment in comments.items() if table == "repositories"}
    assert repositories == {
        None: repositories[None],
        **{column.name: column.description for column in REPOSITORY_SPEC},
        **BOOKKEEPING_DESCRIPTIONS,
    }
    assert comments[("repository_history", "full_name")].endswith(SPEC["full_name"].description)
    assert comments[("repository_snapshots", "stargazers_count")].endswith(SPEC["stargazers_count"].description)


def test_a_description_changed_in_the_spec_reaches_the_warehouse_on_the_next_run(
    warehouse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from github_etl.hooks import warehouse as warehouse_module

    described = column_descriptions()
    described["repositories"]["size"] = "Size in kibibytes."
    monkeypatch.setattr(warehouse_module, "column_descriptions", lambda: described)

    warehouse_module.apply_schema(warehouse)

    assert _comments(warehouse)[("repositories", "size")] == "Size in kibibytes."


def _negative_counts(warehouse: Any, statement: Any, repositories: list[dict[str, int]]) -> tuple[int, list[int]]:
    """Failing rows and ids of the negative-count check over ``repositories`` (id and the values to store)."""
    seen = "2026-11-01T00:00:00Z"
    with warehouse.cursor() as cur:
        cur.execute(
            "INSERT INTO github.load_runs (run_id, dag_id, logical_date, observed_at, mode, started_at, finished_at)"
            " VALUES ('run-1', 'github_repositories', %(seen)s, %(seen)s, 'sample', %(seen)s, %(seen)s)",
            {"seen": seen},
        )
        for values in repositories:
            cur.execute(
                sql.SQL(
                    "INSERT INTO github.repositories (node_id, full_name, name, owner_login, created_at, first_seen_at,"
                    " last_seen_at, {columns}) VALUES ('R', 'o/r', 'r', 'o', %(seen)s, %(seen)s, %(seen)s, {values})"
                ).format(
                    columns=sql.SQL(", ").join(map(sql.Identifier, values)),
                    values=sql.SQL(", ").join(map(sql.Placeholder, values)),
                ),
                {**values, "seen": seen},
            )
        # Every row written here is the run's: the check covers all generations.
        cur.execute(statement, {"run_id": "run-1", "after_generation": 0, "upto_generation": 2**62, "sample_size": 20})
        found = cur.fetchone()
    warehouse.rollback()
    return (0, []) if found is None else (found[0], found[1])


def test_negative_count_check_covers_every_count_column(warehouse: Any) -> None:
    from github_etl.load.checks import counts_not_negative_check

    counts = [column.name for column in REPOSITORY_SPEC if column.rule in (COUNT, BIG_COUNT)]
    repositories = [{"id": number, name: -1} for number, name in enumerate(counts, start=1)]

    assert _negative_counts(warehouse, counts_not_negative_check(), repositories) == (
        len(counts),
        list(range(1, len(counts) + 1)),
    )


def test_a_count_column_added_to_the_spec_is_held_not_negative(warehouse: Any) -> None:
    from github_etl.columns import count_columns
    from github_etl.load.checks import counts_not_negative_check

    spec = (*REPOSITORY_SPEC, SUBSCRIBERS_COUNT)
    with warehouse.cursor() as cur:
        cur.execute(
            "ALTER TABLE github.repositories ADD COLUMN IF NOT EXISTS subscribers_count integer NOT NULL DEFAULT 0"
        )
    warehouse.commit()

    statement = counts_not_negative_check(count_columns(spec))

    assert _negative_counts(warehouse, statement, [{"id": 7, "subscribers_count": -1}, {"id": 8}]) == (1, [7])


def test_compiled_copy_fast_path_renders_as_the_one_renderer() -> None:
    records = list(repository_records(3_000))
    rows_out = io.StringIO()

    transform_records(records, rows_out, io.StringIO())

    assert rows_out.getvalue() == "".join(staged_line(format_copy_line(repository_row(r)))[0] for r in records)


# -- a new column is one edit -----------------------------------------------------------------------


def test_a_column_added_to_the_spec_reaches_readers_renderer_query_and_model() -> None:
    spec = (*REPOSITORY_SPEC, MIRROR_URL)

    rest_row = compile_row_reader(spec, "rest")({**REST_RECORD, "mirror_url": "git://m/r"})
    node_row = compile_row_reader(spec, "graphql")({**GRAPHQL_NODE, "mirrorUrl": "git://m/r"})
    plain = compile_plain_text(spec)(rest_row)
    model = repository_columns_model(spec)

    assert rest_row == node_row
    assert rest_row[:-1] == repository_row(REST_RECORD) == graphql_row(GRAPHQL_NODE)
    assert rest_row[-1] == "git://m/r"
    assert plain.split("\t")[-1] == "git://m/r"
    assert f"{plain}\n".replace("\x00", "\\N") == format_copy_line(rest_row)
    assert graphql_selection(spec).splitlines()[-1] == "mirrorUrl"
    assert list(model.model_fields)[-1] == "mirror_url"
    assert model.model_fields["mirror_url"].annotation == str | None
