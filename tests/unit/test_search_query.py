"""Search queries as GitHub reads them: every ``created:`` form, its boundaries, and the ones refused."""

from __future__ import annotations

import calendar

import pytest

from github_etl.errors import ConfigurationError
from github_etl.extract.search_query import (
    EARLIEST_CREATED,
    SearchQuery,
    parse_search_query,
    render_created,
)
from github_etl.params import validate


def _at(text: str) -> int:
    """Epoch seconds of ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    date, _, time = text.partition(" ")
    year, month, day = map(int, date.split("-"))
    hour, minute, second = map(int, (time or "00:00:00").split(":"))
    return calendar.timegm((year, month, day, hour, minute, second))


@pytest.mark.parametrize(
    ("query", "base", "first", "last"),
    [
        ("language:rust", "language:rust is:public", None, None),
        ("created:2024-03-01", "is:public", "2024-03-01 00:00:00", "2024-03-01 23:59:59"),
        ("created:>2024-02-28", "is:public", "2024-02-29 00:00:00", None),
        ("created:>=2024-02-28", "is:public", "2024-02-28 00:00:00", None),
        ("created:<2024-03-01", "is:public", None, "2024-02-29 23:59:59"),
        ("created:<=2024-03-01", "is:public", None, "2024-03-01 23:59:59"),
        ("created:2024-01-01..2024-03-31", "is:public", "2024-01-01 00:00:00", "2024-03-31 23:59:59"),
        ("created:2024-01-01..*", "is:public", "2024-01-01 00:00:00", None),
        ("created:*..2024-03-31", "is:public", None, "2024-03-31 23:59:59"),
        ("created:2024-03-01T12:00:00Z", "is:public", "2024-03-01 12:00:00", "2024-03-01 12:00:00"),
        ("created:>2024-03-01T12:00:00Z", "is:public", "2024-03-01 12:00:01", None),
        ("created:<2024-03-01T12:00:00Z", "is:public", None, "2024-03-01 11:59:59"),
        ("created:>=2024-03-01T12:00:00+01:00", "is:public", "2024-03-01 11:00:00", None),
        ("created:<=2024-03-01T12:00:00-0230", "is:public", None, "2024-03-01 14:30:00"),
        (
            "created:2024-03-01T10:00:00Z..2024-03-01T11:30:00Z",
            "is:public",
            "2024-03-01 10:00:00",
            "2024-03-01 11:30:00",
        ),
        ("created:2024-03-01..2024-03-01T06:00:00Z", "is:public", "2024-03-01 00:00:00", "2024-03-01 06:00:00"),
        (
            'language:python  created:2024-03-01 stars:>10 "machine learning"',
            'language:python stars:>10 "machine learning" is:public',
            "2024-03-01 00:00:00",
            "2024-03-01 23:59:59",
        ),
        ("Created:2024-03-01 topic:cli", "topic:cli is:public", "2024-03-01 00:00:00", "2024-03-01 23:59:59"),
        # A quoted phrase is text, not a qualifier: GitHub matches it against names and descriptions.
        ('"created:2024" cli', '"created:2024" cli is:public', None, None),
        # Public repositories only: is:public is kept where the query says it, added where it does not.
        ("IS:PUBLIC language:go", "IS:PUBLIC language:go", None, None),
    ],
)
def test_every_created_form_github_accepts(query: str, base: str, first: str | None, last: str | None) -> None:
    assert parse_search_query(query) == SearchQuery(
        base, None if first is None else _at(first), None if last is None else _at(last)
    )


def test_greater_than_a_day_excludes_its_last_second_and_includes_the_next_midnight() -> None:
    low, high = parse_search_query("created:>2024-02-28").bounds(now=_at("2024-03-05 00:00:00"))
    assert low == _at("2024-02-29 00:00:00")
    assert _at("2024-02-28 23:59:59") < low
    assert high == _at("2024-03-05 00:00:00")


def test_open_ranges_close_at_githubs_opening_and_at_now() -> None:
    now = _at("2026-11-02 10:00:00")
    assert parse_search_query("stars:>5").bounds(now=now) == (EARLIEST_CREATED, now)
    assert parse_search_query("created:<2000-01-01").bounds(now=now)[1] < EARLIEST_CREATED


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("created:2024-02-30", "does not exist"),
        ("created:2023-02-29", "does not exist"),
        ("created:2024-03-01T24:00:00Z", "does not exist"),
        ("created:=>2024-01-01", "not a date"),
        ("created:~2024-01-01", "not a date"),
        ("created:2024/03/01", "not a date"),
        ("created:yesterday", "not a date"),
        ("created:", "not a date"),
        ("created:2024-01-01..", "not a date"),
        ("created:*..*", "no range"),
        ("created:2024-03-05..2024-03-01", "empty"),
        ("created:2024-01-01 created:2024-02-01", "more than one created"),
        ("language:go -created:2024-01-01", "excluded"),
        ("language:go NOT created:2024-01-01", "excluded"),
        # An OR would make the range optional: matches created at any time would come in through each slice.
        ("rust OR created:2024-01-01", "created: is joined by OR"),
        ("created:2024-01-01 OR rust", "created: is joined by OR"),
    ],
)
def test_queries_search_mode_cannot_slice_are_refused_naming_the_param(query: str, reason: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        validate({"mode": "search", "query": query})
    message = str(raised.value)
    assert message.startswith("param 'query' got ")
    assert repr(query) in message
    assert reason in message
    assert "created:>=2024-03-01" in message  # the accepted forms are listed


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ('language:go "unbalanced', "double quote"),
        # GitHub's REST search limits, which it answers with 422 Validation Failed.
        ("a NOT b NOT c OR d AND e NOT f NOT g", "6 AND, OR or NOT operators"),
        ("language:go " + " ".join(["word"] * 60), "299 characters long"),
        # is:public is added at the end: a trailing NOT would ask for the repositories that are not public.
        ("language:rust NOT", "it ends with NOT, which joins nothing there"),
        ("language:rust OR", "it ends with OR"),
        ("OR language:rust", "it begins with OR"),
        ("is:public OR fork:true", "is: is joined by OR"),
    ],
)
def test_queries_github_would_misread_are_refused_without_listing_the_created_forms(query: str, reason: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        validate({"mode": "search", "query": query})
    message = str(raised.value)
    assert message.startswith(f"param 'query' got {query!r}: ")
    assert reason in message
    assert "Accepted created: forms" not in message


@pytest.mark.parametrize(
    ("query", "base"),
    [
        ("rust AND created:2024-01-01", "rust is:public"),
        ("created:2024-01-01 AND rust", "rust is:public"),
        ("NOT language:js created:2024-01-01", "NOT language:js is:public"),
        ("rust OR go created:2024-01-01", "rust OR go is:public"),
    ],
)
def test_an_and_joining_the_range_goes_with_it_and_an_or_elsewhere_stays(query: str, base: str) -> None:
    assert parse_search_query(query) == SearchQuery(base, _at("2024-01-01 00:00:00"), _at("2024-01-01 23:59:59"))


@pytest.mark.parametrize(
    "query",
    ["is:private", "language:go is:internal", "language:go -is:public", "language:go NOT is:public", "Is:Private"],
)
def test_a_query_for_repositories_that_are_not_public_is_refused(query: str) -> None:
    # A token that can read private repositories would otherwise harvest them into the warehouse.
    with pytest.raises(ConfigurationError, match="not public") as raised:
        validate({"mode": "search", "query": query})
    assert str(raised.value).startswith(f"param 'query' got {query!r}")


@pytest.mark.parametrize(
    ("query", "base"),
    [
        ("language:go -is:private", "language:go -is:private is:public"),
        ("language:go -is:private -is:internal", "language:go -is:private -is:internal is:public"),
        ("language:go NOT is:internal is:public", "language:go NOT is:internal is:public"),
    ],
)
def test_leaving_out_repositories_that_are_not_public_is_asking_for_public_ones(query: str, base: str) -> None:
    assert parse_search_query(query).base == base


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        ("2024-03-01 00:00:00", "2024-03-01 23:59:59", "created:2024-03-01..2024-03-01"),
        ("2024-03-01 00:00:00", "2024-03-31 23:59:59", "created:2024-03-01..2024-03-31"),
        ("2024-03-01 00:00:00", "2024-03-01 11:59:59", "created:2024-03-01T00:00:00Z..2024-03-01T11:59:59Z"),
        ("2024-03-01 12:00:00", "2024-03-01 12:00:00", "created:2024-03-01T12:00:00Z..2024-03-01T12:00:00Z"),
    ],
)
def test_slices_render_as_days_when_whole_and_as_seconds_otherwise(low: str, high: str, text: str) -> None:
    assert render_created(_at(low), _at(high)) == text
    # And the text reads back as the same range.
    parsed = parse_search_query(text)
    assert (parsed.created_from, parsed.created_until) == (_at(low), _at(high))


def test_githubs_256_characters_leave_qualifiers_and_operators_out() -> None:
    """GitHub's REST docs: at most 256 characters "not including operators or qualifiers", at most five operators."""
    from github_etl.params import trigger_form_params

    orgs = " ".join(f"org:organisation-{n:02d}" for n in range(20))
    query = f'{orgs} language:"C++" stars:>=10 created:>2024-01-01 {"w" * 240} NOT x NOT y NOT z OR v AND u'
    assert len(query) > 600
    # Airflow checks the form before prepare runs: a long query of qualifiers must get past it.
    assert trigger_form_params()["query"].resolve(query) == query
    assert validate({"mode": "search", "query": query}).query == query


