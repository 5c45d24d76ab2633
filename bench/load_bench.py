"""Speed and memory of the warehouse load against PostgreSQL's own ceiling and a naive row-by-row baseline.

For each size N a realistic staged row file (:mod:`bench.rows`, the transform's own COPY text format) is
generated into a temporary folder (generation is not timed), then, each in a throwaway database:

(a) the ceiling: ``psql``'s ``\\copy`` of the file into an unindexed table with the same columns; then,
    on those rows, the primary key and indexes of ``github.repositories`` built as the first load
    builds them: (a) plus those builds is the floor of any load that leaves them in place in one
    transaction;
(b) the project's load (:func:`github_etl.load.load_run`) into the real schema: a first load
    (repositories, snapshots, keys and indexes), then a re-load of the same rows with the same logical
    date as the DAG does it (with the key files), which changes nothing, and for reference the same
    re-load from the row files alone (the merge path) and the next day's load of the same rows, a daily
    run's usual case: every repository seen again, its last_seen_at moved and a snapshot added. Each
    load runs in a child process that reports its own peak RSS, so memory is compared across sizes.
    Before the day after, the warehouse is given observations 7 and 30 days earlier (as a month of
    daily runs leaves them), so that day's load compares every trending window.
    The first load, the next day and the day after are loaded once more into another database with the
    API's day summaries left out (``github.refresh_day_summaries`` skipped): what the daily load cost
    before it kept them, measured in the same invocation; and once more with the attribute history
    (``github.repository_history``) left out, its statement skipped: what the history costs the day after;
(c) the naive baseline: what a quick script does, for the file's first rows: upsert the repository,
    then its snapshot, each row its own transaction; extrapolated to N. The same in one transaction is
    printed for reference.

The targets: first load within 1.5x of (a), re-load within 1.1x of (a), (b) at least 50x faster than
(c), peak RSS of the largest size within 1.3x of the smallest's, the next day and the day after
within 1.1x of the same loads without the day summaries, and the day after (one in ten changed) within
1.1x of the same load without the attribute history.

Usage::

    .venv/bin/python bench/load_bench.py [--sizes 20000,100000] [--repeats 3] [--json]

``GITHUB_ETL_BENCH_SIZES`` (comma-separated) replaces the default sizes, 100,000 and 1,000,000, and
``GITHUB_ETL_BENCH_REPEATS`` the default of one run per figure (the fastest run is kept);
``GITHUB_ETL_BENCH_POSTGRES_URL`` names the PostgreSQL server (default: the local one, as ``postgres``);
the role must be allowed to create databases. Figures are taken on whatever else the machine is doing:
on a shared host, repeat and read ratios rather than absolute speeds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]

from bench.memory import TARGET_MEMORY_GROWTH, own_peak_rss_kib, run_in_child  # noqa: E402
from bench.rows import DEFAULT_SEED, repository_rows, write_changed_copy, write_row_file  # noqa: E402
from github_etl import load  # noqa: E402
from github_etl.columns import SNAPSHOT_WRITTEN_COLUMNS, STAGED_COLUMNS  # noqa: E402
from github_etl.hooks.warehouse import (  # noqa: E402
    DatabaseConnection,
    apply_schema,
    ensure_snapshot_partition,
    load_sql,
)
from github_etl.load import load_run, merge  # noqa: E402
from github_etl.load.bulk import INDEX_BUILD_MEMORY  # noqa: E402
from github_etl.settings import DAG_ID  # noqa: E402
from github_etl.transform import format_copy_line, row_hash  # noqa: E402

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_URL_ENV = "GITHUB_ETL_BENCH_POSTGRES_URL"
SIZES_ENV = "GITHUB_ETL_BENCH_SIZES"
REPEATS_ENV = "GITHUB_ETL_BENCH_REPEATS"
DEFAULT_SIZES = (100_000, 1_000_000)
# The child load reads its database from the environment: a URL on a command line is visible to every
# user of the machine through ps, password included.
CHILD_DATABASE_ENV = "GITHUB_ETL_BENCH_LOAD_URL"
# Rows the naive baseline inserts: enough to average out per-statement noise, few enough to take seconds.
NAIVE_ROWS = 5_000
LOGICAL_DATE = datetime(2025, 7, 1, tzinfo=UTC)
NEXT_DAY = LOGICAL_DATE + timedelta(days=1)
# A second run of the first day, six hours later.
SAME_DAY_LATER = LOGICAL_DATE + timedelta(hours=6)
DAY_AFTER = NEXT_DAY + timedelta(days=1)
THIRD_DAY = DAY_AFTER + timedelta(days=1)
# The day after the next, one repository in this many has changed: a daily run's more usual case.
CHANGED_EVERY = 10
# The day after also finds the repositories observed this many days before it, as a daily schedule
# does once it has run for a month: every trending window is then compared, not only the one-day one.
EARLIER_WINDOWS = (7, 30)
# Of those earlier observations, one repository in this many had a star fewer than today's file says.
EARLIER_RISEN_EVERY = 5
CEILING_TABLE = "ceiling_repositories"

TARGET_FIRST_LOAD_VS_CEILING = 1.5
TARGET_RELOAD_VS_CEILING = 1.1
TARGET_SPEEDUP_OVER_NAIVE = 50.0
TARGET_SUMMARIES_COST = 1.1
TARGET_HISTORY_COST = 1.1

# libpq environment variables for the connection parameters psql may need: the server URL reaches psql
# through its environment, never its command line.
_LIBPQ_ENVIRONMENT = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
}
_PSQL_TIME = re.compile(r"^Time: ([\d.]+) ms", re.MULTILINE)


def run(sizes: Sequence[int] | None = None, dsn: str | None = None, *, repeats: int | None = None) -> dict[str, Any]:
    """Measure the load at each size and return the figures.

    :param sizes: row counts to measure; ``GITHUB_ETL_BENCH_SIZES`` or 100,000 and 1,000,000 when omitted.
    :param dsn: PostgreSQL server to create the throwaway databases on; ``GITHUB_ETL_BENCH_POSTGRES_URL``
        or the local server when omitted. The role must be allowed to create databases.
    :param repeats: measurements of each figure, the fastest kept (the peak RSS: the highest);
        ``GITHUB_ETL_BENCH_REPEATS`` or 1 when omitted. On a busy machine the fastest run is the one
        least disturbed by other work.
    :return: ``{"sizes", "runs": [per-size figures], "memory": {...}, "targets": [...]}``; each target is
        ``{"size", "name", "value", "limit", "at_most", "meets"}``.
    """
    chosen = tuple(sizes) if sizes is not None else sizes_from_environment()
    rounds = repeats if repeats is not None else int(os.environ.get(REPEATS_ENV, "").strip() or 1)
    if rounds < 1:
        raise ValueError(f"repeats must be at least 1, got {rounds}")
    server_url = dsn or os.environ.get(SERVER_URL_ENV, "").strip() or DEFAULT_SERVER_URL
    runs = []
    with tempfile.TemporaryDirectory(prefix="github-etl-load-bench-") as folder:
        for size in chosen:
            figures = _measure_size(server_url, size, Path(folder), rounds)
            runs.append(figures)
            print(_format_size(figures), flush=True)
    memory = _memory_growth(runs)
    targets = [target for figures in runs for target in figures["targets"]]
    if memory is not None:
        targets.append(memory["target"])
        print(_format_target(memory["target"]), flush=True)
    return {"sizes": list(chosen), "repeats": rounds, "runs": runs, "memory": memory, "targets": targets}


def sizes_from_environment() -> tuple[int, ...]:
    """The sizes named by ``GITHUB_ETL_BENCH_SIZES`` (e.g. ``20000,100000``), else ``DEFAULT_SIZES``."""
    configured = os.environ.get(SIZES_ENV, "").strip()
    return parse_sizes(configured) if configured else DEFAULT_SIZES


def parse_sizes(text: str) -> tuple[int, ...]:
    """Parse a comma-separated list of positive row counts; ``_`` separators are allowed.

    :param text: e.g. ``20000,100_000``.
    """
    try:
        sizes = tuple(int(part.strip().replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers, got {text!r}")
    return sizes


# -- one size -------------------------------------------------------------------------------------


def _measure_size(server_url: str, size: int, folder: Path, repeats: int) -> dict[str, Any]:
    path = folder / f"repositories-{size}.tsv"
    began = time.perf_counter()
    row_file = write_row_file(path, size, seed=DEFAULT_SEED)
    generated = time.perf_counter() - began
    changed = write_changed_copy(row_file, folder / f"repositories-{size}-changed.tsv", every=CHANGED_EVERY)
    samples: dict[str, list[dict[str, Any]]] = {}
    naive_rows = min(NAIVE_ROWS, size)
    try:
        for _ in range(repeats):
            # One run of every measurement, under the names the figures report them by.
            taken: dict[str, dict[str, Any]] = {}
            with _throwaway_database(server_url) as url:
                taken["ceiling"], taken["structures"], taken["indexed_copy"] = _ceiling(url, path)
            with _throwaway_database(server_url) as url:
                taken["first_load"] = _load_in_child(url, path, row_file.keys_path)
                taken["reload"] = _load_in_child(url, path, row_file.keys_path)
                taken["merge_reload"] = _load_in_child(url, path, None)
                # A day apart, autovacuum has analysed the rows the first load added.
                _autocommit(url, sql.SQL("ANALYZE github.repositories"))
                taken["next_day"] = _load_in_child(url, path, row_file.keys_path, NEXT_DAY)
                # A day apart, autovacuum has cleaned up after the previous day's rewrite of every row.
                _autocommit(url, sql.SQL("VACUUM (ANALYZE) github.repositories"))
                _observe_earlier(url, DAY_AFTER)
                taken["day_after"] = _load_in_child(url, changed.path, changed.keys_path, DAY_AFTER)
                _autocommit(url, sql.SQL("VACUUM (ANALYZE) github.repositories"))
                # The original file changes the same one in ten back: the same kind of day, every line parsed.
                taken["day_after_parsed"] = _load_in_child(url, path, None, THIRD_DAY)
            with _throwaway_database(server_url) as url:
                # A later run of the same day that sees the same rows: each snapshot takes its observation time.
                _load_in_child(url, path, row_file.keys_path)
                _autocommit(url, sql.SQL("VACUUM (ANALYZE) github.repositories"))
                taken["same_day"] = _load_in_child(url, path, row_file.keys_path, SAME_DAY_LATER)
            with _throwaway_database(server_url) as url:
                # The same days without the day summaries, each after the same preparation as above.
                _load_in_child(url, path, row_file.keys_path, without_summaries=True)
                _autocommit(url, sql.SQL("ANALYZE github.repositories"))
                taken["next_day_without_summaries"] = _load_in_child(
                    url, path, row_file.keys_path, NEXT_DAY, without_summaries=True
                )
                _autocommit(url, sql.SQL("VACUUM (ANALYZE) github.repositories"))
                _observe_earlier(url, DAY_AFTER)
                taken["day_after_without_summaries"] = _load_in_child(
                    url, changed.path, changed.keys_path, DAY_AFTER, without_summaries=True
                )
            with _throwaway_database(server_url) as url:
                # The same days without the attribute history, after the same preparation again.
                _load_in_child(url, path, row_file.keys_path, without_history=True)
                _autocommit(url, sql.SQL("ANALYZE github.repositories"))
                _load_in_child(url, path, row_file.keys_path, NEXT_DAY, without_history=True)
                _autocommit(url, sql.SQL("VACUUM (ANALYZE) github.repositories"))
                _observe_earlier(url, DAY_AFTER)
                taken["day_after_without_history"] = _load_in_child(
                    url, changed.path, changed.keys_path, DAY_AFTER, without_history=True
                )
            with _throwaway_database(server_url) as url:
                taken["naive"] = _naive(url, naive_rows, one_transaction=False)
            with _throwaway_database(server_url) as url:
                taken["naive_one_transaction"] = _naive(url, naive_rows, one_transaction=True)
            for name, sample in taken.items():
                samples.setdefault(name, []).append(sample)
    finally:
        for staged in (row_file, changed):
            staged.path.unlink(missing_ok=True)
            staged.keys_path.unlink(missing_ok=True)
    best = {name: _fastest(runs) for name, runs in samples.items()}
    ceiling, first, reload, naive = best["ceiling"], best["first_load"], best["reload"], best["naive"]

    for name in ("first_load", "reload", "merge_reload", "same_day", "next_day", "day_after", "day_after_parsed"):
        best[name]["rows_per_second"] = round(size / best[name]["seconds"])
        best[name]["vs_ceiling"] = round(best[name]["seconds"] / ceiling["seconds"], 2)
    for name in ("next_day", "day_after"):
        best[name]["vs_without_summaries"] = round(
            best[name]["seconds"] / best[f"{name}_without_summaries"]["seconds"], 2
        )
    without_history = best["day_after_without_history"]
    without_history["vs_ceiling"] = round(without_history["seconds"] / ceiling["seconds"], 2)
    # The ratio of the two loads' ratios to the same run's psql \copy: the seconds' ratio.
    best["day_after"]["vs_without_history"] = round(best["day_after"]["seconds"] / without_history["seconds"], 2)
    first["vs_indexed_copy"] = round(first["seconds"] / best["indexed_copy"]["seconds"], 2)
    floor = best["structures"]
    floor["floor_seconds"] = round(ceiling["seconds"] + floor["seconds"], 3)
    floor["floor_vs_ceiling"] = round(floor["floor_seconds"] / ceiling["seconds"], 2)
    first["vs_floor"] = round(first["seconds"] / floor["floor_seconds"], 2)
    for name in ("naive", "naive_one_transaction"):
        best[name]["extrapolated_seconds"] = round(size / best[name]["rows_per_second"], 1)
    speedup = round(first["rows_per_second"] / naive["rows_per_second"], 1)
    # The generated ids are distinct: no line may be reported as a duplicate.
    expected_reload = {
        "inserted": 0,
        "updated": 0,
        "unchanged": size,
        "snapshots": 0,
        "total": size,
        "duplicates": 0,
        "marked_deleted": 0,
    }
    expected_next_day = {**expected_reload, "updated": size, "unchanged": 0, "snapshots": size}
    figures = {
        "rows": size,
        "file_mib": round(row_file.bytes / 2**20, 1),
        "generation_seconds": round(generated, 1),
        **best,
        "speedup_over_naive": speedup,
        "speedup_over_naive_one_transaction": round(
            first["rows_per_second"] / best["naive_one_transaction"]["rows_per_second"], 1
        ),
        "ceiling_over_naive": round(ceiling["rows_per_second"] / naive["rows_per_second"], 1),
        "first_load_inserted_all": first["result"]["inserted"] == size and first["result"]["snapshots"] == size,
        "reload_changed_nothing": reload["result"] == expected_reload
        and best["merge_reload"]["result"] == expected_reload,
        "same_day_saw_every_row_again": best["same_day"]["result"] == {**expected_next_day, "snapshots": 0},
        "next_day_saw_every_row_again": best["next_day"]["result"] == expected_next_day,
        "day_after_saw_every_row_again": best["day_after"]["result"] == expected_next_day
        and best["day_after_parsed"]["result"] == expected_next_day,
    }
    figures["targets"] = [
        _target(size, "first load vs (a)", first["vs_ceiling"], TARGET_FIRST_LOAD_VS_CEILING, at_most=True),
        _target(size, "re-load vs (a)", reload["vs_ceiling"], TARGET_RELOAD_VS_CEILING, at_most=True),
        _target(size, "(b) speed vs (c)", speedup, TARGET_SPEEDUP_OVER_NAIVE, at_most=False),
        *(
            _target(
                size,
                f"{name.replace('_', ' ')} vs without summaries",
                best[name]["vs_without_summaries"],
                TARGET_SUMMARIES_COST,
                at_most=True,
            )
            for name in ("next_day", "day_after")
        ),
        _target(
            size,
            "day after vs without history",
            best["day_after"]["vs_without_history"],
            TARGET_HISTORY_COST,
            at_most=True,
        ),
    ]
    return figures


def _fastest(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated measurements, with every run's seconds and the highest peak RSS seen."""
    fastest = dict(min(samples, key=lambda sample: sample["seconds"]))
    fastest["all_seconds"] = [sample["seconds"] for sample in samples]
    if "peak_rss_mib" in fastest:
        fastest["peak_rss_mib"] = max(sample["peak_rss_mib"] for sample in samples)
    return fastest


