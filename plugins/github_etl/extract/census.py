"""Mode ``census``: every public repository in an id range, listed in id order and enriched by the hundred.

``GET /repositories?since=ID`` lists the next 100 public repositories above ``ID``; walking it from one
id to another lists every public repository between them, once. Each page's 100 repositories are then
enriched in one GraphQL ``nodes`` call (one REST call each without a token). So a census costs about
two requests per 100 repositories.

The range is ``(since, until]``. A daily census starts at the census's cursor, stored in the warehouse
(``github.census_cursor``), and ends at the end of the id space found while planning; the load moves the
cursor to that end in its own transaction, so a failed run leaves it where it was and the next run
covers the failed run's range too. A range crawl names both ends. Either way the range is cut into
equal id ranges, one shard each, that run on as many workers as the deployment has.

Each shard stages every listing page and every enrichment batch as a numbered checkpoint (see
:class:`~github_etl.extract.shards.ShardRecorder`). A page's ``since`` is the last id of the page
before it, so a shard killed mid-run replays its staged pages and continues exactly where it stopped:
no repository is listed twice or skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from github_etl.errors import ConfigurationError, GitHubError
from github_etl.extract.budget import Fit, requests
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.sample import ENRICH_BATCH, LISTING_PATH, discover_max_id, list_repositories
from github_etl.extract.shards import IdRangeShard, ShardRecorder, equal_cuts
from github_etl.github.client import GitHubClient

if TYPE_CHECKING:
    from github_etl.hooks.warehouse import DatabaseConnection

log = logging.getLogger(__name__)

# The one census the warehouse keeps a cursor for (see schema.sql's github.census_cursor).
CENSUS_NAME = "repositories"
# GitHub's listing page: always 100 repositories but at the end of the id space.
PAGE_SIZE = 100
# Share of the ids that fit a run's budget that the narrower range a too-large run suggests takes.
FITTING_MARGIN = 0.9


def stored_cursor(db: DatabaseConnection) -> int | None:
    """The id up to which the census has loaded every public repository, or None before its first load."""
    with db.cursor() as cur:
        cur.execute("SELECT cursor_id FROM github.census_cursor WHERE census = %s", (CENSUS_NAME,))
        row = cur.fetchone()
    db.rollback()
    return None if row is None else int(row[0])


class CensusRange(NamedTuple):
    """The ids ``(since, until]`` a census run crawls, where ``since`` came from, and whether ``until`` is
    today's end of the id space (only such a crawl may start a census that has no cursor yet)."""

    since: int
    until: int
    origin: str
    reaches_end: bool


def census_range(
    client: GitHubClient, *, since_id: int | None, until_id: int | None, cursor: int | None
) -> CensusRange:
    """The id range ``(since, until]`` a census run crawls, and where its start came from.

    The start: the ``since_id`` param, else the stored cursor, else today's end of the id space (a first
    run without ``since_id`` loads nothing and starts the census there, rather than crawl every
    repository by accident). The end: the ``until_id`` param, else today's end of the id space; never
    past that end, as the load records the range as crawled.
    """
    end = discover_max_id(client) if since_id is None or until_id is None else None
    above_until: list[dict[str, Any]] = []
    if end is None and until_id is not None:
        # One page tells whether GitHub has reached until_id; only when it has not is the end looked for.
        above_until = list_repositories(client, until_id - 1)
        if not above_until:
            end = discover_max_id(client)
    if since_id is not None and end is not None and since_id > end:
        # A mistyped id (a digit too many) would crawl nothing and, as a first census, start the cursor up
        # there: every daily run after it would then crawl nothing too, and succeed.
        raise ConfigurationError(
            f"param 'since_id' is {since_id:,}, above today's end of GitHub's id space ({end:,}): there is "
            "nothing to crawl. Give an id GitHub has reached, or leave since_id out to go on from the cursor"
        )
    if since_id is not None:
        since, origin = since_id, "param since_id"
    elif cursor is not None:
        since, origin = cursor, "the stored cursor"
    else:
        since, origin = int(end or 0), "today's end of the id space (first census run)"
    until = until_id if until_id is not None else max(since, int(end or 0))
    if end is not None and until > end:
        # until_id=99999999999 "to the end" would store the cursor up there, and every census after it
        # would start past every repository GitHub has yet to create.
        log.info("param until_id %s is past today's end of the id space: crawling up to %s", until, end)
        until = max(since, end)
    # Without the end looked for, until_id is today's end when GitHub lists nothing above it.
    reaches_end = until >= end if end is not None else int(above_until[-1]["id"]) <= until
    return CensusRange(since, until, origin, reaches_end)


def estimate_repositories(client: GitHubClient, since: int, until: int) -> int:
    """Public repositories expected in ``(since, until]``, from the density of the range's first page.

    Only for the budget check: one listing request, made once per run.
    """
    if until <= since:
        return 0
    page = list_repositories(client, since)
    inside = [int(r["id"]) for r in page if since < int(r["id"]) <= until]
    if len(page) < PAGE_SIZE or not inside or int(page[-1]["id"]) >= until:
        return len(inside)
    density = len(inside) / (inside[-1] - since)
    return max(len(inside), round(density * (until - since)))


