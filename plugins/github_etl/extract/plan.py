"""Split a run into shards, per mode, and run one shard; both checkpointed in staging."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from github_etl.extract.budget import check_budget, requests_needed
from github_etl.extract.census import (
    census_range,
    estimate_repositories,
    extract_census_shard,
    plan_census,
    stored_cursor,
)
from github_etl.extract.owners import extract_owners_shard, plan_owners
from github_etl.extract.refresh import extract_refresh_shard, plan_refresh
from github_etl.extract.sample import discover_max_id, extract_sample_shard, plan_sample, sample_quotas
from github_etl.extract.search import extract_search_shard, plan_search, plan_slices
from github_etl.extract.shards import Shard, ShardRecorder
from github_etl.github.client import GitHubClient
from github_etl.params import RunParams
from github_etl.settings import run_deadline_hours
from github_etl.staging import RunStaging

if TYPE_CHECKING:
    from github_etl.hooks.warehouse import DatabaseConnection

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"

EXTRACTORS: dict[str, Callable[[GitHubClient, ShardRecorder, Shard], None]] = {
    "sample": extract_sample_shard,
    "search": extract_search_shard,
    "owners": extract_owners_shard,
    "refresh": extract_refresh_shard,
    "census": extract_census_shard,
}


# What a user can lower when a run does not fit its budget, per mode.
ADVICE = {
    "sample": "lower sample_size",
    "search": "narrow the query (a created: range, more qualifiers)",
    "owners": "name fewer owners per run",
    "refresh": "set stale_days to refresh fewer repositories per run",
    "census": "crawl a narrower range (since_id, until_id) per run",
}


def sample_seed(logical_date: datetime, seed: int | None) -> str:
    """Seed material of a run's random choices: same logical date and seed, same sample."""
    return f"{logical_date.isoformat()}|{seed if seed is not None else ''}"


def plan_run(
    client: GitHubClient,
    staging: RunStaging,
    params: RunParams,
    *,
    logical_date: datetime,
    warehouse: Callable[[], DatabaseConnection] | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Decide the run's shards (once: a retried run reuses the staged plan) and check they fit the budget.

    :raise BudgetTooSmallError: the shards need more requests than GitHub gives before the run's deadline.
    """
    if staging.exists(PLAN_FILE):
        log.info("Reusing the staged plan %s", staging.uri(PLAN_FILE))
        return staging.read_json(PLAN_FILE)
    plan: dict[str, Any] = {"mode": params.mode}

    def check(shards: list[Shard], *, announce: bool) -> dict[str, int]:
        needs = requests_needed(params.mode, shards, authenticated=client.authenticated)
        check_budget(
            needs,
            client.budgets(),
            now=clock(),
            deadline_hours=run_deadline_hours(),
            authenticated=client.authenticated,
            advice=ADVICE[params.mode],
            announce=announce,
        )
        return needs

    if params.mode == "sample":
        # A sample's cost is known before the id space is: refuse an impossible one before discovering it.
        quotas = sample_quotas(params.sample_size, params.shards)
        check([{"quota": quota, "per_page_take": params.per_page_take} for quota in quotas], announce=False)
        max_id = discover_max_id(client)
        log.info("Public repository ids run up to %s", max_id)
        plan["max_id"] = max_id
        shards = plan_sample(
            max_id=max_id,
            sample_size=params.sample_size,
            shards=params.shards,
            seed=sample_seed(logical_date, params.seed),
            per_page_take=params.per_page_take,
        )
    elif params.mode == "search":
        sliced = plan_slices(client, params.query, now=int(clock()))
        plan["matches"] = sliced.matches
        plan["probes"] = sliced.probes
        plan["unreachable"] = sliced.unreachable
        log.info(
            "%s match(es) in %s slice(s), counted with %s probe(s)", sliced.matches, len(sliced.slices), sliced.probes
        )
        shards = plan_search(sliced.slices, shards=params.shards)
    elif params.mode == "owners":
        shards = plan_owners(list(params.owners), shards=params.shards)
    elif params.mode == "census":
        cursor = None
        if params.since_id is None:
            if warehouse is None:
                raise ValueError("mode census needs the warehouse (its cursor) or param since_id to plan")
            with warehouse() as db:
                cursor = stored_cursor(db)
        since, until, origin = census_range(client, since_id=params.since_id, until_id=params.until_id, cursor=cursor)
        expected = estimate_repositories(client, since, until)
        log.info("Census of ids (%s, %s], from %s: about %s public repositories", since, until, origin, expected)
        # The load widens the census's covered range by this one, if they touch (advance_census_cursor.sql).
        plan["census"] = {"since_id": since, "until_id": until, "expected": expected}
        shards = plan_census(since=since, until=until, shards=params.shards, expected=expected)
    else:
        if warehouse is None:
            raise ValueError("mode refresh needs the warehouse to plan")
        with warehouse() as db:
            shards = plan_refresh(
                db, staging, logical_date=logical_date, stale_days=params.stale_days, shards=params.shards
            )
    plan["shards"] = shards
    plan["requests_needed"] = check(shards, announce=True)
    plan["discovery_requests"] = client.api_requests
    staging.write_json(plan, PLAN_FILE)
    log.info("Planned %s shard(s) with %s discovery request(s)", len(shards), client.api_requests)
    return plan


def run_shard(client: GitHubClient, staging: RunStaging, shard: Shard) -> dict[str, Any]:
    """Extract one shard, resuming from its checkpoints; returns its counts and the URI of its summary."""
    recorder = ShardRecorder(staging, shard, client)
    finished = recorder.already_done()
    if finished is not None:
        log.info("Shard %s is already staged; nothing to fetch", shard["key"])
        return finished
    EXTRACTORS[shard["mode"]](client, recorder, shard)
    summary = recorder.done()
    log.info(
        "Shard %s: listed %s, enriched %s, skipped %s, %s API request(s)",
        shard["key"],
        summary["listed"],
        summary["enriched"],
        summary["skipped"],
        summary["api_requests"],
    )
    return summary
