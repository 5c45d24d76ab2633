"""A search query's ``created:`` qualifier, read with GitHub's own semantics, and the rest passed through.

Search mode slices a query by creation time, so it must know the range the user asked for. GitHub
accepts ``created:D``, ``>D``, ``>=D``, ``<D``, ``<=D``, ``A..B``, ``A..*`` and ``*..B``, where each bound
is a date (``2024-03-01``, a whole UTC day) or a date-time to the second (``2024-03-01T12:00:00Z`` or
with an offset such as ``+01:00``). Every other qualifier and word goes to GitHub unchanged, with
``is:public`` added; a query is refused here for a ``created:`` GitHub would not read or search mode
cannot slice, for limits GitHub would refuse, and for asking for repositories that are not public.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, unquote_plus, urlsplit

from github_etl.errors import ConfigurationError

SECONDS_PER_DAY = 86_400
# No public repository was created before GitHub opened.
EARLIEST_CREATED = calendar.timegm((2007, 10, 1, 0, 0, 0))

ACCEPTED_FORMS = (
    "created:2024-03-01, created:>2024-03-01, created:>=2024-03-01, created:<2024-03-01, "
    "created:<=2024-03-01, created:2024-01-01..2024-03-31, created:2024-01-01..*, created:*..2024-03-31; "
    "a date-time to the second wherever a date goes (2024-03-01T12:00:00Z or 2024-03-01T12:00:00+01:00)"
)
# A token is a run of non-space characters in which "double-quoted parts" may hold spaces, as GitHub reads q.
_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')
_CREATED = re.compile(r"^(?P<negated>-?)created:(?P<value>.*)$", re.IGNORECASE)
_BOUND = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2})?)(?P<zone>Z|[+-]\d{2}:?\d{2})?)?$"
)
_COMPARISON = re.compile(r"^(?P<op>>=|<=|>|<)(?P<bound>.*)$")
# GitHub's REST search answers 422 Validation Failed to a query whose words, qualifiers and operators not
# counted, pass 256 characters, or that holds more than five AND, OR or NOT operators.
MAX_WORDS_LENGTH = 256
MAX_OPERATORS = 5
_OPERATORS = frozenset(("AND", "OR", "NOT"))
_QUALIFIER = re.compile(r"^-?[A-Za-z][\w-]*:\S")
# The pipeline harvests public repositories. GitHub's search also returns the private and internal ones
# a token can read unless the query says is:public, so every query sent says it.
PUBLIC = "is:public"
# A search is often built on github.com first: its URL, or its q= value still encoded, gets pasted instead.
_URL = re.compile(r"^(?:https?://|github\.com/)", re.IGNORECASE)
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_VISIBILITY = re.compile(r"^(?P<negated>-?)is:(?P<value>public|private|internal)$", re.IGNORECASE)


@dataclass(frozen=True)
class SearchQuery:
    """A search query split into what GitHub reads unchanged and the creation range to slice.

    :param base: the query without its ``created:`` qualifier, whitespace normalised.
    :param created_from: first second (epoch, inclusive) of the range; None when unbounded below.
    :param created_until: last second (epoch, inclusive); None when unbounded above.
    """

    base: str
    created_from: int | None = None
    created_until: int | None = None

    def bounds(self, *, now: int) -> tuple[int, int]:
        """The inclusive range to slice, with open ends closed at GitHub's opening and at ``now``."""
        low = EARLIEST_CREATED if self.created_from is None else max(self.created_from, EARLIEST_CREATED)
        high = now if self.created_until is None else min(self.created_until, now)
        return low, high


def parse_search_query(text: str) -> SearchQuery:
    """Read ``text`` as GitHub does; raise :class:`ConfigurationError` naming ``query`` when it cannot be sliced."""
    _check_not_pasted(text)
    if text.count('"') % 2:
        raise _error(text, "it has an unbalanced double quote", forms=False)
    tokens = _TOKEN.findall(text)
    if not tokens:
        raise _error(text, "it is empty; search mode needs GitHub search syntax, e.g. 'language:rust'", forms=False)
    _check_limits(text, tokens)
    _check_operators(text, tokens)
    tokens = _public_only(text, tokens)
    created = [(index, match) for index, token in enumerate(tokens) if (match := _CREATED.match(token))]
    if not created:
        return SearchQuery(" ".join(tokens))
    if len(created) > 1:
        raise _error(text, "it has more than one created: qualifier; write one range")
    index, match = created[0]
    if match["negated"] or (index > 0 and tokens[index - 1] == "NOT"):
        raise _error(text, "an excluded created: range cannot be sliced; write the range to include")
    low, high = _created_range(text, match["value"])
    if low is not None and high is not None and low > high:
        raise _error(text, "its created: range is empty (its start is after its end)")
    # An AND joining the range to the rest goes with it: each slice adds its own range, ANDed.
    start, end = index, index + 1
    if index > 0 and tokens[index - 1] == "AND":
        start -= 1
    elif end < len(tokens) and tokens[end] == "AND":
        end += 1
    base = " ".join(tokens[:start] + tokens[end:])
    return SearchQuery(base, low, high)


def render_created(low: int, high: int) -> str:
    """The ``created:A..B`` qualifier of an inclusive range: dates when it covers whole days, else date-times."""
    if low % SECONDS_PER_DAY == 0 and (high + 1) % SECONDS_PER_DAY == 0:
        return f"created:{_day(low)}..{_day(high)}"
    return f"created:{_instant(low)}..{_instant(high)}"


def render_instant(second: int) -> str:
    """One second as GitHub writes date-times (UTC, ``Z``)."""
    return _instant(second)