@dataclass(frozen=True)
class CensusShard(IdRangeShard):
    """Every public repository of the id range, about ``expected`` of them."""

    mode = "census"
    expected: int


def plan_census(*, since: int, until: int, shards: int, expected: int) -> list[CensusShard]:
    """Cut ``(since, until]`` into equal id ranges, one shard each, with their share of ``expected``."""
    if until <= since:
        return []
    shards = max(1, min(shards, until - since))
    ranges, shares = equal_cuts(since, until, shards), equal_cuts(0, expected, shards)
    return [
        CensusShard(key=f"census-{index:03d}", id_low=low, id_high=high, expected=share[1] - share[0])
        for index, ((low, high), share) in enumerate(zip(ranges, shares, strict=True))
    ]


class CensusMode(Mode[CensusShard]):
    enriches = True
    advice = "crawl a narrower range (since_id, until_id) per run"
    shard_type = CensusShard

    def plan(self, planning: Planning) -> Planned:
        params = planning.params
        cursor = None
        if params.since_id is None:
            with planning.connect(self.name, "(its cursor) or param since_id to plan") as db:
                cursor = stored_cursor(db)
        client = planning.client
        since, until, origin, reaches_end = census_range(
            client, since_id=params.since_id, until_id=params.until_id, cursor=cursor
        )
        expected = estimate_repositories(client, since, until)
        log.info("Census of ids (%s, %s], from %s: about %s public repositories", since, until, origin, expected)
        # A range short of today's end does not start a census that has no cursor yet: a trial crawl of old
        # ids would have the first daily census crawl every id above them.
        return Planned(
            shards=plan_census(since=since, until=until, shards=params.shards, expected=expected),
            # The load widens the census's covered range by this one, if they touch (advance_census_cursor.sql).
            census={"since_id": since, "until_id": until, "expected": expected, "reaches_end": int(reaches_end)},
        )

    def budget_advice(self, planned: Planned) -> str | Callable[[Fit], str]:
        if planned.census is None:
            return self.advice
        since, until = planned.census["since_id"], planned.census["until_id"]

        def advice(judged: Fit) -> str:
            fitting = judged.capacity / judged.needed
            # Requests grow with the ids crawled; the margin covers the shards' part-filled pages and batches
            # and ids denser than the first page's.
            first = since + max(1, math.floor((until - since) * fitting * FITTING_MARGIN))
            return (
                f'crawl a narrower range per run, e.g. {{"mode": "census", "since_id": {since}, "until_id": {first}}} '
                "first, then on from its until_id"
            )

        return advice

    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: CensusShard) -> None:
        """List every public repository with an id in ``(id_low, id_high]`` and stage it enriched.

        Repositories listed but gone by enrichment time are staged as gone: counted as skipped, and marked
        deleted by the load if the warehouse holds them.
        """
        low, high = shard.id_low, shard.id_high
        since = low
        pending: list[dict[str, Any]] = []
        while True:
            page = recorder.listing_page(lambda since=since: _listing_page(client, since, high))
            inside = [{"id": int(r["id"]), "node_id": r.get("node_id")} for r in page if since < int(r["id"]) <= high]
            pending.extend(inside)
            recorder.counts["listed"] += len(inside)
            while len(pending) >= ENRICH_BATCH:
                batch, pending = pending[:ENRICH_BATCH], pending[ENRICH_BATCH:]
                recorder.enriched(batch)
            # An empty page ends the id space; a page reaching past the shard's end ends the shard. A short
            # page that does neither (GitHub may skip ids it cannot show) just moves on.
            if not page or int(page[-1]["id"]) >= high:
                break
            since = int(page[-1]["id"])
        if pending:
            recorder.enriched(pending)

    def expected_repositories(self, shard: CensusShard) -> int:
        return shard.expected

    def shard_requests(self, shard: CensusShard, *, authenticated: bool) -> dict[str, int]:
        # Every listing page is full but the shard's last, which may reach past its end.
        listing = math.ceil(shard.expected / PAGE_SIZE) + 1
        return requests(authenticated=authenticated, core=listing, enriched=shard.expected)


def _listing_page(client: GitHubClient, since: int, high: int) -> list[dict[str, Any]]:
    """The listing page after ``since``, refused before it is staged when it cannot be a true one: a staged
    page is read back by every retry, so a page lost on the way would fail the shard, or end it, for good."""
    page = list_repositories(client, since)
    if page and int(page[-1]["id"]) <= since:
        # The listing did not move past since= (a proxy dropping the query string, say): asking on from
        # there would crawl forever.
        raise GitHubError(
            f"{LISTING_PATH}?since={since} answered ids up to {page[-1]['id']}, none above since=; "
            "the listing does not move forward, so the shard stops here and is tried again"
        )
    if not page and since < high and list_repositories(client, high):
        # Nothing after since= yet something after the shard's end: the page was lost on the way. Taken for
        # the end of the id space, it would have the cursor pass over ids no page listed.
        raise GitHubError(
            f"{LISTING_PATH}?since={since} answered no repositories, yet GitHub lists some above id {high}; "
            "the page was lost on the way, so the shard stops here and is tried again"
        )
    return page
