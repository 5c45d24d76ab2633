"""Routes of the views over time: a repository's history, trending repositories, language shares.

Included by :func:`github_etl.api.app.create_app` behind the same Airflow login as the other data routes.
Each answer says what it is based on: a day without an observation is a gap (null), never a value made
up from its neighbours, and a comparison is only made between two dates that were both observed.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse

from github_etl.api import insight_queries, queries
from github_etl.api.insight_models import (
    HistoryQuery,
    LanguageList,
    LanguageQuery,
    LanguageShares,
    RepositoryHistory,
    ShareQuery,
    TrendingPage,
    TrendingQuery,
)
from github_etl.api.models import ErrorMessage, Segment
from github_etl.hooks.warehouse import DatabaseConnection

log = logging.getLogger(__name__)


async def _warehouse(request: Request) -> Any:
    # Imported here: github_etl.api.app includes this module's router.
    from github_etl.api.app import _warehouse as app_warehouse

    return await app_warehouse(request)


COUNTERS = ("stargazers_count", "forks_count", "open_issues_count")
# A trending cursor counts its end date in days from EPOCH; a larger count than a date holds means the last date.
EPOCH = date(1970, 1, 1)
LAST_EPOCH_DAY = (date.max - EPOCH).days
# The app's Warehouse (pool and caches), typed loosely: naming its class would import the app.
WarehouseDep = Annotated[Any, Depends(_warehouse)]
router = APIRouter()


@router.get(
    "/repositories/{owner}/{name}/history",
    response_model=RepositoryHistory,
    operation_id="get_repository_history",
    summary="Daily stars, forks and open issues of a repository",
    tags=["repositories"],
    responses={
        status.HTTP_404_NOT_FOUND: {"description": "No such repository in the warehouse.", "model": ErrorMessage}
    },
)
async def history_endpoint(
    owner: Annotated[Segment, Path(description="Owner login, case-insensitive.")],
    name: Annotated[Segment, Path(description="Repository name, case-insensitive.")],
    query: Annotated[HistoryQuery, Query()],
    warehouse: WarehouseDep,
) -> dict[str, Any]:
    """Every day of a window, oldest first: the repository's counters where it was observed, nulls elsewhere.

    A repository renamed or transferred is found by a former name too; the answer carries its current one.
    """

    rows = await warehouse.pool.read(
        lambda db: insight_queries.repository_history(db, owner, name, query.days, query.end_date),
    )
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Repository {owner}/{name} not found")
    first = rows[0]
    found = {"id": first["id"], "full_name": first["full_name"]}
    if first["end_date"] is None:
        return {**found, "start_date": None, "end_date": None, "observed_days": 0, "points": []}
    start, end = first["start_date"], first["end_date"]
    observed = {row["snapshot_date"]: row for row in rows if row["snapshot_date"] is not None}
    points = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        row = observed.get(day, {})
        points.append({"date": day} | {counter: row.get(counter) for counter in COUNTERS})
    return {**found, "start_date": start, "end_date": end, "observed_days": len(observed), "points": points}


@router.get(
    "/trending",
    response_model=TrendingPage,
    operation_id="list_trending_repositories",
    summary="Repositories with the largest star gains",
    tags=["trending"],
)
async def trending_endpoint(query: Annotated[TrendingQuery, Query()], warehouse: WarehouseDep) -> dict[str, Any]:
    """The largest star gains between two observation dates `window_days` apart, largest first.

    Only repositories observed on both dates are compared, and only those whose stars rose are listed;
    `compared`, `rising` and `basis` say so. Pass `next_cursor` as `cursor` (with the same parameters)
    for the next page.
    """
    after = cursor_day = None
    if query.cursor is not None:
        day, gain, last_id = query.cursor.split(".")
        cursor_day = EPOCH + timedelta(days=min(int(day), LAST_EPOCH_DAY))
        after = (int(gain), int(last_id))
    filters = insight_queries.TrendingFilter(
        language=query.language,
        # GitHub stores topics in lower case.
        topic=query.topic.lower() if query.topic is not None else None,
        min_stars=query.min_stars,
    )
    days = int(query.window_days)

    def read(db: DatabaseConnection) -> dict[str, Any]:
        # A walk stays on its first page's list: the next day's load may commit between two pages.
        end = query.end_date or cursor_day or insight_queries.latest_observation(db)
        answer: dict[str, Any] = {"window_days": days, "start_date": None, "end_date": end, "compared": None}
        answer |= {"rising": None, "items": [], "next_cursor": None}
        if end is None:
            return answer | {"basis": "The warehouse holds no observation yet: nothing to compare."}
        start = insight_queries.days_before(end, days)
        if start is None:
            return answer | {"basis": f"No date lies {days} days before {end}: a gain needs two observation dates."}
        answer["start_date"] = start
        window = insight_queries.gain_window(db, end, days)
        if window is None:
            missing = [day for day in (start, end) if not insight_queries.is_observed(db, day)]
            named = " or ".join(str(day) for day in missing) or "the earlier date"
            return answer | {
                "basis": f"No observation on {named}: a gain needs an observation on both {start} and {end}."
            }
        rows, position = insight_queries.trending(
            db, end, days, filters, after, query.limit, common_topics=window["common_topics"]
        )
        return answer | {
            "compared": window["compared"],
            "rising": window["rising"],
            "basis": (
                f"Star gains from {start} to {end}, counting only the {window['compared']:,} repositories observed "
                f"on both dates; {window['rising']:,} of them gained stars."
            ),
            "items": rows,
            "next_cursor": f"{(end - EPOCH).days}.{position[0]}.{position[1]}" if position else None,
        }

    return await warehouse.pool.read(queries.in_one_snapshot(read))


@router.get(
    "/languages",
    response_model=LanguageList,
    operation_id="list_languages",
    summary="Repositories and stars per language, and how the shares changed",
    tags=["languages"],
)
async def languages_endpoint(query: Annotated[LanguageQuery, Query()], warehouse: WarehouseDep) -> dict[str, Any]:
    """Repositories and stars per primary language on an observation date, most stars first, with each
    language's share then and `window_days` earlier (when that date was observed)."""

    def read(db: DatabaseConnection) -> dict[str, Any]:
        day = query.date or insight_queries.latest_observation(db)
        if day is None:
            nothing = {"date": None, "observed": False, "start_date": None, "start_observed": False}
            return nothing | {"repositories": 0, "stars": 0, "items": []}
        start = insight_queries.days_before(day, query.window_days)
        now = insight_queries.language_totals(db, day)
        before = insight_queries.language_totals(db, start) if start is not None else []
        repositories, stars = sum(r["repositories"] for r in now), sum(r["stars"] for r in now)
        before_stars = sum(r["stars"] for r in before)
        earlier = {r["language"]: r for r in before}
        items = []
        for row in now:
            star_share = _share(row["stars"], stars)
            then = earlier.get(row["language"])
            start_share = None
            if before:
                start_share = _share(then["stars"], before_stars) if then else 0.0
            items.append(
                {
                    **row,
                    "repository_share": _share(row["repositories"], repositories),
                    "star_share": star_share,
                    "start_repositories": (then["repositories"] if then else 0) if before else None,
                    "start_stars": (then["stars"] if then else 0) if before else None,
                    "start_star_share": start_share,
                    "star_share_change": star_share - start_share if start_share is not None else None,
                }
            )
        return {
            "date": day,
            "observed": bool(now),
            "start_date": start,
            "start_observed": bool(before),
            "repositories": repositories,
            "stars": stars,
            "items": items,
        }

    return await warehouse.pool.read(queries.in_one_snapshot(read))


