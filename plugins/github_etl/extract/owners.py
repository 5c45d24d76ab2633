"""Mode ``owners``: every public repository of the given users and organisations.

Planning asks ``/users/{login}`` for each owner: a login GitHub does not know fails the run there, as a
search naming it would, and the answer's ``type`` and ``id`` say where the owner's repositories are listed:
``/organizations/{id}/repos`` for an organisation, ``/user/{id}/repos`` for a user, the routes GitHub's own
``Link`` headers lead to. By id, an owner renamed between the plan and the extract (its old login then
answers 404, or another owner's) is still the one listed. Both return full repository objects, 100 per
page, so no enrichment is needed.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from github_etl.errors import ConfigurationError, GitHubError
from github_etl.extract.budget import requests
from github_etl.extract.enrich import StagedBatch
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.shards import Shard, ShardRecorder
from github_etl.github.client import GitHubClient, next_link
from github_etl.github.responses import GitHubResponse
from github_etl.params import RunParams
from github_etl.staging import RunStaging, iter_jsonl_uri

log = logging.getLogger(__name__)

# GitHub ignores larger pages.
PER_PAGE = 100
# Each page of a listing is read anew, so a repository that moves in the order between two pages shifts the
# ones after it onto pages read already. Oldest first, a repository created, renamed or transferred in
# meanwhile goes to the end or stays where it was; GitHub's defaults (users by name, organisations newest
# first) would move it to the front.
LISTING_ORDER = {"sort": "created", "direction": "asc"}
# Planning's lookups, staged so many at a time beside the plan: a plan that defers at a reset (thousands of
# owners outlast a token's hour) resumes after the last file instead of looking every owner up again.
LOOKUPS_FOLDER = "plan"
LOOKUPS_PER_FILE = 100
# Seconds between two lines telling how far the lookups are.
LOOKUP_PROGRESS_EVERY_S = 60.0


@dataclass(frozen=True)
class OwnersShard(Shard):
    """``owners`` users and organisations whose public repositories are listed, staged at ``owners_uri`` as the
    plan found them (see :meth:`stage`; an owner without an id is listed by login): a run
    may name thousands, which stay out of XCom. ``pages``: their listings' pages, as their lookups counted
    their public repositories."""

    mode = "owners"
    owners_uri: str
    owners: int
    pages: int

    @classmethod
    def stage(cls, staging: RunStaging, key: str, owners: list[dict[str, Any]]) -> OwnersShard:
        """The shard of ``owners`` (``{"login", "organization", "id", "public_repos"}`` each), staged in ``plan/``.

        ``public_repos`` prices an owner's pages: one per 100 repositories, at least the first.
        """
        with staging.writer("plan", f"{key}.jsonl") as out:
            out.writelines(json.dumps(owner) + "\n" for owner in owners)
        pages = sum(max(1, math.ceil((owner.get("public_repos") or 0) / PER_PAGE)) for owner in owners)
        return cls(key=key, owners_uri=staging.uri("plan", f"{key}.jsonl"), owners=len(owners), pages=pages)


def _page_items(response: GitHubResponse) -> list[Any]:
    """The repositories of a listing page; anything but a list is no page of one.

    :raises GitHubError: naming the page, for an answer that is not a list.
    """
    if response.data is None:
        return []
    if not isinstance(response.data, list):
        raise GitHubError(
            f"GitHub answered {type(response.data).__name__} to {response.url}, not a list of repositories",
            status=response.status,
            url=response.url,
        )
    return response.data


def _first_page(
    client: GitHubClient, owner: str, owner_id: int | None, *, organization: bool
) -> tuple[list[dict[str, Any]], str | None] | None:
    # An organization's listing takes type=public; a user's lists public repositories only and takes all, owner
    # or member, of which owner leaves out those of others the user may push to.
    if owner_id is not None:
        path = f"/organizations/{owner_id}/repos" if organization else f"/user/{owner_id}/repos"
    else:
        path = f"/orgs/{owner}/repos" if organization else f"/users/{owner}/repos"
    kind = "public" if organization else "owner"
    response = client.get(path, {"per_page": PER_PAGE, "type": kind, **LISTING_ORDER}, tolerate_gone=True)
    if response.gone:
        return None
    return _page_items(response), next_link(response.headers.get("link"))


def _accounts(client: GitHubClient, staging: RunStaging, owners: list[str]) -> dict[str, dict[str, Any]]:
    """Each owner's account (``type``, ``id``, ``public_repos``), looked up or read back from staging; raise
    naming every login GitHub does not know."""
    accounts: dict[str, dict[str, Any] | None] = {}
    said = time.monotonic()
    for start in range(0, len(owners), LOOKUPS_PER_FILE):
        chunk = owners[start : start + LOOKUPS_PER_FILE]
        name = f"owner-lookups-{start // LOOKUPS_PER_FILE:06d}.json"
        staged = staging.read_json(LOOKUPS_FOLDER, name) if staging.exists(LOOKUPS_FOLDER, name) else {}
        if missing := [owner for owner in chunk if owner not in staged]:
            try:
                for owner in missing:
                    staged[owner] = _account(client, owner)
            finally:
                # Kept also when the wait for a reset (a deferral) or an error stops the lookups midway.
                staging.write_json(staged, LOOKUPS_FOLDER, name)
        accounts.update((owner, staged[owner]) for owner in chunk)
        if time.monotonic() - said >= LOOKUP_PROGRESS_EVERY_S:
            said = time.monotonic()
            log.info("Looked up %s of %s owners", f"{len(accounts):,}", f"{len(owners):,}")
    unknown = [owner for owner, account in accounts.items() if account is None]
    if unknown:
        raise ConfigurationError(
            f"param 'owners': GitHub knows no user or organisation named {', '.join(map(repr, unknown))}; "
            "check the spelling, or leave the login out"
        )
    return {owner: account for owner, account in accounts.items() if account is not None}


def _account(client: GitHubClient, owner: str) -> dict[str, Any] | None:
    """What the plan keeps of ``/users/{login}``; None for a login GitHub does not know."""
    response = client.get(f"/users/{owner}", tolerate_gone=True)
    if response.gone:
        return None
    account = response.data if isinstance(response.data, dict) else {}
    return {
        "type": account.get("type"),
        "id": account["id"] if type(account.get("id")) is int else None,
        "public_repos": account["public_repos"] if type(account.get("public_repos")) is int else None,
    }


def _dealt(owners: list[str], shards: int) -> list[tuple[str, list[str]]]:
    """``owners`` dealt round-robin into at most ``shards`` shards: their keys and owners."""
    count = max(1, min(shards, len(owners)))
    return [(f"owners-{index:03d}", owners[index::count]) for index in range(count) if owners[index::count]]


def _one_login_per_account(owners: list[str], accounts: dict[str, dict[str, Any]]) -> list[str]:
    """``owners`` without a second login of an account named already (a former login GitHub redirects)."""
    named: dict[int, str] = {}
    distinct = []
    for owner in owners:
        account_id = accounts[owner]["id"]
        if account_id is not None and account_id in named:
            log.warning("Owner %r is the account %r names too (renamed since?): listed once", owner, named[account_id])
            continue
        if account_id is not None:
            named[account_id] = owner
        distinct.append(owner)
    return distinct


class OwnersMode(Mode[OwnersShard]):
    advice = "name fewer owners per run"
    shard_type = OwnersShard

    def plan(self, planning: Planning) -> Planned:
        owners = list(planning.params.owners)
        # The lookups below cost a request per owner, as the first pages do: both must fit the budget
        # before the first lookup is sent. Once looked up, the owners' sizes price their pages (plan.py).
        unpriced = [
            OwnersShard(key=key, owners_uri="", owners=len(mine), pages=len(mine))
            for key, mine in _dealt(owners, planning.params.shards)
        ]
        planning.check_budget([*unpriced, *unpriced])
        accounts = _accounts(planning.client, planning.staging, owners)
        shards = [
            OwnersShard.stage(
                planning.staging,
                key,
                [
                    {
                        "login": owner,
                        "organization": accounts[owner]["type"] == "Organization",
                        "id": accounts[owner]["id"],
                        "public_repos": accounts[owner]["public_repos"],
                    }
                    for owner in mine
                ],
            )
            for key, mine in _dealt(_one_login_per_account(owners, accounts), planning.params.shards)
        ]
        return Planned(shards=shards)

    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: OwnersShard) -> None:
        missing: list[str] = []
        for planned in iter_jsonl_uri(shard.owners_uri):
            owner = planned["login"]
            next_url: str | None = None

            def first(
                owner: str = owner, owner_id: int | None = planned["id"], organization: bool = planned["organization"]
            ) -> StagedBatch:
                found = _first_page(client, owner, owner_id, organization=organization)
                if found is None:
                    return StagedBatch(missing_owner=owner)
                items, link = found
                return StagedBatch(items=items, next=link)

            batch = recorder.full_objects(first)
            if batch.missing_owner:
                # Planning found it: deleted or renamed since.
                log.warning("GitHub no longer knows the user or organisation %r; skipped", owner)
                missing.append(owner)
                continue
            # A repository listed but not public (staged as gone) is listed too, as in every other mode.
            recorder.counts["listed"] += len(batch.items) + len(batch.gone)
            next_url = batch.next
            # A Link header that leads back to a page listed before would page forever.
            followed: set[str] = set()
            while next_url:
                if next_url in followed:
                    raise GitHubError(
                        f"The repositories of {owner!r} link back to a page listed already ({next_url[:200]}): "
                        "GitHub's (or a proxy's) Link headers loop; the listing stops here",
                        url=next_url[:200],
                    )
                followed.add(next_url)

                def following(url: str = next_url, owner: str = owner) -> StagedBatch:
                    response = client.get(url, tolerate_gone=True)
                    if response.gone:
                        return StagedBatch(missing_owner=owner)
                    return StagedBatch(items=_page_items(response), next=next_link(response.headers.get("link")))

                batch = recorder.full_objects(following)
                if batch.missing_owner:
                    # Deleted or renamed while its pages were listed: what was listed stays, as it was
                    # public a moment ago, and the run goes on with the other owners.
                    log.warning("GitHub stopped listing the repositories of %r (deleted or renamed meanwhile)", owner)
                    missing.append(owner)
                    break
                recorder.counts["listed"] += len(batch.items) + len(batch.gone)
                next_url = batch.next
        recorder.counts["missing_owners"] = len(missing)

    def shard_requests(self, shard: OwnersShard, *, authenticated: bool) -> dict[str, int]:
        # A page per 100 repositories the lookup counted (at least the first); an owner's repositories made
        # public since are not priced.
        return requests(authenticated=authenticated, core=shard.pages)

    def check_params(self, params: RunParams) -> None:
        if not params.owners:
            raise ConfigurationError(
                "mode 'owners' needs param 'owners': a list of users or organisations, e.g. ['apache']"
            )
