"""Mode ``owners``: every public repository of the given users and organisations.

``/orgs/{org}/repos`` lists an organisation's repositories; a user's are at ``/users/{login}/repos``.
Both return full repository objects, 100 per page, so no enrichment is needed.
"""

from __future__ import annotations

import logging
from typing import Any

from github_etl.extract.shards import Shard, ShardRecorder
from github_etl.github.client import GitHubClient, next_link

log = logging.getLogger(__name__)

# GitHub ignores larger pages.
PER_PAGE = 100


def plan_owners(owners: list[str], *, shards: int) -> list[Shard]:
    shards = max(1, min(shards, len(owners)))
    return [
        {"key": f"owners-{i:03d}", "mode": "owners", "owners": owners[i::shards]}
        for i in range(shards)
        if owners[i::shards]
    ]


def _first_page(client: GitHubClient, owner: str) -> tuple[list[dict[str, Any]], str | None] | None:
    params = {"per_page": PER_PAGE, "type": "public"}
    for path in (f"/orgs/{owner}/repos", f"/users/{owner}/repos"):
        response = client.get(path, params, tolerate_gone=True)
        if not response.gone:
            return list(response.data or []), next_link(response.headers.get("link"))
    return None


def extract_owners_shard(client: GitHubClient, recorder: ShardRecorder, shard: Shard) -> None:
    missing: list[str] = []
    for owner in shard["owners"]:
        next_url: str | None = None

        def first(owner: str = owner) -> dict[str, Any]:
            found = _first_page(client, owner)
            if found is None:
                return {"format": "rest", "items": [], "gone": [], "next": None, "missing_owner": owner}
            items, link = found
            return {"format": "rest", "items": items, "gone": [], "next": link}

        document = recorder.full_objects(first)
        if document.get("missing_owner"):
            log.warning("GitHub knows no user or organisation %r; skipped", owner)
            missing.append(owner)
            continue
        recorder.counts["listed"] += len(document["items"])
        next_url = document["next"]
        while next_url:

            def following(url: str = next_url) -> dict[str, Any]:
                response = client.get(url)
                return {
                    "format": "rest",
                    "items": list(response.data or []),
                    "gone": [],
                    "next": next_link(response.headers.get("link")),
                }

            document = recorder.full_objects(following)
            recorder.counts["listed"] += len(document["items"])
            next_url = document["next"]
    recorder.counts["missing_owners"] = len(missing)
