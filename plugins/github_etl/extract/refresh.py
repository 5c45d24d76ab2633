"""Mode ``refresh``: re-fetch repositories already in the warehouse to record today's snapshot.

This is how stars are tracked over time. Repositories GitHub no longer serves get ``deleted_at`` set
by the load; they are never dropped, and are checked again like the others: a repository restored,
made public again or whose takedown was lifted is served again, and the load then clears its mark.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from github_etl.extract.budget import requests
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.shards import Shard, ShardRecorder
from github_etl.github.client import GitHubClient
from github_etl.staging import RunStaging, iter_jsonl_uri

if TYPE_CHECKING:
    from github_etl.hooks.warehouse import DatabaseConnection

# One GraphQL nodes() call per batch.
BATCH = 100
# Rows fetched from the warehouse per round trip while planning.
FETCH_SIZE = 10_000


@dataclass(frozen=True)
class RefreshShard(Shard):
    """``count`` repositories of the warehouse, their ``{"id", "node_id"}`` staged at ``ids_uri`` (and
    ``"gone"``, the reason stored, for those marked deleted)."""

    mode = "refresh"
    ids_uri: str
    count: int


def plan_refresh(
    db: DatabaseConnection,
    staging: RunStaging,
    *,
    today: date,
    stale_days: int | None,
    shards: int,
) -> list[RefreshShard]:
    """Write the ids to refresh into one staged file per shard (ids never travel through XCom).

    :param today: the UTC date the run fetches on; with ``stale_days``, only the repositories whose last
        observation is that many dates before it or more are refreshed, counted in the UTC dates
        snapshots are stored under, whatever the logical date or the zones of Airflow and the warehouse.
    """
    query = "SELECT r.id, r.node_id, r.deleted_reason FROM github.repositories r"
    args: list[Any] = []
    if stale_days is not None:
        query += " WHERE r.last_seen_at < %s"
        # An aware moment, not a date: the warehouse session's zone must not decide where a day begins.
        args.append(datetime.combine(today + timedelta(days=1 - stale_days), time.min, UTC))
    query += " ORDER BY r.id"
    shards = max(1, shards)
    counts = [0] * shards
    with ExitStack() as stack:
        writers = [stack.enter_context(staging.writer("plan", f"refresh-{i:03d}.jsonl")) for i in range(shards)]
        # A server-side cursor streams the ids: planning a refresh of millions stays in constant memory.
        cursor = stack.enter_context(db.connection.cursor(name="github_etl_refresh_plan"))
        cursor.itersize = FETCH_SIZE
        cursor.execute(query, args)
        for position, (repo_id, node_id, gone) in enumerate(cursor):
            index = (position // BATCH) % shards
            record = {"id": int(repo_id), "node_id": node_id}
            if gone is not None:
                # Known gone: if GraphQL still finds no node, no REST request asks why again.
                record["gone"] = gone
            writers[index].write(json.dumps(record) + "\n")
            counts[index] += 1
    return [
        RefreshShard(key=f"refresh-{i:03d}", ids_uri=staging.uri("plan", f"refresh-{i:03d}.jsonl"), count=counts[i])
        for i in range(shards)
        if counts[i]
    ]


class RefreshMode(Mode[RefreshShard]):
    enriches = True
    advice = "set stale_days to refresh fewer repositories per run"
    shard_type = RefreshShard

    def plan(self, planning: Planning) -> Planned:
        from github_etl.extract import shards as shard_files
        from github_etl.load.observation import snapshot_date_of

        params = planning.params
        with planning.connect(self.name, "to plan") as db:
            shards = plan_refresh(
                db,
                planning.staging,
                # What is stale is counted back from the day the run fetches on, as its data will be dated;
                # a backfill's logical date may lie weeks before.
                today=snapshot_date_of(shard_files.observation_clock()),
                stale_days=params.stale_days,
                shards=params.shards,
            )
        return Planned(shards=shards)

    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: RefreshShard) -> None:
        batch: list[dict[str, Any]] = []
        for record in iter_jsonl_uri(shard.ids_uri):
            batch.append(record)
            if len(batch) == BATCH:
                recorder.enriched(batch)
                batch = []
        if batch:
            recorder.enriched(batch)
        recorder.counts["listed"] = recorder.counts["enriched"] + recorder.counts["skipped"]

    def expected_repositories(self, shard: RefreshShard) -> int:
        return shard.count

    def shard_requests(self, shard: RefreshShard, *, authenticated: bool) -> dict[str, int]:
        return requests(authenticated=authenticated, enriched=shard.count)