def _target(size: int | None, name: str, value: float, limit: float, *, at_most: bool) -> dict[str, Any]:
    meets = value <= limit if at_most else value >= limit
    return {"size": size, "name": name, "value": value, "limit": limit, "at_most": at_most, "meets": meets}


def _memory_growth(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Peak RSS of the first load at the largest size over that at the smallest; None for a single size."""
    if len(runs) < 2:
        return None
    smallest = min(runs, key=lambda figures: figures["rows"])
    largest = max(runs, key=lambda figures: figures["rows"])
    ratio = round(largest["first_load"]["peak_rss_mib"] / smallest["first_load"]["peak_rss_mib"], 2)
    name = f"peak RSS {largest['rows']:,} / {smallest['rows']:,} rows"
    return {
        "smallest": smallest["rows"],
        "largest": largest["rows"],
        "ratio": ratio,
        "target": _target(None, name, ratio, TARGET_MEMORY_GROWTH, at_most=True),
    }


# -- (a) the ceiling ------------------------------------------------------------------------------


def _ceiling(database_url: str, path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``psql``'s ``\\copy`` of the file into an unindexed table of the same columns, then into the real one.

    Between the two, the primary key and indexes of ``github.repositories`` are built on the unindexed
    table's rows (then rolled back): (a) plus that is the floor of any load that leaves the warehouse
    indexed in one transaction, since rows cannot be written faster than (a) and indexes cannot be
    built from them faster than all at once. The indexed COPY is for information: the same COPY into
    ``github.repositories`` with its indexes kept, maintained row by row.

    :return: the unindexed COPY's figures, the structure builds' figures, the indexed COPY's figures.
    """
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in STAGED_COLUMNS)
    db = DatabaseConnection(database_url, connect_retries=0)
    try:
        apply_schema(db)
        with db.cursor() as cur:
            cur.execute(
                # With the generation too, which an index of the table is built on (null: the file has none).
                sql.SQL("CREATE TABLE {} AS SELECT {}, generation FROM github.repositories WITH NO DATA").format(
                    sql.Identifier(CEILING_TABLE), columns
                )
            )
            # The staged file has no bookkeeping columns; defaults fill them as the load's merge would, the
            # generation with one number as the load's does (not the default's function call per row).
            cur.execute(
                "ALTER TABLE github.repositories"
                " ALTER COLUMN first_seen_at SET DEFAULT %(seen_at)s,"
                " ALTER COLUMN last_seen_at SET DEFAULT %(seen_at)s,"
                " ALTER COLUMN generation SET DEFAULT 1",
                {"seen_at": LOGICAL_DATE},
            )
        db.commit()
        _checkpoint(db)
        unindexed = _psql_copy(database_url, db, sql.Identifier(CEILING_TABLE), path)
        _checkpoint(db)
        structures = _build_structures(db, CEILING_TABLE)
        _checkpoint(db)
        indexed = _psql_copy(database_url, db, sql.Identifier("github", "repositories"), path)
    finally:
        db.close()
    return unindexed, structures, indexed