@router.get(
    "/languages/shares",
    response_model=LanguageShares,
    operation_id="list_language_shares",
    summary="Star shares of the leading languages over time",
    tags=["languages"],
)
async def shares_endpoint(query: Annotated[ShareQuery, Query()], warehouse: WarehouseDep) -> dict[str, Any]:
    """Each day's share of the stars of the languages with the most stars on the latest observation, over
    the last `days` days; null on days without an observation."""

    def read(db: DatabaseConnection) -> dict[str, Any]:
        end = insight_queries.latest_observation(db)
        if end is None:
            return {"dates": [], "series": []}
        start = insight_queries.days_before(end, query.days - 1) or date.min
        rows = insight_queries.language_stars_between(db, start, end)
        first = min(row["snapshot_date"] for row in rows)
        dates = [first + timedelta(days=offset) for offset in range((end - first).days + 1)]
        totals: dict[date, int] = {}
        stars: dict[tuple[date, str | None], int] = {}
        for row in rows:
            totals[row["snapshot_date"]] = totals.get(row["snapshot_date"], 0) + row["stars"]
            stars[row["snapshot_date"], row["language"]] = row["stars"]
        leading = [r["language"] for r in insight_queries.language_totals(db, end)[: query.languages]]
        series = [
            {
                "language": language,
                "star_share": [
                    _share(stars.get((day, language), 0), totals[day]) if day in totals else None for day in dates
                ],
            }
            for language in leading
        ]
        return {"dates": dates, "series": series}

    return await warehouse.pool.read(queries.in_one_snapshot(read))


async def warehouse_without_schema(request: Request, exc: Exception) -> JSONResponse:
    """A 503 for a warehouse the DAG has not created yet (``make airflow`` before the first run)."""
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"The warehouse has no tables yet: run the {request.app.state.settings.dag_id} DAG once."},
        headers={"Retry-After": "60"},
    )


async def warehouse_behind_the_code(request: Request, exc: Exception) -> JSONResponse:
    """A 503 for a warehouse created before a column the code reads was added (``github_etl.columns``)."""
    log.warning("Answering 503 to %s %s: %s", request.method, request.url.path, str(exc).strip())
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={
            "detail": "The warehouse lacks a column this version reads, as it was created before the column was "
            f"added: the next run of the {request.app.state.settings.dag_id} DAG fails naming the ALTER TABLE that "
            "adds it."
        },
        headers={"Retry-After": "60"},
    )


async def warehouse_withheld(request: Request, exc: Exception) -> JSONResponse:
    """A 503 for a table (or the schema) the API server's role may not read: a grant the DBA left out."""
    log.warning("Answering 503 to %s %s: %s", request.method, request.url.path, str(exc).strip())
    denied = re.search(r"permission denied for (table|schema|relation) (\w+)", str(exc))
    what = "a table of the schema github" if denied is None else f"the {denied[1]} {denied[2]}"
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={
            "detail": f"The warehouse does not let the API server's role read {what}: a DBA grants it USAGE on the "
            "schema github and SELECT on its tables, by default privileges for those the load creates later "
            "(docs/api.md, Operation)."
        },
        headers={"Retry-After": "60"},
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
