"""Turn raw GitHub repository objects into typed rows ready for COPY, quarantining what cannot be loaded.

Everything here is a pure function over plain Python values: no Airflow, no database, no network.
``repository_row`` validates and flattens one REST repository object and ``graphql_row`` one GraphQL
``Repository`` node, each column by its rule (:mod:`github_etl.columns`), so one set of rules decides
what a valid row is whichever API the record came from. ``format_copy_line`` renders a row in
PostgreSQL's COPY text format, and ``transform_records`` streams many records into a row file and a
quarantine file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from github_etl.columns import REPOSITORY_SPEC, REQUIRED_PARENTS, RepositoryColumn
from github_etl.field_rules import MAX_QUOTED_INT_BITS, NUL, RejectedRecord, describe, is_object, parent_object

logger = logging.getLogger(__name__)

# Quarantine lines keep the raw record for diagnosis, but bounded so one record cannot explode the file.
MAX_QUARANTINE_STRING_CHARS = 4 * 1024
MAX_QUARANTINE_ITEMS = 1000
MAX_QUARANTINE_DEPTH = 32
# Cut strings and lists still add up (1,000 fields of 4 Ki characters): past this a line keeps the fields
# that identify the record, whose whole is in the run's raw pages.
MAX_QUARANTINE_LINE_CHARS = 64 * 1024
_IDENTIFYING_FIELDS = ("id", "databaseId", "node_id", "full_name", "nameWithOwner", "name", "html_url", "url")

_COPY_NULL = "\\N"


@dataclass
class TransformStats:
    """What one :func:`transform_records` call did; ``seen == rows + rejected``.

    :param seen: records read from the input.
    :param rows: COPY lines written.
    :param rejected: records written to the quarantine file.
    :param reasons: rejection count per reason code.
    """

    seen: int = 0
    rows: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Rows, compiled from the column spec
# --------------------------------------------------------------------------------------------------
# The row readers and the COPY fast path are Python source made from REPOSITORY_SPEC and compiled once
# at import: straight-line code, as fast as written by hand (the stream spends most of its time in
# them), while a column is still declared in one place.


def _compile(label: str, source: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """Compile the source of one function named ``row``; its globals are ``namespace``.

    :param label: names the code in tracebacks.
    """
    code = compile(source, f"<{label}, made from github_etl.columns>", "exec")
    exec(code, namespace)  # noqa: S102 -- source made here from the column spec, never from input
    return namespace["row"]


def _value_source(read: str | Callable[..., Any], index: int, namespace: dict[str, Any], parents: list[str]) -> str:
    """Source of the expression reading one column's raw value from ``record``.

    A dotted path reads from a nested object that ``parents`` (in order of first use) names; the
    reader validates each such object once, before any column.
    """
    if callable(read):
        namespace[f"read_{index}"] = read
        return f"read_{index}(record)"
    parent, _, key = read.rpartition(".")
    if not parent:
        return f"get({key!r})"
    if "." in parent:
        raise ValueError(f"{read}: a column is read from the record or from one nested object, not deeper")
    if parent not in parents:
        parents.append(parent)
    variable = f"parent_{parents.index(parent)}"
    if parent in REQUIRED_PARENTS:
        return f"{variable}.get({key!r})"
    return f"None if {variable} is None else {variable}.get({key!r})"


def compile_row_reader(spec: Sequence[RepositoryColumn], source: str) -> Callable[[Any], tuple]:
    """Compile a function from a record to a row: every column's rule applied to its raw value.

    :param spec: the columns, in row order.
    :param source: ``rest`` to read REST repository objects (each column's ``rest`` path), ``graphql``
        for GraphQL nodes (each column's ``graphql.read``).
    """
    graphql = source == "graphql"
    what = "a GraphQL node" if graphql else "a repository"
    namespace: dict[str, Any] = {
        "RejectedRecord": RejectedRecord,
        "describe": describe,
        "is_object": is_object,
        "parent_object": parent_object,
    }
    parents: list[str] = []
    values = []
    for index, column in enumerate(spec):
        read = column.graphql.read if graphql else column.rest
        namespace[f"check_{index}"] = column.rule.check
        arguments = [_value_source(read, index, namespace, parents), repr(column.rest)]
        arguments += map(repr, column.rule.check_arguments)
        values.append(f"        check_{index}({', '.join(arguments)}),")
    parent_lines = [
        f"    parent_{index} = parent_object(get({parent!r}), {parent!r}, required={parent in REQUIRED_PARENTS})"
        for index, parent in enumerate(parents)
    ]
    lines = [
        "def row(record):",
        "    if not is_object(record):",
        f"        raise RejectedRecord('wrong_type:record', '{what} must be an object, got ' + describe(record))",
        "    get = record.get",
        *parent_lines,
        "    return (",
        *values,
        "    )",
    ]
    return _compile(f"{source}_row", "\n".join(lines), namespace)


_rest_row = compile_row_reader(REPOSITORY_SPEC, "rest")
_graphql_row = compile_row_reader(REPOSITORY_SPEC, "graphql")


def repository_row(raw: Mapping[str, Any]) -> tuple:
    """Validate one full REST repository object and flatten it into a row in ``REPOSITORY_COLUMNS`` order.

    Values are Python-typed: ``int``, ``str``, ``bool``, ``list[str]``, aware UTC ``datetime`` or ``None``.
    Unknown fields are ignored.

    :param raw: a repository object as GitHub's REST API returns it.
    :raises RejectedRecord: when the record cannot become a valid row; ``reason`` names the field.
    """
    return _rest_row(raw)


def graphql_row(node: Mapping[str, Any]) -> tuple:
    """Validate a GraphQL ``Repository`` node (``GRAPHQL_REPOSITORY_FIELDS``) into the row REST would give.

    ``graphql_row(node)`` equals ``repository_row(rest_object)`` for the same repository (see the
    spec for the one known difference). Rejection reasons name a value by its REST path
    (``wrong_type:owner.id``), a malformed nested object by its GraphQL name (``wrong_type:licenseInfo``).

    :param node: one repository node from a GraphQL answer; nulls for missing nodes are the caller's.
    :raises RejectedRecord: when the node cannot become a valid row.
    """
    return _graphql_row(node)


# --------------------------------------------------------------------------------------------------
# COPY text format
# --------------------------------------------------------------------------------------------------


def copy_escape(text: str) -> str:
    """Escape the four characters COPY's text format gives meaning to; every other character is literal."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _array_literal(items: list | tuple) -> str:
    """Render a PostgreSQL array literal, every element double-quoted so no content is read as syntax."""
    if not items:
        return "{}"
    try:
        joined = '","'.join(items)
    except TypeError:  # a non-string element, e.g. None for NULL: the general path below renders it
        joined = None
    if joined is not None and joined.count('"') == 2 * (len(items) - 1) and "\\" not in joined:
        # Common case: the only quotes are the separators', so nothing needs escaping inside them.
        return '{"' + joined + '"}'
    elements = []
    for item in items:
        if item is None:
            elements.append("NULL")
        else:
            elements.append('"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(elements) + "}"


def _copy_field(value: Any) -> str:
    """Render one value for COPY's text format."""
    if value is None:
        return _COPY_NULL
    if isinstance(value, str):
        return copy_escape(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return copy_escape(_array_literal(value))
    raise TypeError(f"no COPY text rendering for {type(value).__name__}")


def _bool_text(value: bool) -> str:
    return "t" if value else "f"


def _null_placeholder(_value: None) -> str:
    return NUL


# Unescaped text of each non-string type a row holds, keyed by exact type (bool is not int here).
# NULL renders as NUL, a character no cleaned string contains, so it can be told apart afterwards.
_PLAIN_RENDERERS: dict[type, Callable[[Any], str]] = {
    int: str,
    bool: _bool_text,
    datetime: datetime.isoformat,
    list: _array_literal,
    tuple: _array_literal,
    type(None): _null_placeholder,
}


def format_copy_line(row: tuple) -> str:
    """Render a row as one line of PostgreSQL's COPY text format, tab-separated and ending in a newline.

    Most rows contain nothing COPY would need escaped, so the row is first joined unescaped and
    checked once as a whole; only rows with a backslash, tab, newline or carriage return in a value
    (or a NUL inside a string) are rendered field by field with escaping.

    :param row: a row as :func:`repository_row` returns it; its strings are free of NUL characters,
        which PostgreSQL cannot store and which no escape can carry.
    :raises TypeError: for a value of a type a row never holds.
    """
    # Unexpected types (subclasses included) fall back to the escaping renderer; its output is still
    # checked by _escaped_line, so at worst the row takes the slow path.
    renderers = _PLAIN_RENDERERS
    plain = "\t".join(
        [value if type(value) is str else renderers.get(type(value), _copy_field)(value) for value in row]
    )
    return _escaped_line(plain, row)


def _escaped_line(plain: str, row: tuple) -> str:
    """The COPY line of ``row``, given its values joined unescaped with NULL as NUL.

    :param plain: the row's values rendered without escaping and joined by tabs; returned as the line
        when nothing in it needs escaping, else the row is rendered again field by field.
    """
    if (
        "\\" not in plain
        and "\n" not in plain
        and "\r" not in plain
        and plain.count("\t") == len(row) - 1
        and plain.count(NUL) == row.count(None)
    ):
        # Nothing needs escaping, and every NUL is a NULL placeholder.
        return (plain.replace(NUL, _COPY_NULL) if NUL in plain else plain) + "\n"
    return "\t".join([_copy_field(value) for value in row]) + "\n"


def compile_plain_text(spec: Sequence[RepositoryColumn]) -> Callable[[tuple], str]:
    """Compile a function rendering a row's values unescaped and tab-joined, NULL as NUL, in one ``%`` format.

    :param spec: the columns, in row order; each column's rule says how its value is written.
    """
    names = [f"value_{index}" for index in range(len(spec))]
    template = "\t".join(["%s"] * len(spec))
    lines = [
        "def row(values):",
        f"    ({', '.join(names)},) = values",
        f"    return {template!r} % (",
        *(f"        {column.rule.copy_text.format(value=name)}," for column, name in zip(spec, names, strict=True)),
        "    )",
    ]
    return _compile("plain_text", "\n".join(lines), {"NUL": NUL, "array_literal": _array_literal})


_plain_repository_text = compile_plain_text(REPOSITORY_SPEC)


def _repository_copy_line(row: tuple) -> str:
    """Render a row from :func:`repository_row` exactly as :func:`format_copy_line` does, about twice as fast.

    Knowing each column's rule lets one ``%`` format do the work of per-value dispatch.
    """
    return _escaped_line(_plain_repository_text(row), row)


# --------------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------------


def _bounded(value: Any, depth: int = 0) -> Any:
    """Copy a raw record for the quarantine file with long strings and lists cut and marked."""
    if isinstance(value, str):
        if len(value) > MAX_QUARANTINE_STRING_CHARS:
            cut = len(value) - MAX_QUARANTINE_STRING_CHARS
            return f"{value[:MAX_QUARANTINE_STRING_CHARS]}...[truncated {cut} characters]"
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # JSON writers refuse ints of thousands of digits; such a value is kept as its description.
        return value if value.bit_length() <= MAX_QUOTED_INT_BITS else describe(value)
    if isinstance(value, float):
        # NaN and infinities are not JSON; keep them readable instead of writing invalid JSON.
        return value if math.isfinite(value) else repr(value)
    if depth >= MAX_QUARANTINE_DEPTH:
        return "...[nested too deep]"
    if isinstance(value, Mapping):
        bounded: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index == MAX_QUARANTINE_ITEMS:
                bounded["...truncated"] = f"{len(value) - MAX_QUARANTINE_ITEMS} more keys"
                break
            bounded[_bounded(key if isinstance(key, str) else describe(key))] = _bounded(item, depth + 1)
        return bounded
    if isinstance(value, list | tuple):
        items = [_bounded(item, depth + 1) for item in value[:MAX_QUARANTINE_ITEMS]]
        if len(value) > MAX_QUARANTINE_ITEMS:
            items.append(f"...[truncated {len(value) - MAX_QUARANTINE_ITEMS} items]")
        return items
    return _bounded(repr(value), depth)


def _quarantine_line(record: Any, rejection: RejectedRecord, id_field: str = "id") -> str:
    """Render one rejected record as a JSON line; ASCII-only so lone surrogates survive as escapes.

    :param id_field: where the numeric id is: ``id`` in REST objects, ``databaseId`` in GraphQL nodes.
    """
    raw_id = record.get(id_field) if is_object(record) else None
    entry = {
        "id": raw_id if type(raw_id) is int and raw_id.bit_length() <= MAX_QUOTED_INT_BITS else None,
        "reason": rejection.reason,
        "detail": rejection.detail,
        "record": _bounded(record),
    }
    line = json.dumps(entry, ensure_ascii=True, allow_nan=False) + "\n"
    if len(line) <= MAX_QUARANTINE_LINE_CHARS:
        return line
    bounded = entry["record"] if isinstance(entry["record"], dict) else {}
    kept = {
        key: bounded[key]
        for key in _IDENTIFYING_FIELDS
        if key in bounded and (bounded[key] is None or isinstance(bounded[key], str | int | float))
    }
    kept["...truncated"] = (
        f"the record took {len(line)} characters here; only the fields that identify it are kept, and the run's "
        "raw/ pages hold it whole"
    )
    entry["record"] = kept
    return json.dumps(entry, ensure_ascii=True, allow_nan=False) + "\n"


def row_hash(copy_line: str) -> int:
    """The 64-bit digest of a COPY line (as a signed integer, PostgreSQL's bigint).

    Two lines of the same repository have the same digest exactly when their data are the same; a
    chance collision of two different lines of one repository is about one in 2**64.

    :param copy_line: a line from :func:`format_copy_line`, newline included.
    """
    digest = hashlib.blake2b(copy_line.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def staged_line(copy_line: str) -> tuple[str, int]:
    """A COPY line with its ``row_hash`` column appended (the staged row file format), and that digest.

    :param copy_line: a line from :func:`format_copy_line`, newline included.
    """
    digest = row_hash(copy_line)
    return f"{copy_line[:-1]}\t{digest}\n", digest


def transform_records(
    records: Iterable[Mapping[str, Any]],
    rows_out: TextIO,
    rejected_out: TextIO,
    *,
    source_format: str = "rest",
    keys_out: TextIO | None = None,
) -> TransformStats:
    """Stream raw repository objects into COPY lines and quarantine lines, one record at a time.

    Nothing is kept from one record to the next, so inputs of any size stream in constant memory. A
    repository that appears twice (search pages shift while stars move) is written twice: the load
    keeps one copy per id, the freshest, across every shard at once (``dedupe_staged.sql``), where a
    check here could only see one shard and would need memory for every id it had written.
    A bad record never raises: it is quarantined with its reason. Only I/O errors propagate.

    :param records: raw REST repository objects, e.g. parsed lines of a staged JSONL file.
    :param rows_out: receives one staged line per valid record: its COPY line with the
        ``row_hash`` column appended (:func:`staged_line`).
    :param rejected_out: receives one JSON line per rejected record:
        ``{"id", "reason", "detail", "record"}`` with the record's long strings truncated.
    :param source_format: ``rest`` for REST repository objects, ``graphql`` for GraphQL ``Repository``
        nodes (read with :func:`graphql_row`).
    :param keys_out: receives ``id<TAB>row_hash`` for each line written to ``rows_out``, when given.
    :return: counts of what was read, written and rejected.
    """
    stats = TransformStats()
    reasons = stats.reasons
    write_row = rows_out.write
    write_key = keys_out.write if keys_out is not None else None
    seen = rows = 0
    graphql = source_format == "graphql"
    read_row = _graphql_row if graphql else _rest_row
    id_field = "databaseId" if graphql else "id"
    for record in records:
        seen += 1
        try:
            row = read_row(record)
        except RejectedRecord as rejection:
            reasons[rejection.reason] = reasons.get(rejection.reason, 0) + 1
            rejected_out.write(_quarantine_line(record, rejection, id_field))
            continue
        line, digest = staged_line(_repository_copy_line(row))
        write_row(line)
        if write_key is not None:
            write_key(f"{row[0]}\t{digest}\n")
        rows += 1
    stats.seen, stats.rows = seen, rows
    stats.rejected = sum(reasons.values())
    logger.debug(
        "Transformed %s records: %s rows, %s rejected; rejection reasons %s",
        seen,
        rows,
        stats.rejected,
        reasons,
    )
    return stats
