"""Streaming staged row and key files into PostgreSQL with COPY, in chunks of constant size.

Every path of the load reads the files the same way: whole, or only the lines a merge must parse.
Files are never read whole into memory, whatever their size.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import psycopg2
from psycopg2 import sql

from github_etl.columns import STAGED_COLUMNS
from github_etl.errors import StagedFileFormatError
from github_etl.load.statements import identifiers, template
from github_etl.selected_lines import TRANSFORM_AGAIN, LineNumbers, SelectedLines, StagedFilesMismatch
from github_etl.staging import is_disk_full, temporary_folder_full

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

log = logging.getLogger(__name__)

# Bytes handed to COPY per read: big enough that a round of Python work per chunk is negligible,
# small enough that memory stays constant whatever the file size.
COPY_CHUNK_BYTES = 1 << 20


class Openable(Protocol):
    """A path-like object that opens itself (``pathlib.Path``, Airflow's ``ObjectStoragePath``)."""

    def open(self, mode: str = ...) -> IO[Any]: ...


RowFile = IO[str] | IO[bytes] | Openable | str | os.PathLike[str]


def copy_file(
    cur: PgCursor, row_file: RowFile, table: sql.Identifier, columns: tuple[str, ...], *, freeze: bool = False
) -> int:
    """COPY one staged file into ``table``, streaming it; returns the rows copied.

    :param freeze: write the rows frozen (``COPY ... FREEZE``); the table must have been created or
        truncated in the current transaction.
    """
    try:
        with _opened(row_file) as stream:
            return _copy_stream(cur, stream, _name_of(row_file), table, columns, freeze=freeze)
    except psycopg2.Error as exc:
        _check_width(row_file, columns, exc)
        raise


def _copy_stream(
    cur: PgCursor,
    stream: IO[bytes] | SelectedLines,
    name: str,
    table: sql.Identifier,
    columns: tuple[str, ...],
    *,
    freeze: bool = False,
) -> int:
    """COPY what ``stream`` reads (COPY text rows of the staged file ``name``) into ``table``."""
    options = sql.SQL("WITH (FREEZE)") if freeze else sql.SQL("")
    statement = template("copy_staged.sql", table=table, columns=identifiers(columns), options=options).as_string(
        cur.connection
    )
    try:
        cur.copy_expert(statement, stream, size=COPY_CHUNK_BYTES)
    except psycopg2.Error as exc:
        if isinstance(stream, SelectedLines) and stream.error is not None:
            raise stream.error from exc
        # Told once, by the error Airflow logs, with the file it came from; the error stays PostgreSQL's own, whose
        # SQLSTATE decides whether the load is retried.
        exc.add_note(f"(while copying the staged file {name})")
        raise
    log.debug("Copied %s rows from %s", cur.rowcount, name)
    return cur.rowcount


def check_line_counts(files: list[RowFile], read: list[int], written: list[int] | None) -> None:
    """Refuse staged files holding other line counts than the transform wrote (a copy cut short at a line end
    reads as a smaller shard, and would load as one).

    :param read: the lines each file gave.
    :param written: the rows the transform wrote to each row file; None: not checked.
    """
    if written is None:
        return
    if len(written) != len(files):
        raise StagedFilesMismatch(f"{len(files)} staged files for {len(written)} transformed shards: {TRANSFORM_AGAIN}")
    for staged, lines, rows in zip(files, read, written, strict=True):
        if lines != rows:
            raise StagedFilesMismatch(
                f"staged file {_name_of(staged)} holds {lines:,} lines where the transform wrote {rows:,} rows: "
                f"{TRANSFORM_AGAIN}"
            )


def copy_changed_lines(cur: PgCursor, row_files: Iterable[RowFile], key_lines: list[int], table: sql.Identifier) -> int:
    """COPY the row files' lines listed in ``changed_lines`` into ``table``; returns the rows copied.

    The line numbers are spooled to a temporary file first, because the connection cannot read them
    while it feeds a COPY; they take 8 bytes or so per changed line on disk and none in memory. A row
    file with no changed line is not opened.
    """
    row_files = list(row_files)
    if len(row_files) != len(key_lines):
        raise StagedFilesMismatch(
            f"{len(key_lines)} key files staged for {len(row_files)} row files: {TRANSFORM_AGAIN}"
        )
    copied = 0
    with _changed_lines_spooled(cur) as spool:
        numbers = LineNumbers(int(line) for line in spool)
        for row_file, line_count in zip(row_files, key_lines, strict=True):
            wanted = numbers.for_file(line_count)
            first = next(wanted, None)
            if first is None:
                continue
            try:
                with _opened(row_file) as stream:
                    name = _name_of(row_file)
                    selected = SelectedLines(stream, itertools.chain([first], wanted), name)
                    copied += _copy_stream(cur, selected, name, table, STAGED_COLUMNS)
            except psycopg2.Error as exc:
                _check_width(row_file, STAGED_COLUMNS, exc)
                raise
    return copied


@contextlib.contextmanager
def _changed_lines_spooled(cur: PgCursor) -> Iterator[IO[bytes]]:
    try:
        spool = tempfile.TemporaryFile()  # noqa: SIM115 -- closed on both paths below
        try:
            cur.copy_expert(
                "COPY (SELECT line FROM changed_lines ORDER BY line) TO STDOUT", spool, size=COPY_CHUNK_BYTES
            )
            spool.seek(0)
        except BaseException:
            # Closing flushes what the full disk refused again, which would hide the error below.
            with contextlib.suppress(OSError):
                spool.close()
            raise
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise temporary_folder_full(
            exc,
            "Cannot spool the merge's changed line numbers",
            "where the load spools them (about 8 bytes a changed repository)",
            "the load's retry loads the run whole, as nothing of it was committed",
        ) from exc
    with spool:
        yield spool


def _check_width(row_file: RowFile, columns: tuple[str, ...], error: psycopg2.Error) -> None:
    """After a failed COPY: raise a clear error when the file's lines have another number of columns.

    A run transformed before an upgrade changed the columns (github_etl.columns) and loaded after it
    would otherwise fail on a value in the wrong column, a digest read as a flag or a date.
    """
    try:
        with _opened(row_file) as stream:
            if hasattr(stream, "seek"):
                stream.seek(0)
            first = stream.readline()
    except (OSError, ValueError):
        return
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    width = first.rstrip("\n").count("\t") + 1
    if not first or width == len(columns):
        return
    where = _name_of(row_file) if hasattr(row_file, "read") else row_file
    raise StagedFileFormatError(
        f"staged file {where} has {width} columns per line where this version stages {len(columns)} "
        f"(github_etl.columns): a version with other columns transformed it. Clear the run's transform tasks and "
        f"its load, to transform its staged pages again with this version"
    ) from error


def drop_duplicates(cur: PgCursor, table: sql.Identifier) -> int:
    """Keep one row per id in ``table`` (see ``dedupe_staged.sql``); returns the rows dropped."""
    cur.execute(template("dedupe_staged.sql", table=table))
    return cur.rowcount


@contextlib.contextmanager
def _opened(row_file: RowFile) -> Iterator[IO[Any]]:
    """The file object to COPY from: an open file as is, a path opened in binary (no decode/encode)."""
    if hasattr(row_file, "read"):
        yield row_file  # type: ignore[misc]
        return
    path = row_file if hasattr(row_file, "open") else Path(os.fspath(row_file))  # type: ignore[arg-type]
    with path.open("rb") as stream:  # type: ignore[union-attr]
        yield stream


def _name_of(row_file: RowFile) -> str:
    return str(getattr(row_file, "name", row_file))