def _build_structures(db: DatabaseConnection, table: str) -> dict[str, Any]:
    """Time building the primary key and indexes of ``github.repositories`` on ``table``, as the load builds them.

    The definitions are the ones the initial bulk load rebuilds (``bulk_load_structures.sql``), aimed at
    ``table`` instead, with the load's memory for index builds; everything is rolled back afterwards.

    :return: ``{"seconds", "each": {structure name: seconds}}``.
    """
    target = sql.Identifier(table).as_string(db.connection)
    each: dict[str, float] = {}
    with db.cursor() as cur:
        cur.execute(load_sql("bulk_load_structures.sql"))
        structures = [row for row in cur.fetchall() if row[2] == "repositories"]
        cur.execute("SET LOCAL maintenance_work_mem = %s", (INDEX_BUILD_MEMORY,))
        for kind, _schema, _table, name, definition in structures:
            if kind == "constraint":
                statement = f"ALTER TABLE {target} ADD {definition}"
            else:
                statement = re.sub(r" ON \S+ USING ", f" ON {target} USING ", definition, count=1)
                statement = statement.replace(f" INDEX {name} ", " INDEX ", 1)
            began = time.perf_counter()
            cur.execute(statement)
            each[name] = round(time.perf_counter() - began, 3)
    db.rollback()
    return {"seconds": round(sum(each.values()), 3), "each": each}


