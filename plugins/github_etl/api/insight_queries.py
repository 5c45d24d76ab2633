"""The SQL of the views over time, read from the day summaries the load keeps (``schema.sql``).

A repository's history is read from its snapshots through their primary key; trending and languages are
read from ``github.star_gains`` and ``github.language_days``, so no request joins or aggregates a day of
snapshots. Values travel as bind parameters, identifiers are constants.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from psycopg2 import sql

from github_etl.api.queries import Row, _fetch
from github_etl.hooks.warehouse import DatabaseConnection

# Largest gain and id a trending cursor may name: PostgreSQL's integer and bigint maxima.
MAX_GAIN = 2**31 - 1
MAX_ID = 2**63 - 1
# A trending item's names and links, read from its repository now; its language is the gain's own.
TRENDING_COLUMNS = ("full_name", "owner_login", "name", "html_url", "description")


# The spellings of a language filter: the end date's languages equal to it in any case (a gain carries its
# repository's language on the end date, one of these).
SPELLINGS = sql.SQL(
    "(SELECT days.language FROM github.language_days AS days"
    " WHERE days.snapshot_date = %(end)s AND lower(days.language) = lower(%(language)s))"
)


@dataclass(frozen=True)
class TrendingFilter:
    """Conditions on trending repositories; None means no condition.

    :param language: primary language, in any case.
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


def is_observed(db: DatabaseConnection, day: date) -> bool:
    """Whether ``day`` has snapshots."""
    query = sql.SQL("SELECT EXISTS (SELECT FROM github.language_days WHERE snapshot_date = %(day)s) AS seen")
    return bool(_fetch(db, query, {"day": day})[0]["seen"])


def repository_history(db: DatabaseConnection, owner: str, name: str, days: int, end: date | None) -> list[Row]:
    """The repository ``owner/name`` and its snapshots of the ``days`` days ending on ``end``, in one round trip.

    One row per snapshot, oldest first, each with ``id``, ``full_name``, ``start_date`` and ``end_date``
    of the window; one row with null snapshot columns when the window holds none (no ``end_date`` when
    the repository was never observed); no row when there is no such repository. The repository is
    chosen as the detail chooses it: :func:`github_etl.api.queries.get_repository`, else the repository
    that held the name last (:func:`github_etl.api.history.get_renamed_repository`).

    :param end: last day; the repository's latest snapshot date when None.
    """
    start = None if end is None else (days_before(end, days - 1) or date.min)
    query = sql.SQL(
        "WITH repository AS ("
        "  SELECT id, full_name FROM ("
        "    (SELECT id, full_name, false AS former FROM github.repositories"
        "     WHERE lower(owner_login) = lower(%(owner)s) AND lower(name) = lower(%(name)s)"
        "     ORDER BY deleted_at IS NULL DESC, last_seen_at DESC, id DESC LIMIT 1)"
        "    UNION ALL"
        "    (SELECT id, full_name, true FROM github.repositories WHERE id = ("
        "       SELECT repo_id FROM github.repository_history WHERE lower(full_name) = lower(%(full_name)s)"
        "       ORDER BY valid_until DESC LIMIT 1))"
        "  ) AS found ORDER BY former LIMIT 1"
        "), bounds AS ("
        "  SELECT id, full_name, coalesce(%(end)s::date, latest) AS end_date,"
        "         coalesce(%(start)s::date, greatest(latest - %(span)s, date '0001-01-01')) AS start_date"
        "  FROM repository, LATERAL (SELECT max(snapshot_date) AS latest FROM github.repository_snapshots"
        "                            WHERE repo_id = repository.id) AS last"
        ")"
        " SELECT bounds.id, bounds.full_name, bounds.start_date, bounds.end_date, snapshot.snapshot_date,"
        "        snapshot.stargazers_count, snapshot.forks_count, snapshot.open_issues_count"
        " FROM bounds LEFT JOIN github.repository_snapshots AS snapshot"
        "   ON snapshot.repo_id = bounds.id AND snapshot.snapshot_date BETWEEN bounds.start_date AND bounds.end_date"
        " ORDER BY snapshot.snapshot_date"
    )
    params = {"owner": owner, "name": name, "full_name": f"{owner}/{name}", "end": end, "start": start}
    params["span"] = days - 1
    return _fetch(db, query, params)


