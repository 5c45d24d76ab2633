"""Mode ``search``: every repository matching a GitHub search query, past the 1,000-result cap.

GitHub's search API returns at most 1,000 results per query. Cutting the query into ``created:``
date ranges, recursively halved until each holds at most 1,000 results, reaches every match; each
range is then read page by page (100 full repository objects per page, so no enrichment is needed).
The search budget is small (30 requests a minute with a token); the client waits for its reset.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from typing import Any

from github_etl.extract.shards import Shard, ShardRecorder
from github_etl.github.client import GitHubClient

log = logging.getLogger(__name__)

SEARCH_PATH = "/search/repositories"
# GitHub serves only the first 1,000 results of any search.
MAX_RESULTS_PER_QUERY = 1000
# GitHub ignores larger pages.
PER_PAGE = 100
# No public repository was created before GitHub opened.
EARLIEST_CREATED = date(2007, 10, 1)
# An incomplete page (GitHub timed out internally) is asked again this many times.
INCOMPLETE_RETRIES = 2
_CREATED_RANGE = re.compile(r"(?:^|\s)created:(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})(?=\s|$)")
_CREATED_ANY = re.compile(r"(?:^|\s)created:\S+")


def _search(client: GitHubClient, query: str, *, page: int, per_page: int) -> dict[str, Any]:
    data = client.get(SEARCH_PATH, {"q": query, "per_page": per_page, "page": page}, resource="search").data
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError(f"search for {query!r} did not answer an object with items")
    return data


def _sliced(query: str, start: date, end: date) -> str:
    return f"{query} created:{start.isoformat()}..{end.isoformat()}"


def split_created_ranges(query: str, *, until: date) -> tuple[str, date, date]:
    """The query without its ``created:A..B`` qualifier, and the date range to slice (A..B or all time)."""
    match = _CREATED_RANGE.search(query)
    if match:
        base = " ".join((query[: match.start()] + " " + query[match.end() :]).split())
        return base, date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))
    if _CREATED_ANY.search(query):
        raise ValueError("search mode slices by created date: write created: as a range A..B (YYYY-MM-DD), if at all")
    return query.strip(), EARLIEST_CREATED, until


def plan_slices(client: GitHubClient, query: str, *, until: date) -> list[dict[str, Any]]:
    """Cut ``query`` into created-date slices of at most 1,000 results each (probing with 1-result pages)."""
    base, start, end = split_created_ranges(query, until=until)
    slices: list[dict[str, Any]] = []
    stack = [(start, end)]
    while stack:
        low, high = stack.pop()
        total = int(_search(client, _sliced(base, low, high), page=1, per_page=1)["total_count"])
        if total == 0:
            continue
        if total <= MAX_RESULTS_PER_QUERY or low == high:
            if total > MAX_RESULTS_PER_QUERY:
                log.warning("%s repositories were created on %s for %r: only 1,000 are reachable", total, low, base)
            slices.append({"query": _sliced(base, low, high), "total": total})
            continue
        middle = low + timedelta(days=(high - low).days // 2)
        # Push the later half first so slices come out in date order.
        stack.append((middle + timedelta(days=1), high))
        stack.append((low, middle))
    return slices


def plan_search(slices: list[dict[str, Any]], *, shards: int) -> list[Shard]:
    """Deal slices into at most ``shards`` shards of similar result counts."""
    shards = max(1, min(shards, len(slices) or 1))
    plan: list[Shard] = [{"key": f"search-{i:03d}", "mode": "search", "slices": []} for i in range(shards)]
    totals = [0] * shards
    for piece in sorted(slices, key=lambda s: -s["total"]):
        lightest = totals.index(min(totals))
        plan[lightest]["slices"].append(piece)
        totals[lightest] += piece["total"]
    return [shard for shard in plan if shard["slices"]]


def extract_search_shard(client: GitHubClient, recorder: ShardRecorder, shard: Shard) -> None:
    for piece in shard["slices"]:
        page = 1
        while True:

            def fetch(page: int = page, query: str = piece["query"]) -> dict[str, Any]:
                data = _search(client, query, page=page, per_page=PER_PAGE)
                for _ in range(INCOMPLETE_RETRIES):
                    if not data.get("incomplete_results"):
                        break
                    log.info("Search page %s of %r was incomplete; asking again", page, query)
                    data = _search(client, query, page=page, per_page=PER_PAGE)
                return {"format": "rest", "items": data["items"], "gone": [], "total": data["total_count"]}

            document = recorder.full_objects(fetch)
            recorder.counts["listed"] += len(document["items"])
            reachable = min(int(document["total"]), MAX_RESULTS_PER_QUERY)
            if len(document["items"]) < PER_PAGE or page * PER_PAGE >= reachable:
                break
            page += 1
