"""The rules a repository column's value must pass to become part of a row, and how a valid value is written.

Each :class:`Rule` validates one raw value (from REST or GraphQL alike) into a Python-typed one, or
raises :class:`RejectedRecord` naming the field; the column spec (:mod:`github_etl.columns`) gives every
column one rule. Plain functions over plain values: no Airflow, no database, no network.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
# A topic and a language share one index entry (star_gain_topics_order_idx), so each may take half of that.
# GitHub's own are far shorter: topics 50 characters, languages' names about 30.
MAX_LABEL_CHARS = 300

# GitHub allows 20 topics per repository; a list far longer is a corrupt record, not data to keep.
MAX_TOPICS = 1000

# The whole topic list is stored in btree index entries too (star_gains_order_idx INCLUDEs it), and
# PostgreSQL refuses an entry over about 2.7 kB: a riser's list past that would fail the load of its
# whole day. This bounds the list's array storage (4 bytes of header and padding to 4 per topic, as
# an array holds them), leaving room for the entry's other columns; GitHub's own limits (20 topics of
# at most 50 characters) take about 1.1 kB.
MAX_TOPICS_BYTES = 2400

# RFC 3339's date-time, the form GitHub sends (T and Z in either case, a fraction of any length). Its
# shape is checked here and the ranges by datetime.fromisoformat, whose accepted forms otherwise differ
# between Python versions (3.14 also reads hour 24, as the next midnight): every supported Python then
# keeps and quarantines the same values. fromisoformat reads an offset's minutes past 59 as more hours
# (-00:99 as -01:39), so their range is checked here.
RFC3339_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-5][0-9])"
)

# GitHub opened in October 2007. A repository created before, or more than a day (clock skew between GitHub
# and this machine) after now, is a corrupt record; loaded, it would fail the run's created_at check.
GITHUB_LAUNCH = datetime(2007, 10, 1, tzinfo=UTC)
CLOCK_SKEW_SECONDS = 86400

# How much of an offending value a rejection's detail quotes: enough to recognise it, never a payload.
MAX_DETAIL_VALUE_CHARS = 80

# PostgreSQL cannot store NUL in text, so the rules drop it from every string; the COPY renderer can
# therefore use it as NULL's placeholder.
NUL = "\x00"
# The largest int a rejection or quarantine line quotes; a larger one is described by its size.
MAX_QUOTED_INT_BITS = 128


class RejectedRecord(ValueError):
    """A record that cannot become a valid row; it goes to the quarantine file instead.

    :param reason: short machine-readable code such as ``missing_field:full_name``, used to count rejections.
    :param detail: human-readable explanation, quoting at most a short prefix of the offending value.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def is_object(value: Any) -> bool:
    """Tell whether a value is a JSON object; the exact-dict test first because the ABC check is slow."""
    return type(value) is dict or isinstance(value, Mapping)


def describe(value: Any) -> str:
    """Name a value's type and quote a bounded prefix of it, for a rejection's detail."""
    if type(value) is int and value.bit_length() > MAX_QUOTED_INT_BITS:
        # Python refuses to print ints of thousands of digits; the size says enough.
        return f"int of {value.bit_length()} bits"
    text = repr(value)
    if len(text) > MAX_DETAIL_VALUE_CHARS:
        text = text[:MAX_DETAIL_VALUE_CHARS] + "..."
    return f"{type(value).__name__} {text}"