def _psql_copy(database_url: str, db: DatabaseConnection, table: sql.Identifier, path: Path) -> dict[str, Any]:
    """Time ``psql -c "\\copy table (columns) FROM file"``; ``db`` (the same database) counts what arrived."""
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in STAGED_COLUMNS)
    copy_text = (
        sql.SQL("\\copy {} ({}) FROM {}").format(table, columns, sql.Literal(str(path))).as_string(db.connection)
    )
    began = time.perf_counter()
    completed = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "\\timing on", "-c", copy_text],
        env=_libpq_environment(database_url),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - began
    if completed.returncode != 0:
        raise RuntimeError(f"psql \\copy failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    # psql's own timing leaves out its start-up and connection, which the load's timing leaves out too.
    timed = _PSQL_TIME.search(completed.stdout)
    seconds = float(timed.group(1)) / 1000 if timed else wall
    with db.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        rows = int(cur.fetchone()[0])
    db.rollback()
    return {"seconds": round(seconds, 3), "wall_seconds": round(wall, 3), "rows_per_second": round(rows / seconds)}


def _libpq_environment(database_url: str) -> dict[str, str]:
    params = psycopg2.extensions.parse_dsn(database_url)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    environment.update(
        {_LIBPQ_ENVIRONMENT[key]: str(value) for key, value in params.items() if key in _LIBPQ_ENVIRONMENT}
    )
    return environment


# -- (b) the project's load -----------------------------------------------------------------------


def _load_in_child(
    database_url: str,
    path: Path,
    keys_path: Path | None,
    logical_date: datetime = LOGICAL_DATE,
    *,
    without_summaries: bool = False,
    without_history: bool = False,
) -> dict[str, Any]:
    """Run one load in a fresh interpreter so its peak RSS is the load's alone.

    :param keys_path: the row file's key file, handed to the load as the DAG hands it; None loads the
        row file alone, which always takes the merge path on a warehouse that holds rows.
    :param logical_date: the run's logical date.
    :param without_summaries: skip the API's day summaries, as the load did before it kept them.
    :param without_history: skip the attribute history, as the load did before it kept it.
    """
    db = DatabaseConnection(database_url, connect_retries=0)
    try:
        apply_schema(db)
        _checkpoint(db)
    finally:
        db.close()
    arguments = ["--one-load", str(path), "--logical-date", logical_date.isoformat()]
    if keys_path is not None:
        arguments += ["--keys", str(keys_path)]
    if without_summaries:
        arguments.append("--without-summaries")
    if without_history:
        arguments.append("--without-history")
    return run_in_child("bench.load_bench", arguments, {CHILD_DATABASE_ENV: database_url})


def _time_or_skip(module: Any, name: str, *, skip: bool) -> list[float]:
    """Replace the load step ``module.name`` by one that does nothing (``skip``) or by one that times each call.

    :return: the seconds of each call, filled in as the load runs.
    """
    taken: list[float] = []
    step = getattr(module, name)

    def timed(*args: Any) -> None:
        began = time.perf_counter()
        step(*args)
        taken.append(time.perf_counter() - began)

    setattr(module, name, (lambda *args: None) if skip else timed)
    return taken


def one_load(
    path: Path,
    database_url: str,
    keys_path: Path | None = None,
    logical_date: datetime = LOGICAL_DATE,
    *,
    without_summaries: bool = False,
    without_history: bool = False,
) -> dict[str, Any]:
    """Load one file into the database as the DAG's load task does, and report time and peak memory.

    Runs in the child process started by :func:`_load_in_child`.

    :param path: staged row file.
    :param database_url: warehouse database.
    :param keys_path: its key file, or None to load the row file alone.
    :param logical_date: the run's logical date (timezone-aware).
    :param without_summaries: skip the API's day summaries (the baseline of their cost).
    :param without_history: skip the attribute history's statement (the baseline of its cost).
    :return: ``{"seconds", "result", "peak_rss_mib", "server_backend_peak_rss_mib", "phases",
        "summaries_seconds", "history_seconds"}``; the server's peak is None unless the server runs on this
        machine and its process is readable; ``summaries_seconds`` and ``history_seconds`` are the time the
        day summaries and the attribute history took within ``seconds``.
    """
    # This child process loads once and exits: replacing the steps here touches no other load.
    summaries = _time_or_skip(load, "_refresh_day_summaries", skip=without_summaries)
    history = _time_or_skip(merge, "_record_attribute_changes", skip=without_history)
    phases = _BulkPhases()
    logging.getLogger("github_etl.load").addHandler(phases)
    logging.getLogger("github_etl.load").setLevel(logging.INFO)
    db = DatabaseConnection(database_url, connect_retries=0)
    try:
        db.connect()
        began = time.perf_counter()
        result = load_run(
            db,
            row_files=[path],
            key_files=None if keys_path is None else [keys_path],
            run_id=f"scheduled__{logical_date.isoformat()}",
            dag_id=DAG_ID,
            logical_date=logical_date,
            observed_at=logical_date,
            mode="search",
            stats={"listed": 0, "enriched": 0, "skipped": 0, "rejected": 0, "api_requests": 0},
        )
        seconds = time.perf_counter() - began
        backend_peak = _server_backend_peak_kib(db)
    finally:
        db.close()
    return {
        "seconds": round(seconds, 3),
        "result": result.to_xcom(),
        "peak_rss_mib": round(own_peak_rss_kib() / 1024, 1),
        "server_backend_peak_rss_mib": None if backend_peak is None else round(backend_peak / 1024, 1),
        "phases": phases.phases,
        "summaries_seconds": round(sum(summaries), 3),
        "history_seconds": round(sum(history), 3),
    }


class _BulkPhases(logging.Handler):
    """Keeps the phase timings an initial bulk load logs (``Bulk load phases``), if it took that path."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.phases: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.phases.update(getattr(record, "phases", {}))


def _server_backend_peak_kib(db: DatabaseConnection) -> int | None:
    """Peak RSS of this session's server process (VmHWM), shared buffers it touched included.

    Staging keeps the rows in the backend's temporary buffers, so this is where the load's memory grows
    with N; readable only when the server runs on this machine and ``/proc`` lets us in.
    """
    with db.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    db.rollback()
    try:
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None  # a remote server: that pid here is somebody else's process
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


# -- (c) the naive baseline -----------------------------------------------------------------------


def _naive(database_url: str, rows: int, *, one_transaction: bool) -> dict[str, Any]:
    """What a quick script does: for each repository, upsert its row, then upsert today's snapshot.

    Two statements per repository, ``INSERT ... ON CONFLICT DO UPDATE`` each, so the script can be
    re-run like the pipeline. By default every repository is its own transaction (autocommit, the
    usual way such a script survives a bad row); ``one_transaction`` commits once at the end instead,
    which skips the per-commit WAL flush and is the most generous row-by-row baseline. Extrapolating
    linearly from the first rows is generous too: the indexes deepen as the table grows.
    """
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in STAGED_COLUMNS)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(column)) for column in (*STAGED_COLUMNS[1:], "last_seen_at")
    )
    snapshot_columns = sql.SQL(", ").join(sql.Identifier(column) for column in SNAPSHOT_WRITTEN_COLUMNS)
    snapshot_updates = sql.SQL(", ").join(
        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(column)) for column in SNAPSHOT_WRITTEN_COLUMNS
    )
    repository_statement = sql.SQL(
        "INSERT INTO github.repositories ({columns}, first_seen_at, last_seen_at) VALUES ({values}, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET {updates}"
    ).format(columns=columns, values=sql.SQL(", ").join(sql.Placeholder() * len(STAGED_COLUMNS)), updates=updates)
    snapshot_statement = sql.SQL(
        "INSERT INTO github.repository_snapshots (repo_id, snapshot_date, {snapshot_columns})"
        " VALUES (%s, %s, {values})"
        " ON CONFLICT (repo_id, snapshot_date) DO UPDATE SET {snapshot_updates}"
    ).format(
        snapshot_columns=snapshot_columns,
        values=sql.SQL(", ").join(sql.Placeholder() * len(SNAPSHOT_WRITTEN_COLUMNS)),
        snapshot_updates=snapshot_updates,
    )
    counts = [STAGED_COLUMNS.index(column) for column in SNAPSHOT_WRITTEN_COLUMNS]
    # The same rows as the head of the staged file, already typed: parsing is not what is measured.
    staged = [
        (*row, row_hash(format_copy_line(row)), LOGICAL_DATE, LOGICAL_DATE)
        for row in repository_rows(rows, seed=DEFAULT_SEED)
    ]
    snapshot_date = LOGICAL_DATE.date()
    db = DatabaseConnection(database_url, connect_retries=0)
    try:
        apply_schema(db)
        ensure_snapshot_partition(db, snapshot_date)
        _checkpoint(db)
        conn = db.connection
        conn.autocommit = not one_transaction
        repository_query = repository_statement.as_string(conn)
        snapshot_query = snapshot_statement.as_string(conn)
        began = time.perf_counter()
        with conn.cursor() as cur:
            for values in staged:
                cur.execute(repository_query, values)
                cur.execute(snapshot_query, (values[0], snapshot_date, *(values[i] for i in counts)))
        if one_transaction:
            conn.commit()
        seconds = time.perf_counter() - began
    finally:
        db.close()
    return {"rows_measured": rows, "seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)}


# -- databases ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _throwaway_database(server_url: str) -> Iterator[str]:
    name = f"github_etl_load_bench_{uuid.uuid4().hex[:12]}"
    _autocommit(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg2.extensions.make_dsn(server_url, dbname=name)
    finally:
        # FORCE ends any session a failed step left open.
        _autocommit(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _autocommit(url: str, statement: sql.Composable) -> None:
    with contextlib.closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True  # CREATE/DROP DATABASE refuse to run inside a transaction
        with conn.cursor() as cur:
            cur.execute(statement)


def _observe_earlier(url: str, day: datetime) -> None:
    """Give the warehouse observations ``EARLIER_WINDOWS`` days before ``day``, as a month of daily runs
    leaves them, so that the load of ``day`` compares every trending window.

    Written straight into the snapshots, with each date's language totals (which mark it as observed),
    from the next day's snapshots: one repository in ``EARLIER_RISEN_EVERY`` a star lower, as if it
    rose since.
    """
    with contextlib.closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cur:
        for days in EARLIER_WINDOWS:
            earlier = (day - timedelta(days=days)).date()
            cur.execute("SELECT github.ensure_snapshot_partition(%s)", (earlier,))
            cur.execute(
                """
                INSERT INTO github.repository_snapshots
                    (repo_id, snapshot_date, stargazers_count, forks_count, open_issues_count, language)
                SELECT repo_id, %(earlier)s, greatest(stargazers_count - (repo_id %% %(every)s = 0)::int, 0),
                       forks_count, open_issues_count, language
                FROM github.repository_snapshots WHERE snapshot_date = %(source)s
                """,
                {"earlier": earlier, "every": EARLIER_RISEN_EVERY, "source": NEXT_DAY.date()},
            )
            cur.execute(
                """
                INSERT INTO github.language_days (snapshot_date, language, repositories, stars)
                SELECT snapshot_date, language, count(*), sum(stargazers_count)
                FROM github.repository_snapshots WHERE snapshot_date = %s GROUP BY snapshot_date, language
                """,
                (earlier,),
            )
    _autocommit(url, sql.SQL("VACUUM (ANALYZE) github.repository_snapshots"))


def _checkpoint(db: DatabaseConnection) -> None:
    """Flush what the previous step left dirty, so no step pays for another's writes; skipped without rights."""
    conn = db.connection
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
    except psycopg2.errors.InsufficientPrivilege:
        pass
    finally:
        conn.autocommit = False


# -- report ---------------------------------------------------------------------------------------


def _format_size(figures: dict[str, Any]) -> str:
    first, reload, merge_reload = figures["first_load"], figures["reload"], figures["merge_reload"]
    next_day, day_after, day_after_parsed = figures["next_day"], figures["day_after"], figures["day_after_parsed"]
    naive, naive_one = figures["naive"], figures["naive_one_transaction"]
    ceiling, indexed, floor = figures["ceiling"], figures["indexed_copy"], figures["structures"]
    lines = [
        f"N = {figures['rows']:,} rows  (file {figures['file_mib']} MiB, generated in "
        f"{figures['generation_seconds']} s, not counted; {_runs(figures['ceiling'])} on a shared machine)",
        _row("(a) ceiling: psql \\copy, unindexed table", ceiling["seconds"], ceiling["rows_per_second"]),
        _row(
            "    floor: (a), then the table's key and indexes built",
            floor["floor_seconds"],
            round(figures["rows"] / floor["floor_seconds"]),
            f"{floor['floor_vs_ceiling']:.2f}x (a)  builds {floor['seconds']:.2f} s: no one-transaction load"
            " that leaves them in place is faster",
        ),
        _row(
            "    info: psql \\copy into the real table",
            indexed["seconds"],
            indexed["rows_per_second"],
            f"indexes kept; first load = {first['vs_indexed_copy']:.2f}x this",
        ),
        _row(
            "(b) first load, snapshots and indexes included",
            first["seconds"],
            first["rows_per_second"],
            f"{first['vs_ceiling']:.2f}x (a), {first['vs_floor']:.2f}x the floor  peak RSS {first['peak_rss_mib']} MiB"
            f"{_backend(first)}",
        ),
        f"      of which index and constraint builds {_phase_seconds(first, 'indexes_and_constraints')}, "
        f"COPY {_phase_seconds(first, 'copy')}, primary key and snapshots "
        f"{_phase_seconds(first, 'keys_and_snapshots')}",
        _row(
            "    re-load, same rows and date (key files)",
            reload["seconds"],
            reload["rows_per_second"],
            f"{reload['vs_ceiling']:.2f}x (a)  peak RSS {reload['peak_rss_mib']} MiB{_backend(reload)}",
        ),
        _row(
            "    info: the same re-load through the merge",
            merge_reload["seconds"],
            merge_reload["rows_per_second"],
            f"{merge_reload['vs_ceiling']:.2f}x (a)  row files only, every row parsed and compared",
        ),
        _row(
            "    info: a later run of the same day, same rows",
            figures["same_day"]["seconds"],
            figures["same_day"]["rows_per_second"],
            f"{figures['same_day']['vs_ceiling']:.2f}x (a)  last_seen_at and each snapshot's observed_at moved",
        ),
        _row(
            "    info: next day, every repository seen again",
            next_day["seconds"],
            next_day["rows_per_second"],
            f"{next_day['vs_ceiling']:.2f}x (a)  last_seen_at moved, a snapshot added, for every row",
        ),
        _row(
            "    info: next day without the day summaries",
            figures["next_day_without_summaries"]["seconds"],
            round(figures["rows"] / figures["next_day_without_summaries"]["seconds"]),
            f"with them {next_day['vs_without_summaries']:.2f}x this; building them took"
            f" {next_day['summaries_seconds']:.2f} s of the {next_day['seconds']:.2f} s",
        ),
        _row(
            f"    info: the day after, 1 in {CHANGED_EVERY} changed, the 1-, 7- and 30-day windows compared",
            day_after["seconds"],
            day_after["rows_per_second"],
            f"{day_after['vs_ceiling']:.2f}x (a)  vacuumed before; key files: the changed lines alone parsed",
        ),
        _row(
            "    info: the day after without the day summaries",
            figures["day_after_without_summaries"]["seconds"],
            round(figures["rows"] / figures["day_after_without_summaries"]["seconds"]),
            f"with them {day_after['vs_without_summaries']:.2f}x this; building them took"
            f" {day_after['summaries_seconds']:.2f} s of the {day_after['seconds']:.2f} s",
        ),
        _row(
            "    info: the day after without the attribute history",
            figures["day_after_without_history"]["seconds"],
            round(figures["rows"] / figures["day_after_without_history"]["seconds"]),
            f"{figures['day_after_without_history']['vs_ceiling']:.2f}x (a); with it"
            f" {day_after['vs_without_history']:.2f}x this; its statement took"
            f" {day_after['history_seconds']:.3f} s of the {day_after['seconds']:.2f} s",
        ),
        _row(
            "    info: the same kind of day, row files alone",
            day_after_parsed["seconds"],
            day_after_parsed["rows_per_second"],
            f"{day_after_parsed['vs_ceiling']:.2f}x (a)  vacuumed before; every line parsed and compared",
        ),
        _row(
            f"(c) naive: 2 upserts per row, autocommit, {naive['rows_measured']:,} rows extrapolated",
            naive["extrapolated_seconds"],
            naive["rows_per_second"],
            f"measured {naive['seconds']} s; (a) is {figures['ceiling_over_naive']}x this",
        ),
        _row(
            "    info: the same in one transaction",
            naive_one["extrapolated_seconds"],
            naive_one["rows_per_second"],
            f"measured {naive_one['seconds']} s; (b) is {figures['speedup_over_naive_one_transaction']}x this",
        ),
        f"  first load inserted every row and snapshot: {_yes(figures['first_load_inserted_all'])}; "
        f"re-loads changed nothing: {_yes(figures['reload_changed_nothing'])}; "
        f"the same day, next day and the day after saw every row again: "
        f"{_yes(all(figures[f'{day}_saw_every_row_again'] for day in ('same_day', 'next_day', 'day_after')))}",
    ]
    lines.extend(f"  {_format_target(target)}" for target in figures["targets"])
    if floor["floor_vs_ceiling"] > TARGET_FIRST_LOAD_VS_CEILING:
        lines.append(
            f"  the first-load target ({TARGET_FIRST_LOAD_VS_CEILING}x (a)) is below this run's floor "
            f"({floor['floor_vs_ceiling']:.2f}x): building the indexes alone takes longer than it leaves"
        )
    return "\n".join(lines)


def _phase_seconds(load: dict[str, Any], name: str) -> str:
    seconds = load.get("phases", {}).get(name)
    return "?" if seconds is None else f"{seconds:.2f} s"


def _row(label: str, seconds: float, rows_per_second: int, note: str = "") -> str:
    return f"  {label:<58} {seconds:9.2f} s {rows_per_second:>10,} rows/s  {note}".rstrip()


def _runs(figures: dict[str, Any]) -> str:
    count = len(figures["all_seconds"])
    return "one run each" if count == 1 else f"fastest of {count} runs each"


def _backend(load: dict[str, Any]) -> str:
    peak = load["server_backend_peak_rss_mib"]
    return "" if peak is None else f" (server backend {peak} MiB)"


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _format_target(target: dict[str, Any]) -> str:
    relation = "<=" if target["at_most"] else ">="
    verdict = "meets" if target["meets"] else "misses"
    return f"{target['name']:<46} {target['value']:9.2f}x  (target {relation} {target['limit']}x)  {verdict}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, help="comma-separated row counts, e.g. 20000,100000")
    parser.add_argument("--repeats", type=int, help="runs of each measurement, the fastest kept (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    parser.add_argument("--one-load", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--logical-date", type=datetime.fromisoformat, default=LOGICAL_DATE, help=argparse.SUPPRESS)
    parser.add_argument("--without-summaries", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--without-history", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_load is not None:
        figures = one_load(
            args.one_load,
            os.environ[CHILD_DATABASE_ENV],
            args.keys,
            args.logical_date,
            without_summaries=args.without_summaries,
            without_history=args.without_history,
        )
        print(json.dumps(figures))
        return
    figures = run(args.sizes, repeats=args.repeats)
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
