"""Mode ``search``: every repository matching a GitHub search query, past the 1,000-result cap.

GitHub's search API returns at most 1,000 results per query. Cutting the query's creation range
into slices, recursively halved until each holds at most 1,000 results, reaches every match: by
whole days while a slice spans several, then by time of day down to one second, since GitHub reads
date-times to the second. Each slice is then read page by page (100 full repository objects per
page, so no enrichment is needed). The search budget is small (30 requests a minute with a token);
the client waits for its reset.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from github_etl.errors import ConfigurationError, GitHubError, GitHubUnavailableError
from github_etl.extract.budget import requests
from github_etl.extract.enrich import StagedBatch
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.search_query import SECONDS_PER_DAY, parse_search_query, render_created, render_instant
from github_etl.extract.shards import PROGRESS_EVERY_S, Shard, ShardRecorder, duration
from github_etl.github.client import GitHubClient
from github_etl.params import RunParams
from github_etl.staging import RunStaging, iter_jsonl_uri

log = logging.getLogger(__name__)

SEARCH_PATH = "/search/repositories"
# GitHub serves only the first 1,000 results of any search.
MAX_RESULTS_PER_QUERY = 1000
# GitHub ignores larger pages.
PER_PAGE = 100
# A search answered incomplete (GitHub timed out internally) is asked again this many times.
INCOMPLETE_RETRIES = 2
# A slice whose matches changed while its pages were read is read again, this many readings in all: the
# reading that finds them still is complete, and the earlier ones add what has since moved out of reach.
MAX_SLICE_READINGS = 3


@dataclass(frozen=True)
class SlicePlan:
    """The slices of a search and what slicing them cost.

    :param slices: ``{"query", "total"}`` per slice, in creation order, each with at most 1,000 matches
        except single seconds that hold more.
    :param probes: search requests spent counting slices.
    :param unreachable: the seconds holding more than 1,000 matches: ``{"second", "matches", "unreachable"}``.
    """

    slices: list[dict[str, Any]]
    probes: int
    unreachable: list[dict[str, Any]]

    @property
    def matches(self) -> int:
        return sum(piece["total"] for piece in self.slices)


def _search(client: GitHubClient, query: str, *, page: int, per_page: int) -> dict[str, Any]:
    """A page of ``query``'s results, complete: a search GitHub timed out on is asked again.

    A count or a page that says ``incomplete_results`` holds only what GitHub found in time: a slice
    counted short could hold more than it serves, a page read short would end its slice early. Still
    incomplete after :data:`INCOMPLETE_RETRIES`, it fails as GitHub being unavailable: the task is
    retried later, from its checkpoints, instead of staging part of a page as if it were all.
    """
    for attempt in range(INCOMPLETE_RETRIES + 1):
        data = _search_once(client, query, page=page, per_page=per_page)
        if not data.get("incomplete_results"):
            return data
        log.info("Search page %s of %r was incomplete (attempt %s); asking again", page, query, attempt + 1)
    raise GitHubUnavailableError(
        f"GitHub's search timed out on {query!r} (page {page}) {INCOMPLETE_RETRIES + 1} times in a row "
        "(incomplete_results); the task is retried later, or narrow the query"
    )


def _search_once(client: GitHubClient, query: str, *, page: int, per_page: int) -> dict[str, Any]:
    try:
        data = client.get(SEARCH_PATH, {"q": query, "per_page": per_page, "page": page}, resource="search").data
    except GitHubError as exc:
        # 422 is GitHub refusing the query itself (an org: or user: that does not exist, a syntax it cannot
        # read): the same on every try, so the run fails at once instead of retrying for minutes.
        if exc.status == 422:
            raise ConfigurationError(f"param 'query': GitHub refused the search {query!r}: {exc}") from exc
        raise
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError(f"search for {query!r} did not answer an object with items")
    return data


def _read_slice(
    client: GitHubClient, recorder: ShardRecorder, piece: dict[str, Any]
) -> tuple[str | None, set[int], int]:
    """Read a slice's pages: how its matches changed meanwhile (None when they held still), the ids read, and
    how many entries had no id (the transform quarantines them).

    Each page is a fresh search, so a repository that starts or stops matching, or moves in the order,
    between two pages shifts the ones after it: one is then served twice and another not at all. A
    count that differs between pages, or a repository served twice, shows such a shift.
    """
    totals: set[int] = set()
    seen: set[int] = set()
    repeated = 0
    without_id = 0
    page = 1
    while True:

        def fetch(page: int = page, query: str = piece["query"]) -> StagedBatch:
            data = _search(client, query, page=page, per_page=PER_PAGE)
            return StagedBatch(items=data["items"], total=int(data["total_count"]))

        batch = recorder.full_objects(fetch)
        totals.add(batch.total or 0)
        # Only a repository an earlier page served shows a shift; one repeated within a page does not.
        ids = {repo_id for item in batch.items if isinstance(item, dict) and type(repo_id := item.get("id")) is int}
        without_id += sum(1 for item in batch.items if not isinstance(item, dict) or type(item.get("id")) is not int)
        ids.update(batch.gone)
        repeated += len(ids & seen)
        seen |= ids
        if page == 1 and (batch.total or 0) > MAX_RESULTS_PER_QUERY >= piece["total"]:
            log.warning(
                "%r matches %s repositories now (%s when planned); GitHub serves 1,000 of them, the "
                "others are left for the next run",
                piece["query"],
                batch.total,
                piece["total"],
            )
        reachable = min(batch.total or 0, MAX_RESULTS_PER_QUERY)
        # What GitHub served, a repository staged as not public included: a full page of it is not the last.
        if len(batch.items) + len(batch.gone) < PER_PAGE or page * PER_PAGE >= reachable:
            break
        page += 1
    changes = []
    if len(totals) > 1:
        changes.append(f"counted {min(totals):,} to {max(totals):,}")
    if repeated:
        changes.append(f"{repeated:,} served twice")
    return ", ".join(changes) or None, seen, without_id


def _sliced(base: str, low: int, high: int) -> str:
    return f"{base} {render_created(low, high)}".strip()


def _halve(low: int, high: int) -> int:
    """Last second of the first half of ``[low, high]``.

    A range that crosses midnight is cut at the midnight nearest its middle: whole-day slices read well
    in logs and GitHub counts them as fast. Within one day, the cut is the middle second.
    """
    middle = low + (high - low) // 2
    first_midnight = (low // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY
    last_midnight = (high // SECONDS_PER_DAY) * SECONDS_PER_DAY
    if first_midnight > high:
        return middle
    nearest = (middle + 1 + SECONDS_PER_DAY // 2) // SECONDS_PER_DAY * SECONDS_PER_DAY
    return min(max(nearest, first_midnight), last_midnight) - 1


def plan_slices(
    client: GitHubClient, query: str, *, now: int, monotonic: Callable[[], float] = time.monotonic
) -> SlicePlan:
    """Cut ``query`` into creation-time slices of at most 1,000 results each (probing with 1-result pages).

    A search of millions takes thousands of probes, an hour and more at the search budget's 30 a minute;
    every :data:`~github_etl.extract.shards.PROGRESS_EVERY_S` a line tells how far the slicing is.

    :param query: the user's query; its ``created:`` range (or all time) is what is sliced.
    :param now: epoch seconds closing an open-ended range.
    :param monotonic: the clock of the progress lines, injectable for tests.
    """
    parsed = parse_search_query(query)
    low, high = parsed.bounds(now=now)
    slices: list[dict[str, Any]] = []
    unreachable: list[dict[str, Any]] = []
    probes = 0
    stack = [(low, high)] if low <= high else []
    started = last_report = monotonic()
    while stack:
        first, last = stack.pop()
        now_s = monotonic()
        if now_s - last_report >= PROGRESS_EVERY_S:
            last_report = now_s
            # Slices come in creation order: everything created before `first` is counted.
            log.info(
                "Slicing %r: counted up to %s of %s..%s, %s slice(s) holding %s match(es), %s probe(s) in %s",
                parsed.base,
                render_instant(first),
                render_instant(low),
                render_instant(high),
                f"{len(slices):,}",
                f"{sum(piece['total'] for piece in slices):,}",
                f"{probes:,}",
                duration(now_s - started),
            )
        text = _sliced(parsed.base, first, last)
        total = int(_search(client, text, page=1, per_page=1)["total_count"])
        probes += 1
        if total == 0:
            continue
        if total <= MAX_RESULTS_PER_QUERY or first == last:
            if total > MAX_RESULTS_PER_QUERY:
                second = render_instant(first)
                missed = total - MAX_RESULTS_PER_QUERY
                log.warning(
                    "%s repositories matching %r were created in the second %s: GitHub serves 1,000 of them, "
                    "%s cannot be reached by any search",
                    total,
                    parsed.base,
                    second,
                    missed,
                )
                unreachable.append({"second": second, "matches": total, "unreachable": missed})
            slices.append({"query": text, "total": total})
            continue
        middle = _halve(first, last)
        # Push the later half first so slices come out in creation order.
        stack.append((middle + 1, last))
        stack.append((first, middle))
    return SlicePlan(slices, probes, unreachable)


@dataclass(frozen=True)
class SearchShard(Shard):
    """``slices`` slices of a search, ``{"query", "total"}`` each, staged at ``slices_uri`` and read page by page:
    a search of millions has thousands of slices, which stay out of XCom. ``matches`` and ``pages`` are
    what the slices held when counted."""

    mode = "search"
    slices_uri: str
    slices: int
    matches: int
    pages: int

    @classmethod
    def of(cls, key: str, pieces: list[dict[str, Any]], slices_uri: str) -> SearchShard:
        """The shard of ``pieces`` staged at ``slices_uri``."""
        pages = sum(math.ceil(min(piece["total"], MAX_RESULTS_PER_QUERY) / PER_PAGE) for piece in pieces)
        matches = sum(int(piece["total"]) for piece in pieces)
        return cls(key=key, slices_uri=slices_uri, slices=len(pieces), matches=matches, pages=pages)


def plan_search(slices: list[dict[str, Any]], staging: RunStaging, *, shards: int) -> list[SearchShard]:
    """Deal slices into at most ``shards`` shards of similar result counts, each shard's slices staged."""
    shards = max(1, min(shards, len(slices) or 1))
    dealt: list[list[dict[str, Any]]] = [[] for _ in range(shards)]
    totals = [0] * shards
    for piece in sorted(slices, key=lambda s: -s["total"]):
        lightest = totals.index(min(totals))
        dealt[lightest].append(piece)
        totals[lightest] += piece["total"]
    planned = []
    for index, pieces in enumerate(dealt):
        if not pieces:
            continue
        key = f"search-{index:03d}"
        with staging.writer("plan", f"{key}.jsonl") as out:
            out.writelines(json.dumps(piece) + "\n" for piece in pieces)
        planned.append(SearchShard.of(key, pieces, staging.uri("plan", f"{key}.jsonl")))
    return planned


