"""Turn raw GitHub repository objects into typed rows ready for COPY, quarantining what cannot be loaded.

Everything here is a pure function over plain Python values: no Airflow, no database, no network.
``repository_row`` validates and flattens one REST repository object, ``format_copy_line`` renders a
row in PostgreSQL's COPY text format (see :mod:`github_etl.columns`), and ``transform_records``
streams many records into a row file and a quarantine file. GraphQL ``Repository`` nodes are first
reshaped into REST objects by ``rest_from_graphql``, so one set of rules decides what a valid row is
whichever API the record came from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from github_etl.columns import REPOSITORY_COLUMNS

logger = logging.getLogger(__name__)

# PostgreSQL's bigint and integer upper bounds: a value past them would fail the whole COPY batch.
MAX_BIGINT = 2**63 - 1
MAX_INTEGER = 2**31 - 1

# GitHub's own UI caps a description at 350 characters, so anything near 64 KiB is junk or abuse.
# Truncating (rather than rejecting) keeps the repository in the warehouse while one hostile record
# can no longer bloat a staged file, the table's TOAST storage or every API response that shows it.
MAX_FREE_TEXT_CHARS = 64 * 1024

# Identifier-like columns (logins, names, language, topics, ...) are short on GitHub (logins 39,
# names 100, topics 50 characters). Several sit in btree or GIN indexes, and PostgreSQL refuses an
# index entry over about 2.7 kB, which would fail the whole COPY batch; 600 characters of 4-byte
# UTF-8 stay under that. A longer value means a corrupt record, so it is rejected, not truncated.
MAX_IDENTIFIER_CHARS = 600

# GitHub allows 20 topics per repository; a list far longer is a corrupt record, not data to keep.
MAX_TOPICS = 1000

# Quarantine lines keep the raw record for diagnosis, but bounded so one record cannot explode the file.
MAX_QUARANTINE_STRING_CHARS = 4 * 1024
MAX_QUARANTINE_ITEMS = 1000
MAX_QUARANTINE_DEPTH = 32

# How much of an offending value a rejection's detail quotes: enough to recognise it, never a payload.
MAX_DETAIL_VALUE_CHARS = 80

_NUL = "\x00"
_MAX_QUOTED_INT_BITS = 128
_REPOSITORY_SEPARATORS = len(REPOSITORY_COLUMNS) - 1
_COPY_NULL = "\\N"


class RejectedRecord(ValueError):
    """A record that cannot become a valid row; it goes to the quarantine file instead.

    :param reason: short machine-readable code such as ``missing_field:full_name``, used to count rejections.
    :param detail: human-readable explanation, quoting at most a short prefix of the offending value.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


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
# Field rules
# --------------------------------------------------------------------------------------------------


def _is_object(value: Any) -> bool:
    """Tell whether a value is a JSON object; the exact-dict test first because the ABC check is slow."""
    return type(value) is dict or isinstance(value, Mapping)


def _describe(value: Any) -> str:
    """Name a value's type and quote a bounded prefix of it, for a rejection's detail."""
    if type(value) is int and value.bit_length() > _MAX_QUOTED_INT_BITS:
        # Python refuses to print ints of thousands of digits; the size says enough.
        return f"int of {value.bit_length()} bits"
    text = repr(value)
    if len(text) > MAX_DETAIL_VALUE_CHARS:
        text = text[:MAX_DETAIL_VALUE_CHARS] + "..."
    return f"{type(value).__name__} {text}"