def gain_window(db: DatabaseConnection, end: date, window_days: int) -> Row | None:
    """``compared``, ``rising`` and ``common_topics`` of a window ending on ``end``; None unless both ends
    were observed."""
    query = sql.SQL(
        "SELECT compared, rising, common_topics FROM github.star_gain_windows"
        " WHERE end_date = %(end)s AND window_days = %(days)s"
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
    common_topics: Collection[str],
) -> tuple[list[Row], tuple[int, int] | None]:
    """One page of the largest gains of the window ending on ``end``, and the position after it.

    Walks a trending-order index from the largest gain and stops after a page of rows that pass the
    filters: keyset paging on (gain, id) like the repository list's. Without a topic, or with one of
    ``common_topics``, that is ``star_gains_language_idx`` with a language and ``star_gains_order_idx``
    without; with any other topic, the topic's own rows in ``star_gain_topics``.

    :param after: (gain, id) of the last row of the previous page.
    :param common_topics: the window's topics that ``star_gain_topics`` leaves out
        (``star_gain_windows.common_topics``).
    """
    by_topic = filters.topic is not None and filters.topic not in common_topics
    conditions = [sql.SQL("gains.end_date = %(end)s"), sql.SQL("gains.window_days = %(days)s")]
    params: dict[str, Any] = {"end": end, "days": window_days, "limit": limit + 1}
    if after is not None:
        conditions.append(sql.SQL("(gains.gain, gains.repo_id) < (%(after_gain)s, %(after_id)s)"))
        params.update(after_gain=min(after[0], MAX_GAIN), after_id=min(after[1], MAX_ID))
    if filters.min_stars is not None:
        conditions.append(sql.SQL("gains.stargazers_count >= %(min_stars)s"))
        params["min_stars"] = filters.min_stars
    # Read from the gains alone (language and topics are copied onto them); only the page's rows are
    # then joined with their repositories.
    if filters.language is not None:
        # In any case, as GitHub's language: qualifier: each of the date's own spellings of it (two after
        # GitHub renamed a language, Vim script to Vim Script, until every repository is analysed again),
        # from its language totals, so that star_gains_language_idx serves the filter without an
        # expression in the load: one walk of the index per spelling.
        conditions.append(sql.SQL("gains.language = spelling.language"))
        params["language"] = filters.language
    if filters.topic is not None:
        params["topic"] = filters.topic
        if by_topic:
            conditions.append(sql.SQL("gains.topic = %(topic)s"))
        else:
            conditions.append(sql.SQL("gains.topics @> ARRAY[%(topic)s]::text[]"))
    walk = sql.SQL(
        "SELECT gains.repo_id, gains.gain, gains.stargazers_count, gains.language FROM {gains} AS gains"
        " WHERE {where} ORDER BY gains.gain DESC, gains.repo_id DESC LIMIT %(limit)s"
    ).format(
        gains=sql.Identifier("github", "star_gain_topics" if by_topic else "star_gains"),
        where=sql.SQL(" AND ").join(conditions),
    )
    if filters.language is not None:
        # A page per spelling, each walked in the index's order, then the page of them all.
        walk = sql.SQL(
            "SELECT walked.* FROM {spellings} AS spelling, LATERAL ({walk}) AS walked"
            " ORDER BY walked.gain DESC, walked.repo_id DESC LIMIT %(limit)s"
        ).format(spellings=SPELLINGS, walk=walk)
    # The language listed is the one the gain carries, the one the language filter matched: the
    # repository's on the end date, which a later change of language does not rewrite.
    query = sql.SQL(
        "WITH page AS ({walk})"
        " SELECT page.repo_id AS id, {columns}, page.language,"
        " page.stargazers_count - page.gain AS start_stargazers_count, page.stargazers_count, page.gain"
        " FROM page LEFT JOIN github.repositories AS repository ON repository.id = page.repo_id"
        " ORDER BY page.gain DESC, page.repo_id DESC"
    ).format(walk=walk, columns=sql.SQL(", ").join(sql.Identifier("repository", column) for column in TRENDING_COLUMNS))
    rows = _fetch(db, query, params)
    page = rows[:limit]
    # A gain whose repository was deleted from the warehouse by hand is left out of the page, and the
    # page still ends where its gains end, so that the list goes on past it.
    listed = [row for row in page if row["full_name"] is not None]
    if len(rows) <= limit:
        return listed, None
    return listed, (page[-1]["gain"], page[-1]["id"])


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
