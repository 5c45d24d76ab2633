"""Mode ``owners``: every public repository of the given users and organisations.

``/orgs/{org}/repos`` lists an organisation's repositories; a user's are at ``/users/{login}/repos``.
Both return full repository objects, 100 per page, so no enrichment is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from github_etl.errors import ConfigurationError
from github_etl.extract.budget import requests
from github_etl.extract.enrich import StagedBatch
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.shards import Shard, ShardRecorder
from github_etl.github.client import GitHubClient, next_link
from github_etl.params import RunParams

log = logging.getLogger(__name__)

# GitHub ignores larger pages.
PER_PAGE = 100


@dataclass(frozen=True)
class OwnersShard(Shard):
    """Users and organisations whose public repositories are listed."""

    mode = "owners"
    owners: list[str]


def _first_page(client: GitHubClient, owner: str) -> tuple[list[dict[str, Any]], str | None] | None:
    params = {"per_page": PER_PAGE, "type": "public"}
    for path in (f"/orgs/{owner}/repos", f"/users/{owner}/repos"):
        response = client.get(path, params, tolerate_gone=True)
        if not response.gone:
            return list(response.data or []), next_link(response.headers.get("link"))
    return None


class OwnersMode(Mode[OwnersShard]):
    advice = "name fewer owners per run"
    shard_type = OwnersShard

    def plan(self, planning: Planning) -> Planned:
        owners = list(planning.params.owners)
        shards = max(1, min(planning.params.shards, len(owners)))
        return Planned(
            shards=[
                OwnersShard(key=f"owners-{i:03d}", owners=owners[i::shards]) for i in range(shards) if owners[i::shards]
            ]
        )

    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: OwnersShard) -> None:
        missing: list[str] = []
        for owner in shard.owners:
            next_url: str | None = None

            def first(owner: str = owner) -> StagedBatch:
                found = _first_page(client, owner)
                if found is None:
                    return StagedBatch(missing_owner=owner)
                items, link = found
                return StagedBatch(items=items, next=link)

            batch = recorder.full_objects(first)
            if batch.missing_owner:
                log.warning("GitHub knows no user or organisation %r; skipped", owner)
                missing.append(owner)
                continue
            recorder.counts["listed"] += len(batch.items)
            next_url = batch.next
            while next_url:

                def following(url: str = next_url) -> StagedBatch:
                    response = client.get(url)
                    return StagedBatch(items=list(response.data or []), next=next_link(response.headers.get("link")))

                batch = recorder.full_objects(following)
                recorder.counts["listed"] += len(batch.items)
                next_url = batch.next
        recorder.counts["missing_owners"] = len(missing)

    def shard_requests(self, shard: OwnersShard, *, authenticated: bool) -> dict[str, int]:
        # An owner's first page; further pages are not known before they are listed.
        return requests(authenticated=authenticated, core=len(shard.owners))

    def check_params(self, params: RunParams) -> None:
        if not params.owners:
            raise ConfigurationError(
                "mode 'owners' needs param 'owners': a list of users or organisations, e.g. ['apache']"
            )
