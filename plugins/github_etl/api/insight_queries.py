"""The SQL of the views over time, read from the day summaries the load keeps (``schema.sql``).

A repository's history is read from its snapshots through their primary key; trending and languages are
read from ``github.star_gains`` and ``github.language_days``, so no request joins or aggregates a day of
snapshots. Values travel as bind parameters, identifiers are constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from psycopg2 import sql

from github_etl.api.queries import Row, _fetch
from github_etl.hooks.warehouse import DatabaseConnection

# Largest gain and id a trending cursor may name: PostgreSQL's integer and bigint maxima.
MAX_GAIN = 2**31 - 1
MAX_ID = 2**63 - 1
TRENDING_COLUMNS = ("id", "full_name", "owner_login", "name", "language", "html_url", "description")


@dataclass(frozen=True)
class TrendingFilter:
    """Conditions on trending repositories; None means no condition.

    :param language: exact primary language.
    :param topic: a topic the repository carries.
    :param min_stars: lowest star count on the later date.
    """

    language: str | None = None
    topic: str | None = None
    min_stars: int | None = None


def days_before(day: date, days: int) -> date | None:
    """``day`` minus ``days`` days, or None before the first date there is."""
    try:
        return day - timedelta(days=days)
    except OverflowError:
        return None


def latest_observation(db: DatabaseConnection) -> date | None:
    """The latest date with snapshots, or None in an empty warehouse."""
    return _fetch(db, sql.SQL("SELECT max(snapshot_date) AS day FROM github.language_days"), {})[0]["day"]


def observed_dates(db: DatabaseConnection, start: date, end: date) -> list[date]:
    """Dates with snapshots from ``start`` to ``end``, oldest first."""
    query = sql.SQL(
        "SELECT DISTINCT snapshot_date FROM github.language_days"
        " WHERE snapshot_date BETWEEN %(start)s AND %(end)s ORDER BY snapshot_date"
    )
    return [row["snapshot_date"] for row in _fetch(db, query, {"start": start, "end": end})]


def is_observed(db: DatabaseConnection, day: date) -> bool:
    """Whether ``day`` has snapshots."""
    query = sql.SQL("SELECT EXISTS (SELECT FROM github.language_days WHERE snapshot_date = %(day)s) AS seen")
    return bool(_fetch(db, query, {"day": day})[0]["seen"])


def latest_snapshot_date(db: DatabaseConnection, repo_id: int) -> date | None:
    """The repository's latest snapshot date, or None."""
    query = sql.SQL("SELECT max(snapshot_date) AS day FROM github.repository_snapshots WHERE repo_id = %(repo_id)s")
    return _fetch(db, query, {"repo_id": repo_id})[0]["day"]


def snapshots_between(db: DatabaseConnection, repo_id: int, start: date, end: date) -> list[Row]:
    """The repository's snapshots from ``start`` to ``end``, oldest first (primary key order)."""
    query = sql.SQL(
        "SELECT snapshot_date, stargazers_count, forks_count, open_issues_count FROM github.repository_snapshots"
        " WHERE repo_id = %(repo_id)s AND snapshot_date BETWEEN %(start)s AND %(end)s ORDER BY snapshot_date"
    )
    return _fetch(db, query, {"repo_id": repo_id, "start": start, "end": end})


def gain_window(db: DatabaseConnection, end: date, window_days: int) -> Row | None:
    """``compared`` and ``rising`` of a window ending on ``end``; None unless both ends were observed."""
    query = sql.SQL(
        "SELECT compared, rising FROM github.star_gain_windows WHERE end_date = %(end)s AND window_days = %(days)s"
    )
    rows = _fetch(db, query, {"end": end, "days": window_days})
    return rows[0] if rows else None


def trending(
    db: DatabaseConnection,
    end: date,
    window_days: int,
    filters: TrendingFilter,
    after: tuple[int, int] | None,
    limit: int,
) -> tuple[list[Row], tuple[int, int] | None]:
    """One page of the largest gains of the window ending on ``end``, and the position after it.

    Walks ``star_gains_order_idx`` from the largest gain and stops after a page of rows that pass the
    filters: keyset paging on (gain, id) like the repository list's.

    :param after: (gain, id) of the last row of the previous page.
    """
    conditions = [sql.SQL("gains.end_date = %(end)s"), sql.SQL("gains.window_days = %(days)s")]
    params: dict[str, Any] = {"end": end, "days": window_days, "limit": limit + 1}
    if after is not None:
        conditions.append(sql.SQL("(gains.gain, gains.repo_id) < (%(after_gain)s, %(after_id)s)"))
        params.update(after_gain=min(after[0], MAX_GAIN), after_id=min(after[1], MAX_ID))
    if filters.language is not None:
        conditions.append(sql.SQL("repository.language = %(language)s"))
        params["language"] = filters.language
    if filters.topic is not None:
        conditions.append(sql.SQL("repository.topics @> ARRAY[%(topic)s]::text[]"))
        params["topic"] = filters.topic
    if filters.min_stars is not None:
        conditions.append(sql.SQL("gains.stargazers_count >= %(min_stars)s"))
        params["min_stars"] = filters.min_stars
    query = sql.SQL(
        "SELECT {columns}, gains.stargazers_count - gains.gain AS start_stargazers_count,"
        " gains.stargazers_count, gains.gain"
        " FROM github.star_gains AS gains JOIN github.repositories AS repository ON repository.id = gains.repo_id"
        " WHERE {where} ORDER BY gains.gain DESC, gains.repo_id DESC LIMIT %(limit)s"
    ).format(
        columns=sql.SQL(", ").join(sql.Identifier("repository", column) for column in TRENDING_COLUMNS),
        where=sql.SQL(" AND ").join(conditions),
    )
    rows = _fetch(db, query, params)
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    return page, (page[-1]["gain"], page[-1]["id"])


def language_totals(db: DatabaseConnection, day: date) -> list[Row]:
    """Repositories and stars per language on ``day``, most stars first (ties: language, none last)."""
    query = sql.SQL(
        "SELECT language, repositories, stars FROM github.language_days WHERE snapshot_date = %(day)s"
        " ORDER BY stars DESC, language NULLS LAST"
    )
    return _fetch(db, query, {"day": day})


def language_stars_between(db: DatabaseConnection, start: date, end: date) -> list[Row]:
    """Stars per language per date from ``start`` to ``end``."""
    query = sql.SQL(
        "SELECT snapshot_date, language, stars FROM github.language_days"
        " WHERE snapshot_date BETWEEN %(start)s AND %(end)s"
    )
    return _fetch(db, query, {"start": start, "end": end})
