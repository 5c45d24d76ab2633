"""Parse GitHub repository search syntax (``q=``) into a :class:`SearchQuery`.

Supported qualifiers: ``created:``, ``pushed:`` (dates ``YYYY-MM-DD`` or ISO-8601 date-times, with
``A..B``, ``A..*``, ``*..B``, ``>A``, ``>=A``, ``<B``, ``<=B`` or a single date), ``stars:`` and
``forks:`` (numbers, same forms), ``language:``, ``user:``, ``org:``, ``topic:``,
``fork:true|false|only``, ``archived:true|false``, ``is:public|private``, ``sort:stars-desc`` (the
GraphQL way to sort) and ``in:`` (accepted, ignored). Everything else is a word (or a
``"quoted phrase"``) matched case-insensitively against name and description. Unknown
``key:value`` tokens are words too, as on GitHub.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

SECONDS_PER_DAY = 86_400
UNBOUNDED = (-(2**62), 2**62)
FORK_EXCLUDED = "exclude"  # GitHub's default: forks are not search results
FORK_INCLUDED = "include"
FORK_ONLY = "only"
_FORK_MODES = {"false": FORK_EXCLUDED, "true": FORK_INCLUDED, "only": FORK_ONLY}
# Spellings GitHub accepts for languages whose names are awkward in a query.
_LANGUAGE_ALIASES = {"cpp": "c++", "csharp": "c#", "js": "javascript", "ts": "typescript", "golang": "go"}
# A token is a run of non-space characters in which "double-quoted parts" may contain spaces.
_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')
_RANGE = re.compile(r"^(?P<low>[^.]+)\.\.(?P<high>[^.]+)$")
_COMPARISON = re.compile(r"^(?P<op>>=|<=|>|<)(?P<value>.+)$")


class SearchSyntaxError(ValueError):
    """A query GitHub would answer with 422 Validation Failed."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SearchQuery:
    """A parsed repository search; every bound is inclusive, in epoch seconds or counts."""

    terms: list[str] = field(default_factory=list)
    created: tuple[int, int] | None = None
    pushed: tuple[int, int] | None = None
    stars: tuple[int, int] | None = None
    forks: tuple[int, int] | None = None
    languages: set[str] = field(default_factory=set)
    users: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    fork: str = FORK_EXCLUDED
    archived: bool | None = None
    private_only: bool = False
    public_only: bool = False
    sort: str | None = None  # from a ``sort:stars-desc`` qualifier (how GraphQL search sorts)
    order: str | None = None

    def needs_details(self) -> bool:
        """Whether matching needs more than creation date, fork flag and availability."""
        return bool(
            self.terms
            or self.pushed
            or self.stars
            or self.forks
            or self.languages
            or self.topics
            or self.archived is not None
        )

    def cache_key(self) -> str:
        """A canonical text of the query, for result caching."""
        return repr(self)


def parse_query(text: str) -> SearchQuery:
    """Parse ``q``; raise :class:`SearchSyntaxError` for what GitHub rejects with 422."""
    if not text or not text.strip():
        raise SearchSyntaxError("q is missing", code="missing")
    if text.count('"') % 2:
        raise SearchSyntaxError("q has an unbalanced double quote")
    query = SearchQuery()
    for token in _TOKEN.findall(text):
        key, colon, value = token.partition(":")
        value = value.replace('"', "")
        if '"' in key or not colon or not value or not _apply_qualifier(query, key.lower(), value):
            word = token.replace('"', "").strip().lower()
            if word:
                query.terms.append(word)
    return query


def _apply_qualifier(query: SearchQuery, key: str, value: str) -> bool:
    """Apply one qualifier; False means "not a qualifier", so the token is a word."""
    lowered = value.lower()
    if key == "created":
        query.created = _intersect(query.created, _date_range(value))
    elif key == "pushed":
        query.pushed = _intersect(query.pushed, _date_range(value))
    elif key == "stars":
        query.stars = _intersect(query.stars, _number_range(value))
    elif key == "forks":
        query.forks = _intersect(query.forks, _number_range(value))
    elif key == "language":
        query.languages.add(_LANGUAGE_ALIASES.get(lowered, lowered))
    elif key == "user":
        query.users.append(value)
    elif key == "org":
        query.orgs.append(value)
    elif key == "topic":
        query.topics.append(lowered)
    elif key == "fork":
        if lowered not in _FORK_MODES:
            raise SearchSyntaxError(f"fork:{value} is not one of true, false, only")
        query.fork = _FORK_MODES[lowered]
    elif key == "archived":
        if lowered not in ("true", "false"):
            raise SearchSyntaxError(f"archived:{value} is not true or false")
        query.archived = lowered == "true"
    elif key == "sort":
        field_name, _, direction = lowered.partition("-")
        query.sort = field_name
        query.order = direction or "desc"
    elif key == "is":
        if lowered == "private":
            query.private_only = True
        elif lowered == "public":
            query.public_only = True
        else:
            return False
    elif key != "in":
        return False
    return True


def _intersect(current: tuple[int, int] | None, new: tuple[int, int]) -> tuple[int, int]:
    if current is None:
        return new
    return max(current[0], new[0]), min(current[1], new[1])


def _number_range(value: str) -> tuple[int, int]:
    return _parse_range(value, _number_bounds, "number")


def _date_range(value: str) -> tuple[int, int]:
    return _parse_range(value, _date_bounds, "date")


def _parse_range(value: str, bounds: Callable[[str], tuple[int, int]], what: str) -> tuple[int, int]:
    """Parse ``A..B``, ``A..*``, ``*..B``, ``>A``, ``>=A``, ``<B``, ``<=B`` or ``A`` with ``bounds``."""
    try:
        match = _RANGE.match(value)
        if match:
            low, high = match["low"], match["high"]
            return (
                UNBOUNDED[0] if low == "*" else bounds(low)[0],
                UNBOUNDED[1] if high == "*" else bounds(high)[1],
            )
        match = _COMPARISON.match(value)
        if match:
            first, last = bounds(match["value"])
            return {
                ">": (last + 1, UNBOUNDED[1]),
                ">=": (first, UNBOUNDED[1]),
                "<": (UNBOUNDED[0], first - 1),
                "<=": (UNBOUNDED[0], last),
            }[match["op"]]
        return bounds(value)
    except ValueError as error:
        raise SearchSyntaxError(f"{value!r} is not a valid {what} or {what} range") from error


def _number_bounds(text: str) -> tuple[int, int]:
    number = int(text)
    return number, number


def _date_bounds(text: str) -> tuple[int, int]:
    """First and last second a date (a whole UTC day) or date-time (one instant) covers."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        start = calendar.timegm(day.timetuple())
        return start, start + SECONDS_PER_DAY - 1
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    instant = int(moment.timestamp())
    return instant, instant