def _check_not_pasted(text: str) -> None:
    """Refuse a search page's URL, or its encoded ``q=``: GitHub would search for the text, find nothing, and
    the run would load nothing and succeed."""
    if _URL.match(text):
        url = text if "://" in text else f"https://{text}"
        q = parse_qs(urlsplit(url).query).get("q", [""])[0].strip()
        example = repr(q) if q else "'language:rust stars:>500'"
        raise _error(
            text, f"it is a URL; write the search itself, as typed in GitHub's search box: {example}", forms=False
        )
    if ":" not in text and _ENCODED.search(text) and ":" in (decoded := unquote_plus(text)):
        raise _error(
            text, f"it is URL-encoded; write it as typed in GitHub's search box: {decoded.strip()!r}", forms=False
        )


def _check_limits(text: str, tokens: list[str]) -> None:
    """Refuse what GitHub would refuse, before the run spends a request (or its retries) on it."""
    operators = sum(1 for token in tokens if token in _OPERATORS)
    if operators > MAX_OPERATORS:
        raise _error(
            text, f"it has {operators} AND, OR or NOT operators; GitHub's search takes at most five", forms=False
        )
    words = " ".join(token for token in tokens if token not in _OPERATORS and not _QUALIFIER.match(token))
    if len(words) > MAX_WORDS_LENGTH:
        raise _error(
            text,
            f"its words (qualifiers and operators aside) are {len(words)} characters long; GitHub's search "
            f"takes at most {MAX_WORDS_LENGTH}",
            forms=False,
        )


def _check_operators(text: str, tokens: list[str]) -> None:
    """Refuse an operator that joins nothing, and an OR around ``created:`` or ``is:``.

    Search mode adds ``is:public`` at the end and replaces ``created:`` by each slice's range: an
    operator at the end would bind to the one added, and an OR would make either qualifier optional,
    letting other creation times (or repositories that are not public) in.
    """
    if tokens[-1] in _OPERATORS or tokens[0] in ("AND", "OR"):
        where, operator = ("ends", tokens[-1]) if tokens[-1] in _OPERATORS else ("begins", tokens[0])
        raise _error(text, f"it {where} with {operator}, which joins nothing there", forms=False)
    for index, token in enumerate(tokens):
        neighbours = tokens[index - 1 : index] + tokens[index + 1 : index + 2]
        if (_CREATED.match(token) or _VISIBILITY.match(token)) and "OR" in neighbours:
            qualifier = token.partition(":")[0].lstrip("-").lower()
            raise _error(
                text,
                f"its {qualifier}: is joined by OR, which would make it optional; search mode keeps {qualifier}: "
                "a condition every match meets, so write it apart from OR",
                forms=qualifier == "created",
            )


def _public_only(text: str, tokens: list[str]) -> list[str]:
    """``tokens`` asking for public repositories only: ``is:public`` added unless it is there already.

    ``-is:private`` and ``-is:internal`` leave out what the pipeline never harvests anyway, so they pass; the
    ``is:public`` added keeps the rest public.
    """
    asked = [
        ("-" if match["negated"] or (index > 0 and tokens[index - 1] == "NOT") else "", match["value"].lower())
        for index, token in enumerate(tokens)
        if (match := _VISIBILITY.match(token))
    ]
    # is:public, or the negation of another visibility, asks for nothing that is not public.
    refused = [(negated, value) for negated, value in asked if bool(negated) == (value == "public")]
    if refused:
        raise ConfigurationError(
            f"param 'query' got {text!r}: it asks for repositories that are not public "
            f"({', '.join(f'{negated}is:{value}' for negated, value in refused)}); this pipeline harvests public "
            f"repositories only, so leave the is: qualifier out or write is:public"
        )
    return tokens if ("", "public") in asked else [*tokens, PUBLIC]


def _created_range(text: str, value: str) -> tuple[int | None, int | None]:
    if ".." in value:
        first, _, last = value.partition("..")
        if first == "*" and last == "*":
            raise _error(text, "created:*..* is no range; leave created: out to search all time")
        low = None if first == "*" else _bound(text, first)[0]
        high = None if last == "*" else _bound(text, last)[1]
        return low, high
    comparison = _COMPARISON.match(value)
    if comparison:
        first, last = _bound(text, comparison["bound"])
        return {
            ">": (last + 1, None),
            ">=": (first, None),
            "<": (None, first - 1),
            "<=": (None, last),
        }[comparison["op"]]
    return _bound(text, value)


def _bound(text: str, value: str) -> tuple[int, int]:
    """First and last second a date (a whole UTC day) or a date-time (one second) covers."""
    match = _BOUND.match(value)
    if not match:
        raise _error(text, f"created:{value} is not a date or date-time GitHub reads")
    try:
        day = date.fromisoformat(match["date"])
        if match["time"] is None:
            start = calendar.timegm(day.timetuple())
            return start, start + SECONDS_PER_DAY - 1
        if int(match["time"][:2]) > 23:
            # Python 3.14's fromisoformat reads 24:00 as the next midnight; the older ones refuse it, as here.
            raise ValueError("hour must be in 0..23")
        zone = match["zone"] or "Z"
        if zone != "Z" and ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}{'+00:00' if zone == 'Z' else zone}")
    except ValueError as exc:
        raise _error(text, f"created:{value} names a date or time that does not exist ({exc})") from None
    second = int(moment.timestamp())
    return second, second


def _day(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).date().isoformat()


def _instant(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(text: str, why: str, *, forms: bool = True) -> ConfigurationError:
    """The refusal of ``text``, listing the accepted ``created:`` forms where ``why`` is about one."""
    listed = f" Accepted created: forms: {ACCEPTED_FORMS}" if forms else ""
    return ConfigurationError(f"param 'query' got {text!r}: {why}.{listed}")
