"""Mode ``sample``: a uniform random sample of all public repositories.

``GET /repositories?since=ID`` lists public repositories in id order, 100 per page. Jumping to random
``since`` points across the *whole* id space (its upper end discovered from the API, never hard-coded)
and taking repositories from the pages found there samples old and new repositories alike.

The id space is cut into equal ranges, one per shard, each with an equal share of the sample
(stratified sampling: still uniform, and the shards can never pick the same repository). Every random
choice comes from a generator seeded by the run's logical date, the optional ``seed`` param and the
shard, so a retry or a re-run of the same run picks the same repositories.

``per_page_take`` trades randomness for quota: taking all 100 repositories of a page costs one
listing call per 100 repositories but clusters the sample in id (hence creation time); taking one per
page is the most random and costs a listing call per repository.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from github_etl.errors import GitHubError
from github_etl.extract.budget import Fit, requests
from github_etl.extract.distinct_ids import DistinctIds
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.shards import IdRangeShard, ShardRecorder, equal_cuts
from github_etl.github.client import GitHubClient

log = logging.getLogger(__name__)

LISTING_PATH = "/repositories"
# First guess of the id space's size when probing for its end; doubled until a page comes back empty.
FIRST_PROBE_ID = 1 << 20
# Far beyond GitHub's ids (1.1 billion in 2026) yet bounded, so a misbehaving server cannot loop us.
LAST_PROBE_ID = 1 << 40
# About what finding the end of GitHub's ids spends: eleven doublings from FIRST_PROBE_ID, most reading the page
# after a full one too, and a bisection of some twenty steps (fewer on a smaller GitHub).
DISCOVERY_REQUESTS = 40
# The sample_size advised to a run short of budget leaves this share of the budget to chance (pages short of
# picks, repositories replaced).
FITTING_MARGIN = 0.95
# Enrich in batches of this many repositories (GraphQL's nodes() limit).
ENRICH_BATCH = 100
# A range whose random pages yield no repository not yet picked this many times in a row is taken as
# exhausted. It may still hold a few (a sample of nearly all of a small range); a sweep of the range to
# find them could cost as many requests as the range has repositories.
MAX_BARREN_PAGES = 20


def list_repositories(client: GitHubClient, since: int) -> list[dict[str, Any]]:
    """One page of ``GET /repositories?since=``: the next public repositories above ``since``, in id order."""
    page = client.get(LISTING_PATH, {"since": since}).data
    if not isinstance(page, list):
        raise GitHubError(f"{LISTING_PATH}?since={since} did not answer a list but {type(page).__name__}")
    for position, entry in enumerate(page):
        # Callers read and compare every entry's id: one that is not a positive integer is no listing.
        repo_id = entry.get("id") if isinstance(entry, dict) else None
        if type(repo_id) is not int or repo_id < 1:
            raise GitHubError(
                f"{LISTING_PATH}?since={since} answered an entry without a positive integer id at "
                f"position {position}: {repr(entry)[:200]}"
            )
    return page


def discover_max_id(client: GitHubClient) -> int:
    """Find the highest public repository id by probing listings: exponentially, then by bisection.

    Only a listing with nothing after it ends the id space. A short page usually does, but GitHub may also leave
    out ids it will not show mid-space: taken for the end, it would confine the sample to the oldest repositories.
    """
    low, high = 0, FIRST_PROBE_ID
    while True:
        page = list_repositories(client, high)
        if not page:
            break
        low, ended = _last_listed(client, page)
        if ended or high >= LAST_PROBE_ID:
            return low
        high = min(high * 2, LAST_PROBE_ID)
    # The end lies in (low, high]: ``since=low`` was non-empty (or low is 0), ``since=high`` empty.
    best = low
    while high - low > 1:
        middle = (low + high) // 2
        page = list_repositories(client, middle)
        if not page:
            high = middle
            continue
        low, ended = _last_listed(client, page)
        best = max(best, low)
        if ended:
            return best
    return best


def _last_listed(client: GitHubClient, page: list[dict[str, Any]]) -> tuple[int, bool]:
    """The last id listed from a non-empty ``page`` on, and whether GitHub lists nothing after it.

    A short page costs one more request, to tell the end from a page GitHub left ids out of; only one, so that
    a listing where most pages are short costs no more than twice the search.
    """
    last = int(page[-1]["id"])
    if len(page) >= 100:
        return last, False
    after = list_repositories(client, last)
    return (int(after[-1]["id"]), False) if after else (last, True)


def _fitting_sample(sample_size: int, fixed: Mapping[str, int]) -> Callable[[Fit], str]:
    """The advice of a sample short of budget: a sample_size that fits, as the cost of the rest grows with it."""

    def advice(judged: Fit) -> str:
        spare = judged.capacity - fixed.get(judged.resource, 0)
        grows = judged.needed - fixed.get(judged.resource, 0)
        fitting = math.floor(sample_size * max(0, spare) / max(1, grows) * FITTING_MARGIN)
        if fitting < 1:
            return "wait for the budget's reset"
        return f"lower sample_size to {fitting:,} or less"

    return advice


def sample_quotas(sample_size: int, shards: int) -> list[int]:
    """Each shard's share of the sample: equal, the remainder going to the first shards."""
    shards = max(1, min(shards, sample_size))
    return [sample_size // shards + (1 if index < sample_size % shards else 0) for index in range(shards)]


@dataclass(frozen=True)
class SampleShard(IdRangeShard):
    """``quota`` repositories picked at random in the id range, by ``per_page_take`` a listing page."""

    mode = "sample"
    quota: int
    seed: str
    per_page_take: int


class SampleMode(Mode[SampleShard]):
    enriches = True
    advice = "lower sample_size"
    shard_type = SampleShard

    def plan(self, planning: Planning) -> Planned:
        params = planning.params
        quotas = sample_quotas(params.sample_size, params.shards)
        # Seed material of the run's random choices: same logical date and seed, same sample.
        seed = f"{planning.logical_date.isoformat()}|{params.seed if params.seed is not None else ''}"

        def shards(max_id: int) -> list[SampleShard]:
            """Equal id ranges of ``(0, max_id]`` with equal shares of the sample."""
            return [
                SampleShard(
                    key=f"sample-{index:03d}",
                    id_low=low,
                    id_high=high,
                    quota=quota,
                    seed=f"{seed}:{index}",
                    per_page_take=params.per_page_take,
                )
                for index, (quota, (low, high)) in enumerate(
                    zip(quotas, equal_cuts(0, max_id, len(quotas)), strict=True)
                )
            ]

        # A sample's cost does not depend on the id space: refuse an impossible one before discovering it, counting
        # what discovering it will spend, so that the sample_size the advice gives fits once discovered.
        discovery = {"core": DISCOVERY_REQUESTS}
        planning.check_budget(shards(0), extra=discovery, advice=_fitting_sample(params.sample_size, discovery))
        max_id = discover_max_id(planning.client)
        log.info("Public repository ids run up to %s", max_id)
        return Planned(shards=shards(max_id), found={"max_id": max_id})

    def budget_advice(self, planned: Planned) -> Callable[[Fit], str]:
        return _fitting_sample(sum(shard.quota for shard in planned.shards), {})

    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: SampleShard) -> None:
        """Pick ``quota`` distinct repositories with ids in ``(id_low, id_high]`` and stage them enriched.

        Repositories that vanish between listing and enrichment are counted and replaced by further picks.
        """
        rng = random.Random(shard.seed)
        low, high, quota, take = shard.id_low, shard.id_high, shard.quota, shard.per_page_take
        # Every pick of the shard, so that none is picked twice: 8 bytes or so each (see DistinctIds).
        chosen = DistinctIds()
        pending: list[dict[str, Any]] = []
        barren = 0
        while recorder.counts["enriched"] < quota:
            needed = quota - recorder.counts["enriched"] - len(pending)
            if needed > 0:
                if barren >= MAX_BARREN_PAGES:
                    log.warning(
                        "Shard %s: %s random pages of ids (%s, %s] in a row held no repository not picked yet; "
                        "it ends with %s of its %s",
                        shard.key,
                        MAX_BARREN_PAGES,
                        low,
                        high,
                        recorder.counts["enriched"] + len(pending),
                        quota,
                    )
                    if not pending:
                        break
                else:
                    since = rng.randrange(low, max(low + 1, high))
                    page = recorder.listing_page(lambda since=since: list_repositories(client, since))
                    candidates = [r for r in page if low < int(r["id"]) <= high and int(r["id"]) not in chosen]
                    picked = rng.sample(candidates, min(take, len(candidates), needed))
                    barren = 0 if picked else barren + 1
                    picked.sort(key=lambda r: int(r["id"]))
                    chosen.update(int(r["id"]) for r in picked)
                    pending.extend({"id": int(r["id"]), "node_id": r.get("node_id")} for r in picked)
                    recorder.counts["listed"] += len(picked)
            if pending and (len(pending) >= ENRICH_BATCH or needed <= 0 or barren >= MAX_BARREN_PAGES):
                batch, pending = pending[:ENRICH_BATCH], pending[ENRICH_BATCH:]
                recorder.enriched(batch)

    def expected_repositories(self, shard: SampleShard) -> int:
        return shard.quota

    def shard_requests(self, shard: SampleShard, *, authenticated: bool) -> dict[str, int]:
        listing = math.ceil(shard.quota / shard.per_page_take)
        return requests(authenticated=authenticated, core=listing, enriched=shard.quota)