@pytest.mark.parametrize(
    ("query", "said"),
    [
        (
            "https://github.com/search?q=language%3Arust+stars%3A%3E500&type=repositories",
            "it is a URL; write the search itself, as typed in GitHub's search box: 'language:rust stars:>500'",
        ),
        ("github.com/search?q=topic%3Aairflow&type=repositories", "box: 'topic:airflow'"),
        ("https://ghe.example.com/search?type=repositories", "box: 'language:rust stars:>500'"),
        (
            "language%3Arust+stars%3A%3E500",
            "it is URL-encoded; write it as typed in GitHub's search box: 'language:rust stars:>500'",
        ),
        ("language%3Arust%20stars%3A%3E500", "box: 'language:rust stars:>500'"),
    ],
)
def test_a_search_pasted_from_githubs_address_bar_is_refused_with_the_search_itself(query: str, said: str) -> None:
    """GitHub would search for the text of a URL, or of an encoded query, find nothing, and the run would succeed
    with nothing loaded."""
    with pytest.raises(ConfigurationError) as raised:
        validate({"mode": "search", "query": query})
    message = str(raised.value)
    assert message.startswith(f"param 'query' got {query!r}: ")
    assert said in message


@pytest.mark.parametrize("query", ["100% rust", "50%25 discount", "awesome-python in:name", "site https://x"])
def test_text_with_a_percent_or_a_url_inside_is_searched_as_written(query: str) -> None:
    assert parse_search_query(query).base == f"{query} is:public"