def _clean_text(value: str) -> str:
    """Make a string storable in PostgreSQL: drop NUL characters and replace lone surrogates with U+FFFD.

    Lone surrogates arrive through JSON escapes such as ``"\\ud800"``; they cannot be encoded as
    UTF-8. Round-tripping through UTF-16 pairs up any valid surrogate halves and replaces the rest.
    """
    if _NUL in value:
        value = value.replace(_NUL, "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def _required_id(value: Any, name: str) -> int:
    """Validate a GitHub numeric id destined for a bigint column; ``bool`` is not an id."""
    if value is None:
        raise RejectedRecord(f"missing_field:{name}", f"{name} is missing")
    if type(value) is not int:
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be an integer, got {_describe(value)}")
    if not 1 <= value <= MAX_BIGINT:
        raise RejectedRecord(f"out_of_range:{name}", f"{name} must be in 1..{MAX_BIGINT}, got {_describe(value)}")
    return value


def _optional_id(value: Any, name: str) -> int | None:
    """Validate a numeric id that may be absent."""
    return None if value is None else _required_id(value, name)


def _required_identifier(value: Any, name: str) -> str:
    """Validate an identifier-like string that must be present and non-empty once cleaned."""
    if value is None:
        raise RejectedRecord(f"missing_field:{name}", f"{name} is missing")
    text = _optional_identifier(value, name)
    if not text:
        raise RejectedRecord(f"missing_field:{name}", f"{name} is empty")
    return text


def _exact_str(value: Any, name: str) -> str:
    """Check a value is a string and return it as an exact ``str``, so no subclass method runs later."""
    if not isinstance(value, str):
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be a string, got {_describe(value)}")
    return str.__str__(value)


def _optional_identifier(value: Any, name: str) -> str | None:
    """Validate a short identifier-like string; too long means a corrupt record, so it is rejected."""
    if value is None:
        return None
    if type(value) is not str:
        value = _exact_str(value, name)
    # Inline fast path of _clean_text: this runs a dozen times per record.
    if not value.isascii() or _NUL in value:
        value = _clean_text(value)
    if len(value) > MAX_IDENTIFIER_CHARS:
        detail = f"{name} has {len(value)} characters, more than {MAX_IDENTIFIER_CHARS}"
        raise RejectedRecord(f"too_long:{name}", detail)
    return value


def _free_text(value: Any, name: str) -> str | None:
    """Validate free text (description, URLs); overlong text is truncated to ``MAX_FREE_TEXT_CHARS``."""
    if value is None:
        return None
    if type(value) is not str:
        value = _exact_str(value, name)
    # Truncate before cleaning so a 300 KB value costs no more than the cap; cleaning never lengthens.
    if len(value) > MAX_FREE_TEXT_CHARS:
        value = value[:MAX_FREE_TEXT_CHARS]
    if not value.isascii() or _NUL in value:
        value = _clean_text(value)
    return value


def _count(value: Any, name: str, maximum: int) -> int:
    """Validate a non-negative count; absent or null is the schema's default of 0."""
    if value is None:
        return 0
    if type(value) is not int:
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be an integer, got {_describe(value)}")
    if value < 0:
        raise RejectedRecord(f"negative:{name}", f"{name} must not be negative, got {_describe(value)}")
    if value > maximum:
        raise RejectedRecord(f"out_of_range:{name}", f"{name} must be at most {maximum}, got {_describe(value)}")
    return value


def _flag(value: Any, name: str) -> bool:
    """Validate a boolean flag; absent or null is the schema's default of false, ``0``/``1`` are not flags."""
    if value is None:
        return False
    if type(value) is not bool:
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be a boolean, got {_describe(value)}")
    return value


def _timestamp(value: Any, name: str) -> datetime | None:
    """Parse an ISO-8601 timestamp with an offset into an aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        detail = f"{name} must be an ISO-8601 string, got {_describe(value)}"
        raise RejectedRecord(f"wrong_type:{name}", detail)
    if _NUL in value:
        # Same NUL rule as every other string; it also matters here because CPython's parser stops
        # reading at a NUL, so "…Z\x00garbage" would otherwise parse.
        value = value.replace(_NUL, "")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            # A timestamp without an offset is ambiguous; GitHub always sends "Z".
            raise ValueError("no UTC offset")
        if parsed.tzinfo is not UTC:
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        detail = f"{name} is not an ISO-8601 timestamp with a UTC offset: {_describe(value)}"
        raise RejectedRecord(f"invalid_timestamp:{name}", detail) from error
    return parsed


def _topics(value: Any) -> list[str]:
    """Validate the topic list, cleaning every topic and dropping repeats while keeping order."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise RejectedRecord("wrong_type:topics", f"topics must be a list, got {_describe(value)}")
    if len(value) > MAX_TOPICS:
        raise RejectedRecord("too_many:topics", f"{len(value)} topics, more than {MAX_TOPICS}")
    topics = []
    for item in value:
        if item is None:
            raise RejectedRecord("wrong_type:topics", "a topic is null")
        topics.append(_optional_identifier(item, "topics"))
    # Cleaning can make two topics equal (one had a NUL), so repeats are dropped afterwards.
    return list(dict.fromkeys(topics)) if len(topics) > 1 else topics


def _owner(value: Any) -> tuple[str, int | None, str | None]:
    """Flatten ``owner`` into (login, id, type)."""
    if value is None:
        raise RejectedRecord("missing_field:owner", "owner is missing")
    if not _is_object(value):
        raise RejectedRecord("wrong_type:owner", f"owner must be an object, got {_describe(value)}")
    return (
        _required_identifier(value.get("login"), "owner.login"),
        _optional_id(value.get("id"), "owner.id"),
        _optional_identifier(value.get("type"), "owner.type"),
    )


def _license_spdx_id(value: Any) -> str | None:
    """Flatten ``license`` into its SPDX id; ``NOASSERTION`` (an unrecognised licence) is kept as sent."""
    if value is None:
        return None
    if not _is_object(value):
        raise RejectedRecord("wrong_type:license", f"license must be an object, got {_describe(value)}")
    return _optional_identifier(value.get("spdx_id"), "license.spdx_id")


def repository_row(raw: Mapping[str, Any]) -> tuple:
    """Validate one full REST repository object and flatten it into a row in ``REPOSITORY_COLUMNS`` order.

    Values are Python-typed: ``int``, ``str``, ``bool``, ``list[str]``, aware UTC ``datetime`` or ``None``.
    Unknown fields are ignored.

    :param raw: a repository object as GitHub's REST API returns it (or as ``rest_from_graphql`` builds it).
    :raises RejectedRecord: when the record cannot become a valid row; ``reason`` names the field.
    """
    if not _is_object(raw):
        raise RejectedRecord("wrong_type:record", f"a repository must be an object, got {_describe(raw)}")
    get = raw.get
    owner_login, owner_id, owner_type = _owner(get("owner"))
    homepage = _free_text(get("homepage"), "homepage")
    return (
        _required_id(get("id"), "id"),
        _required_identifier(get("node_id"), "node_id"),
        _required_identifier(get("full_name"), "full_name"),
        _required_identifier(get("name"), "name"),
        owner_login,
        owner_id,
        owner_type,
        _free_text(get("description"), "description"),
        homepage or None,  # GitHub sends "" for "no homepage"; store that as NULL
        _free_text(get("html_url"), "html_url"),
        _optional_identifier(get("language"), "language"),
        _license_spdx_id(get("license")),
        _topics(get("topics")),
        _count(get("stargazers_count"), "stargazers_count", MAX_INTEGER),
        _count(get("forks_count"), "forks_count", MAX_INTEGER),
        _count(get("open_issues_count"), "open_issues_count", MAX_INTEGER),
        _count(get("watchers_count"), "watchers_count", MAX_INTEGER),
        _count(get("size"), "size", MAX_BIGINT),  # kilobytes, hence a bigint column
        _optional_identifier(get("default_branch"), "default_branch"),
        _flag(get("fork"), "fork"),
        _flag(get("archived"), "archived"),
        _flag(get("disabled"), "disabled"),
        _flag(get("is_template"), "is_template"),
        _optional_identifier(get("visibility"), "visibility"),
        _timestamp(get("created_at"), "created_at"),
        _timestamp(get("updated_at"), "updated_at"),
        _timestamp(get("pushed_at"), "pushed_at"),
    )


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
    return _NUL


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
    # checked below, so at worst the row takes the slow path.
    renderers = _PLAIN_RENDERERS
    plain = "\t".join(
        [value if type(value) is str else renderers.get(type(value), _copy_field)(value) for value in row]
    )
    if (
        "\\" not in plain
        and "\n" not in plain
        and "\r" not in plain
        and plain.count("\t") == len(row) - 1
        and plain.count(_NUL) == row.count(None)
    ):
        # Nothing needs escaping, and every NUL is a NULL placeholder.
        return (plain.replace(_NUL, _COPY_NULL) if _NUL in plain else plain) + "\n"
    return "\t".join([_copy_field(value) for value in row]) + "\n"


# Integer columns of a repository row, which are always ints there; every other column is rendered
# to text by _repository_copy_line before the single ``%`` format.
_INTEGER_COLUMNS = frozenset({"id", "stargazers_count", "forks_count", "open_issues_count", "watchers_count", "size"})
_REPOSITORY_LINE_TEMPLATE = "\t".join("%d" if column in _INTEGER_COLUMNS else "%s" for column in REPOSITORY_COLUMNS)


def _repository_copy_line(row: tuple) -> str:
    """Render a row from :func:`repository_row` exactly as :func:`format_copy_line` does, about twice as fast.

    Knowing each column's type lets one ``%`` format do the work of per-value dispatch; the stream
    spends most of its time here. Rows needing any escaping are handed to ``format_copy_line``.
    """
    (
        repo_id,
        node_id,
        full_name,
        name,
        owner_login,
        owner_id,
        owner_type,
        description,
        homepage,
        html_url,
        language,
        license_spdx_id,
        topics,
        stargazers_count,
        forks_count,
        open_issues_count,
        watchers_count,
        size,
        default_branch,
        fork,
        archived,
        disabled,
        is_template,
        visibility,
        created_at,
        updated_at,
        pushed_at,
    ) = row
    plain = _REPOSITORY_LINE_TEMPLATE % (
        repo_id,
        node_id,
        full_name,
        name,
        owner_login,
        _NUL if owner_id is None else owner_id,
        _NUL if owner_type is None else owner_type,
        _NUL if description is None else description,
        _NUL if homepage is None else homepage,
        _NUL if html_url is None else html_url,
        _NUL if language is None else language,
        _NUL if license_spdx_id is None else license_spdx_id,
        _array_literal(topics),
        stargazers_count,
        forks_count,
        open_issues_count,
        watchers_count,
        size,
        _NUL if default_branch is None else default_branch,
        "t" if fork else "f",
        "t" if archived else "f",
        "t" if disabled else "f",
        "t" if is_template else "f",
        _NUL if visibility is None else visibility,
        _NUL if created_at is None else created_at.isoformat(),
        _NUL if updated_at is None else updated_at.isoformat(),
        _NUL if pushed_at is None else pushed_at.isoformat(),
    )
    if (
        "\\" not in plain
        and "\n" not in plain
        and "\r" not in plain
        and plain.count("\t") == _REPOSITORY_SEPARATORS
        and plain.count(_NUL) == row.count(None)
    ):
        return (plain.replace(_NUL, _COPY_NULL) if _NUL in plain else plain) + "\n"
    return format_copy_line(row)


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
        return value if value.bit_length() <= _MAX_QUOTED_INT_BITS else _describe(value)
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
            bounded[_bounded(key if isinstance(key, str) else _describe(key))] = _bounded(item, depth + 1)
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
    raw_id = record.get(id_field) if _is_object(record) else None
    entry = {
        "id": raw_id if type(raw_id) is int and raw_id.bit_length() <= _MAX_QUOTED_INT_BITS else None,
        "reason": rejection.reason,
        "detail": rejection.detail,
        "record": _bounded(record),
    }
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
        nodes (mapped with :func:`rest_from_graphql`; a node that cannot be mapped is quarantined with
        the mapping's reason).
    :param keys_out: receives ``id<TAB>row_hash`` for each line written to ``rows_out``, when given.
    :return: counts of what was read, written and rejected.
    """
    stats = TransformStats()
    reasons = stats.reasons
    write_row = rows_out.write
    write_key = keys_out.write if keys_out is not None else None
    seen = rows = 0
    graphql = source_format == "graphql"
    for record in records:
        seen += 1
        try:
            row = repository_row(rest_from_graphql(record) if graphql else record)
        except RejectedRecord as rejection:
            reasons[rejection.reason] = reasons.get(rejection.reason, 0) + 1
            rejected_out.write(_quarantine_line(record, rejection, "databaseId" if graphql else "id"))
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


# --------------------------------------------------------------------------------------------------
# GraphQL
# --------------------------------------------------------------------------------------------------

# The selection the extractor sends for each repository, e.g.
# ``nodes(ids: $ids) { ... on Repository { <GRAPHQL_REPOSITORY_FIELDS> } }``; ``rest_from_graphql``
# reads exactly these fields, so query and mapping change together. Why the less obvious parts:
# - owner ids live on the concrete types (RepositoryOwner has no databaseId), hence the inline fragments;
# - REST's open_issues_count counts open issues *and* open pull requests, hence both totals;
# - GitHub allows 20 topics per repository; 100 (one full page) leaves room if that ever grows.
GRAPHQL_REPOSITORY_FIELDS = """\
databaseId
id
name
nameWithOwner
owner { login __typename ... on User { databaseId } ... on Organization { databaseId } }
description
homepageUrl
url
primaryLanguage { name }
licenseInfo { spdxId }
repositoryTopics(first: 100) { nodes { topic { name } } }
stargazerCount
forkCount
issues(states: OPEN) { totalCount }
pullRequests(states: OPEN) { totalCount }
diskUsage
defaultBranchRef { name }
isFork
isArchived
isDisabled
isTemplate
visibility
createdAt
updatedAt
pushedAt"""


def _graphql_object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """Return a nested GraphQL object, ``None`` when null or absent; anything else is a malformed node."""
    value = parent.get(name)
    if value is None or _is_object(value):
        return value
    raise RejectedRecord(f"wrong_type:{name}", f"GraphQL {name} must be an object, got {_describe(value)}")


def _graphql_inner(parent: Mapping[str, Any], name: str, inner: str) -> Any:
    """Return ``parent[name][inner]``, ``None`` when the object is null or absent."""
    value = _graphql_object(parent, name)
    return None if value is None else value.get(inner)


def _graphql_topics(node: Mapping[str, Any]) -> list[Any] | None:
    """Collect ``repositoryTopics.nodes[].topic.name``, skipping null entries of a partial answer."""
    connection = _graphql_object(node, "repositoryTopics")
    if connection is None:
        return None
    entries = connection.get("nodes")
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise RejectedRecord("wrong_type:repositoryTopics.nodes", f"must be a list, got {_describe(entries)}")
    names = []
    for entry in entries:
        if entry is None:
            continue
        if not _is_object(entry):
            raise RejectedRecord(
                "wrong_type:repositoryTopics.nodes", f"every entry must be an object, got {_describe(entry)}"
            )
        name = _graphql_inner(entry, "topic", "name")
        if name is not None:
            names.append(name)
    return names


def _open_issues_and_pull_requests(node: Mapping[str, Any]) -> Any:
    """Add open issues and open pull requests the way REST's ``open_issues_count`` does.

    A malformed total is passed through unchanged so ``repository_row`` rejects it by its REST name.
    """
    totals = [
        total
        for total in (
            _graphql_inner(node, "issues", "totalCount"),
            _graphql_inner(node, "pullRequests", "totalCount"),
        )
        if total is not None
    ]
    if not totals:
        return None
    for total in totals:
        if type(total) is not int:
            return total
    return sum(totals)


def rest_from_graphql(node: Mapping[str, Any]) -> dict:
    """Reshape a GraphQL ``Repository`` node (``GRAPHQL_REPOSITORY_FIELDS``) into a REST repository object.

    Only the fields the row needs are produced, so ``repository_row(rest_from_graphql(node))`` equals
    ``repository_row(rest_object)`` for the same repository. Values are passed through unvalidated:
    ``repository_row`` applies the rules. REST's ``watchers_count`` is the star count (GraphQL's
    ``watchers`` are REST's ``subscribers_count``), so both come from ``stargazerCount``. One known
    difference remains: for an empty repository REST still names the configured default branch,
    while GraphQL's ``defaultBranchRef`` is null.

    :param node: one repository node from a GraphQL answer; nulls for missing nodes are the caller's.
    :raises RejectedRecord: when the node or one of its nested objects is not an object.
    """
    if not _is_object(node):
        raise RejectedRecord("wrong_type:record", f"a GraphQL node must be an object, got {_describe(node)}")
    owner = _graphql_object(node, "owner")
    license_info = _graphql_object(node, "licenseInfo")
    visibility = node.get("visibility")
    stars = node.get("stargazerCount")
    return {
        "id": node.get("databaseId"),
        "node_id": node.get("id"),
        "name": node.get("name"),
        "full_name": node.get("nameWithOwner"),
        "owner": None
        if owner is None
        else {"login": owner.get("login"), "id": owner.get("databaseId"), "type": owner.get("__typename")},
        "description": node.get("description"),
        "homepage": node.get("homepageUrl"),
        "html_url": node.get("url"),
        "language": _graphql_inner(node, "primaryLanguage", "name"),
        "license": None if license_info is None else {"spdx_id": license_info.get("spdxId")},
        "topics": _graphql_topics(node),
        "stargazers_count": stars,
        "watchers_count": stars,
        "forks_count": node.get("forkCount"),
        "open_issues_count": _open_issues_and_pull_requests(node),
        "size": node.get("diskUsage"),
        "default_branch": _graphql_inner(node, "defaultBranchRef", "name"),
        "fork": node.get("isFork"),
        "archived": node.get("isArchived"),
        "disabled": node.get("isDisabled"),
        "is_template": node.get("isTemplate"),
        # GraphQL's enum is upper-case (PUBLIC); REST and the warehouse use lower case.
        "visibility": visibility.lower() if isinstance(visibility, str) else visibility,
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "pushed_at": node.get("pushedAt"),
    }