class SearchMode(Mode[SearchShard]):
    advice = "narrow the query (a created: range, more qualifiers)"
    shard_type = SearchShard

    def check_params(self, params: RunParams) -> None:
        if not params.query:
            raise ConfigurationError(
                "mode 'search' needs a non-empty param 'query' in GitHub's search syntax, e.g. 'language:rust'"
            )
        parse_search_query(params.query)

    def plan(self, planning: Planning) -> Planned:
        sliced = plan_slices(planning.client, planning.params.query, now=int(planning.clock()))
        log.info(
            "%s match(es) in %s slice(s), counted with %s probe(s)", sliced.matches, len(sliced.slices), sliced.probes
        )
        return Planned(
            shards=plan_search(sliced.slices, planning.staging, shards=planning.params.shards),
            unreachable=sliced.unreachable,
            found={"matches": sliced.matches, "probes": sliced.probes},
        )

    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: SearchShard) -> None:
        for piece in iter_jsonl_uri(shard.slices_uri):
            read: set[int] = set()
            for reading in range(1, MAX_SLICE_READINGS + 1):
                change, ids, without_id = _read_slice(client, recorder, piece)
                missed = ids - read
                read |= ids
                if change is None:
                    break
                if reading > 1 and not missed:
                    # Counts that change with nothing moved onto a page read already (matches leaving after
                    # where the reading is) would have such a slice read three times for nothing.
                    log.info(
                        "The matches of %r changed again (%s), but reading %s found none the earlier reading(s) "
                        "missed; going on",
                        piece["query"],
                        change,
                        reading,
                    )
                    break
                if reading < MAX_SLICE_READINGS:
                    log.warning(
                        "The matches of %r changed while it was read (%s); reading it again", piece["query"], change
                    )
                else:
                    log.warning(
                        "The matches of %r still changed on reading %s (%s); a match that moved between its pages "
                        "may be missing from this run, and is read by the next",
                        piece["query"],
                        reading,
                        change,
                    )
            # A repository served by several readings, or twice by one, was listed once.
            recorder.counts["listed"] += len(read) + without_id

    def expected_repositories(self, shard: SearchShard) -> int:
        return shard.matches

    def shard_requests(self, shard: SearchShard, *, authenticated: bool) -> dict[str, int]:
        return requests(authenticated=authenticated, search=shard.pages)