def clean_text(value: str) -> str:
    """Make a string storable in PostgreSQL: drop NUL characters and replace lone surrogates with U+FFFD.

    Lone surrogates arrive through JSON escapes such as ``"\\ud800"``; they cannot be encoded as
    UTF-8. Round-tripping through UTF-16 pairs up any valid surrogate halves and replaces the rest.
    """
    if NUL in value:
        value = value.replace(NUL, "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def required_id(value: Any, name: str) -> int:
    """Validate a GitHub numeric id destined for a bigint column; ``bool`` is not an id."""
    if value is None:
        raise RejectedRecord(f"missing_field:{name}", f"{name} is missing")
    if type(value) is not int:
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be an integer, got {describe(value)}")
    if not 1 <= value <= MAX_BIGINT:
        raise RejectedRecord(f"out_of_range:{name}", f"{name} must be in 1..{MAX_BIGINT}, got {describe(value)}")
    return value


def optional_id(value: Any, name: str) -> int | None:
    """Validate a numeric id that may be absent."""
    return None if value is None else required_id(value, name)


def required_identifier(value: Any, name: str) -> str:
    """Validate an identifier-like string that must be present and non-empty once cleaned."""
    if value is None:
        raise RejectedRecord(f"missing_field:{name}", f"{name} is missing")
    text = optional_identifier(value, name)
    if not text:
        raise RejectedRecord(f"missing_field:{name}", f"{name} is empty")
    return text


def _exact_str(value: Any, name: str) -> str:
    """Check a value is a string and return it as an exact ``str``, so no subclass method runs later."""
    if not isinstance(value, str):
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be a string, got {describe(value)}")
    return str.__str__(value)


def optional_identifier(value: Any, name: str, maximum: int = MAX_IDENTIFIER_CHARS) -> str | None:
    """Validate a short identifier-like string; longer than ``maximum`` characters means a corrupt record, so it
    is rejected."""
    if value is None:
        return None
    if type(value) is not str:
        value = _exact_str(value, name)
    # Inline fast path of clean_text: this runs a dozen times per record.
    if not value.isascii() or NUL in value:
        value = clean_text(value)
    if len(value) > maximum:
        detail = f"{name} has {len(value)} characters, more than {maximum}"
        raise RejectedRecord(f"too_long:{name}", detail)
    return value


def free_text(value: Any, name: str) -> str | None:
    """Validate free text (description, URLs); overlong text is truncated to ``MAX_FREE_TEXT_CHARS``."""
    if value is None:
        return None
    if type(value) is not str:
        value = _exact_str(value, name)
    # Truncate before cleaning so a 300 KB value costs no more than the cap; cleaning never lengthens.
    if len(value) > MAX_FREE_TEXT_CHARS:
        value = value[:MAX_FREE_TEXT_CHARS]
    if not value.isascii() or NUL in value:
        value = clean_text(value)
    return value


def count(value: Any, name: str, maximum: int) -> int:
    """Validate a non-negative count; absent or null is the schema's default of 0."""
    if value is None:
        return 0
    if type(value) is not int:
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be an integer, got {describe(value)}")
    if value < 0:
        raise RejectedRecord(f"negative:{name}", f"{name} must not be negative, got {describe(value)}")
    if value > maximum:
        raise RejectedRecord(f"out_of_range:{name}", f"{name} must be at most {maximum}, got {describe(value)}")
    return value


def flag(value: Any, name: str) -> bool:
    """Validate a boolean flag; absent or null is the schema's default of false, ``0``/``1`` are not flags."""
    if value is None:
        return False
    if type(value) is not bool:
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be a boolean, got {describe(value)}")
    return value


def timestamp(value: Any, name: str) -> datetime | None:
    """Parse an ISO-8601 timestamp with an offset into an aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        detail = f"{name} must be an ISO-8601 string, got {describe(value)}"
        raise RejectedRecord(f"wrong_type:{name}", detail)
    if NUL in value:
        # Same NUL rule as every other string; it also matters here because CPython's parser stops
        # reading at a NUL, so "…Z\x00garbage" would otherwise parse.
        value = value.replace(NUL, "")
    try:
        # A timestamp without an offset is ambiguous, so the pattern asks for one; GitHub always sends "Z".
        if not RFC3339_DATE_TIME.fullmatch(value) or value[11:13] == "24":
            raise ValueError("not an RFC 3339 date-time")
        parsed = datetime.fromisoformat(value[:-1] + "Z" if value[-1] == "z" else value)
        if parsed.tzinfo is not UTC:
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        detail = f"{name} is not an ISO-8601 timestamp with a UTC offset: {describe(value)}"
        raise RejectedRecord(f"invalid_timestamp:{name}", detail) from error
    return parsed


def creation_time(value: Any, name: str) -> datetime:
    """Parse a repository's creation time, which GitHub always sends, between its launch and tomorrow."""
    parsed = timestamp(value, name)
    if parsed is None:
        raise RejectedRecord(f"missing_field:{name}", f"{name} is missing")
    if parsed < GITHUB_LAUNCH or parsed.timestamp() > time.time() + CLOCK_SKEW_SECONDS:
        detail = (
            f"{name} must lie between GitHub's launch ({GITHUB_LAUNCH:%Y-%m-%d}) and tomorrow, got {describe(value)}"
        )
        raise RejectedRecord(f"out_of_range:{name}", detail)
    return parsed


def topics(value: Any, name: str) -> list[str]:
    """Validate a topic list, cleaning every topic and dropping repeats, in code point order.

    Topics are a set: REST lists them sorted, GraphQL's ``repositoryTopics`` need not, and an owner who removes
    and adds one back moves it. Sorted, none of these reads as a change of the repository's history.
    """
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be a list, got {describe(value)}")
    if len(value) > MAX_TOPICS:
        raise RejectedRecord(f"too_many:{name}", f"{len(value)} topics, more than {MAX_TOPICS}")
    cleaned = []
    for item in value:
        if item is None:
            raise RejectedRecord(f"wrong_type:{name}", "a topic is null")
        cleaned.append(optional_identifier(item, name, MAX_LABEL_CHARS))
    # Cleaning can make two topics equal (one had a NUL), so repeats are dropped afterwards.
    cleaned = sorted(set(cleaned)) if len(cleaned) > 1 else cleaned
    # At most 7 bytes per topic and 4 per character: the exact size is only counted when it may matter.
    if (
        7 * len(cleaned) + 4 * sum(map(len, cleaned)) > MAX_TOPICS_BYTES
        and (size := sum(4 + (len(topic.encode("utf-8")) + 3) // 4 * 4 for topic in cleaned)) > MAX_TOPICS_BYTES
    ):
        detail = f"{len(cleaned)} topics take {size} bytes stored, more than {MAX_TOPICS_BYTES}"
        raise RejectedRecord(f"too_long:{name}", detail)
    return cleaned


def parent_object(value: Any, name: str, *, required: bool) -> Mapping[str, Any] | None:
    """Validate a nested object some columns are read from (``owner``, ``license``); ``None`` when null.

    :param required: whether a record without it is rejected (``missing_field:<name>``) rather than read
        as if all its fields were null.
    """
    if value is None:
        if required:
            raise RejectedRecord(f"missing_field:{name}", f"{name} is missing")
        return None
    if not is_object(value):
        raise RejectedRecord(f"wrong_type:{name}", f"{name} must be an object, got {describe(value)}")
    return value


# --------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How one column's value is validated, stored and written to a staged row.

    :param check: ``check(raw, name)`` returns the valid Python value of a raw value (``None`` when
        absent) or raises :class:`RejectedRecord` whose reason quotes ``name``.
    :param sql_type: the column's PostgreSQL type, as ``format_type`` spells it.
    :param python_type: the type of a valid value other than ``None``; the API model's field type.
    :param nullable: whether ``check`` may return ``None`` (stored as NULL).
    :param check_arguments: constants passed to ``check`` after the name (a count's maximum).
    :param copy_text: a Python expression that renders the valid value ``{value}`` as COPY text before
        escaping, with NULL as ``NUL`` (it may use ``NUL`` and ``array_literal``). The transform compiles
        its fast path from these; tests hold it equal to the one general renderer,
        :func:`github_etl.transform.format_copy_line`.
    """

    check: Callable[[Any, str], Any]
    sql_type: str
    python_type: Any
    nullable: bool
    copy_text: str
    check_arguments: tuple[Any, ...] = ()


def non_empty_free_text(value: Any, name: str) -> str | None:
    """Free text where GitHub sends "" for "none" (a homepage): stored as NULL."""
    return free_text(value, name) or None


_AS_IS = "{value}"
_NULL_OR_AS_IS = "NUL if {value} is None else {value}"

ID = Rule(required_id, "bigint", int, nullable=False, copy_text=_AS_IS)
OPTIONAL_ID = Rule(optional_id, "bigint", int, nullable=True, copy_text=_NULL_OR_AS_IS)
IDENTIFIER = Rule(required_identifier, "text", str, nullable=False, copy_text=_AS_IS)
OPTIONAL_IDENTIFIER = Rule(optional_identifier, "text", str, nullable=True, copy_text=_NULL_OR_AS_IS)
OPTIONAL_LABEL = Rule(
    optional_identifier, "text", str, nullable=True, copy_text=_NULL_OR_AS_IS, check_arguments=(MAX_LABEL_CHARS,)
)
FREE_TEXT = Rule(free_text, "text", str, nullable=True, copy_text=_NULL_OR_AS_IS)
NON_EMPTY_FREE_TEXT = Rule(non_empty_free_text, "text", str, nullable=True, copy_text=_NULL_OR_AS_IS)
TOPICS = Rule(topics, "text[]", list[str], nullable=False, copy_text="array_literal({value})")
# A count past its column type's maximum would fail the whole COPY batch; a size in kilobytes can pass 2**31.
COUNT = Rule(count, "integer", int, nullable=False, copy_text=_AS_IS, check_arguments=(MAX_INTEGER,))
BIG_COUNT = Rule(count, "bigint", int, nullable=False, copy_text=_AS_IS, check_arguments=(MAX_BIGINT,))
FLAG = Rule(flag, "boolean", bool, nullable=False, copy_text='"t" if {value} else "f"')
CREATION_TIME = Rule(
    creation_time, "timestamp with time zone", datetime, nullable=False, copy_text="{value}.isoformat()"
)
TIMESTAMP = Rule(
    timestamp,
    "timestamp with time zone",
    datetime,
    nullable=True,
    copy_text="NUL if {value} is None else {value}.isoformat()",
)
