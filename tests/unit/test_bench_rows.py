"""The load benchmark's generated row files: deterministic, varied, and loadable into the real warehouse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from psycopg2 import sql

from bench.rows import (
    MAX_ROWS,
    repository_id,
    repository_records,
    repository_rows,
    write_changed_copy,
    write_row_file,
)
from github_etl.columns import REPOSITORY_COLUMNS, STAGED_COLUMNS
from github_etl.load import load_run
from github_etl.load.checks import load_quality_checks
from github_etl.settings import DAG_ID
from github_etl.transform import format_copy_line, row_hash, staged_line

# Enough rows that every rare case of the generator (pasted READMEs are 0.5 %) shows up several times.
ROWS = 3_000
LOGICAL_DATE = datetime(2025, 7, 1, tzinfo=UTC)
RUN_ID = "bench_rows_test"
_COLUMN = {name: index for index, name in enumerate(REPOSITORY_COLUMNS)}


def _descriptions(rows: list[tuple]) -> list[str]:
    return [row[_COLUMN["description"]] for row in rows if row[_COLUMN["description"]] is not None]


@pytest.fixture(scope="module")
def rows() -> list[tuple]:
    return list(repository_rows(ROWS))


def test_same_seed_writes_the_same_file_and_another_seed_does_not(tmp_path):
    first = write_row_file(tmp_path / "first.tsv", 200, seed=7)
    again = write_row_file(tmp_path / "again.tsv", 200, seed=7)
    other = write_row_file(tmp_path / "other.tsv", 200, seed=8)

    assert first.rows == 200
    assert first.bytes == (tmp_path / "first.tsv").stat().st_size
    assert first.path.read_bytes() == again.path.read_bytes()
    assert first.path.read_bytes() != other.path.read_bytes()
    assert len(first.path.read_text(encoding="utf-8").splitlines()) == 200


def test_the_head_of_a_file_does_not_depend_on_its_length():
    assert list(repository_records(50)) == list(repository_records(500))[:50]


def test_ids_are_unique_and_scattered(rows):
    ids = [row[_COLUMN["id"]] for row in rows]

    assert len(set(ids)) == len(ids)
    assert ids != sorted(ids)
    assert repository_id(MAX_ROWS - 1) not in {repository_id(index) for index in range(1_000)}


@pytest.mark.parametrize(
    ("case", "holds"),
    [
        ("NULL description", lambda rows: any(row[_COLUMN["description"]] is None for row in rows)),
        ("empty description", lambda rows: "" in _descriptions(rows)),
        ("description over 2,000 characters", lambda rows: max(map(len, _descriptions(rows))) > 2_000),
        ("emoji", lambda rows: any("🚀" in text or "👩‍💻" in text for text in _descriptions(rows))),
        ("CJK", lambda rows: any("日本語" in text or "数据库" in text for text in _descriptions(rows))),
        ("tab", lambda rows: any("\t" in text for text in _descriptions(rows))),
        ("newline", lambda rows: any("\n" in text for text in _descriptions(rows))),
        ("carriage return", lambda rows: any("\r" in text for text in _descriptions(rows))),
        ("backslash", lambda rows: any("\\" in text for text in _descriptions(rows))),
        ("no topics", lambda rows: any(row[_COLUMN["topics"]] == [] for row in rows)),
        ("20 topics", lambda rows: any(len(row[_COLUMN["topics"]]) == 20 for row in rows)),
        ("no licence", lambda rows: any(row[_COLUMN["license_spdx_id"]] is None for row in rows)),
        ("NOASSERTION licence", lambda rows: any(row[_COLUMN["license_spdx_id"]] == "NOASSERTION" for row in rows)),
        ("no language", lambda rows: any(row[_COLUMN["language"]] is None for row in rows)),
        ("never pushed", lambda rows: any(row[_COLUMN["pushed_at"]] is None for row in rows)),
        ("10,000 stars or more", lambda rows: any(row[_COLUMN["stargazers_count"]] >= 10_000 for row in rows)),
        ("archived", lambda rows: any(row[_COLUMN["archived"]] for row in rows)),
    ],
)
def test_generated_rows_cover_the_hard_cases(rows, case, holds):
    assert holds(rows), f"no generated row has: {case}"


def test_a_generated_file_copies_into_the_real_columns_and_reads_back_exactly(warehouse, rows, tmp_path):
    row_file = write_row_file(tmp_path / "rows.tsv", ROWS)
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in STAGED_COLUMNS)

    with warehouse.cursor() as cur:
        cur.execute(
            sql.SQL("CREATE TEMPORARY TABLE copied AS SELECT {} FROM github.repositories WITH NO DATA").format(columns)
        )
        with row_file.path.open("rb") as stream:
            cur.copy_expert(sql.SQL("COPY copied ({}) FROM STDIN").format(columns).as_string(cur.connection), stream)
        cur.execute(sql.SQL("SELECT {} FROM copied ORDER BY id").format(columns))
        stored = cur.fetchall()
    warehouse.rollback()

    assert [row[:-1] for row in stored] == sorted(rows)
    assert [row[-1] for row in stored] == [row_hash(format_copy_line(row)) for row in sorted(rows)]


def test_the_key_file_names_every_row_with_its_digest(tmp_path):
    row_file = write_row_file(tmp_path / "rows.tsv", 50)

    staged = [line.rstrip("\n").split("\t") for line in row_file.path.read_text(encoding="utf-8").splitlines(True)]
    keys = [line.split("\t") for line in row_file.keys_path.read_text(encoding="utf-8").splitlines()]

    assert keys == [[fields[0], fields[-1]] for fields in staged]


def test_a_generated_file_loads_into_the_warehouse_and_passes_the_quality_checks(warehouse, tmp_path):
    row_file = write_row_file(tmp_path / "rows.tsv", ROWS)

    result = load_run(
        warehouse,
        row_files=[row_file.path],
        run_id=RUN_ID,
        dag_id="github_repositories",
        logical_date=LOGICAL_DATE,
        observed_at=LOGICAL_DATE,
        mode="search",
        stats={},
    )

    assert (result.inserted, result.snapshots, result.total) == (ROWS, ROWS, ROWS)
    assert load_quality_checks(warehouse, DAG_ID, RUN_ID) == []


def test_a_changed_copy_stars_one_repository_in_n_once_more_with_digests_and_keys_to_match(tmp_path):
    original = write_row_file(tmp_path / "rows.tsv", 25)

    changed = write_changed_copy(original, tmp_path / "changed.tsv", every=10)

    stars = STAGED_COLUMNS.index("stargazers_count")
    before = [line.split("\t") for line in original.path.read_text(encoding="utf-8").splitlines()]
    after = [line.split("\t") for line in changed.path.read_text(encoding="utf-8").splitlines()]
    assert [int(b[stars]) - int(a[stars]) for a, b in zip(before, after, strict=True)] == [
        1 if number % 10 == 0 else 0 for number in range(25)
    ]
    for fields in after:
        assert staged_line("\t".join(fields[:-1]) + "\n")[1] == int(fields[-1])
    keys = [line.split("\t") for line in changed.keys_path.read_text(encoding="utf-8").splitlines()]
    assert keys == [[fields[0], fields[-1]] for fields in after]


def test_a_changed_copy_loaded_with_its_key_files_updates_the_changed_repositories_alone(warehouse, tmp_path):
    original = write_row_file(tmp_path / "rows.tsv", ROWS)
    changed = write_changed_copy(original, tmp_path / "changed.tsv", every=10)
    options = {
        "run_id": RUN_ID,
        "dag_id": "github_repositories",
        "logical_date": LOGICAL_DATE,
        "observed_at": LOGICAL_DATE,
        "mode": "search",
    }
    load_run(warehouse, row_files=[original.path], key_files=[original.keys_path], stats={}, **options)

    result = load_run(warehouse, row_files=[changed.path], key_files=[changed.keys_path], stats={}, **options)

    changed_rows = len(range(0, ROWS, 10))
    assert (result.updated, result.unchanged, result.snapshots) == (changed_rows, ROWS - changed_rows, changed_rows)


def test_the_api_benchmark_fills_a_warehouse_the_schema_accepts_with_a_days_summaries(pg_url):
    """`make bench BENCH=api` fills its warehouse outside the load: a column the schema adds must be filled there too
    (the snapshots' generation was not, and the benchmark stopped on its first insert)."""
    from bench.api_bench import _fill, _fill_snapshots
    from tests.in_process import query

    _fill(pg_url, 200)
    _fill_snapshots(pg_url, 2)

    assert query(pg_url, "SELECT count(*) FROM github.repository_snapshots") == [(400,)]
    assert query(
        pg_url,
        "SELECT count(*) FROM github.repository_snapshots AS s JOIN github.repositories AS r ON r.id = s.repo_id"
        " WHERE s.generation = r.generation",
    ) == [(400,)]
    assert query(pg_url, "SELECT count(DISTINCT snapshot_date) FROM github.language_days") == [(2,)]
