"""Mode ``owners``: every public repository of the given users and organisations.

Planning asks ``/users/{login}`` for each owner: a login GitHub does not know fails the run there, as a
search naming it would, and the answer's ``type`` and ``id`` say where the owner's repositories are listed:
``/organizations/{id}/repos`` for an organisation, ``/user/{id}/repos`` for a user, the routes GitHub's own
``Link`` headers lead to. By id, an owner renamed between the plan and the extract (its old login then
answers 404, or another owner's) is still the one listed. Both return full repository objects, 100 per
page, so no enrichment is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from github_etl.errors import ConfigurationError, GitHubError
from github_etl.extract.budget import requests
from github_etl.extract.enrich import StagedBatch
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.shards import Shard, ShardRecorder
from github_etl.github.client import GitHubClient, next_link
from github_etl.github.responses import GitHubResponse
from github_etl.params import RunParams

log = logging.getLogger(__name__)

# GitHub ignores larger pages.
PER_PAGE = 100
# Each page of a listing is read anew, so a repository that moves in the order between two pages shifts the
# ones after it onto pages read already. Oldest first, a repository created, renamed or transferred in
# meanwhile goes to the end or stays where it was; GitHub's defaults (users by name, organisations newest
# first) would move it to the front.
LISTING_ORDER = {"sort": "created", "direction": "asc"}


@dataclass(frozen=True)
class OwnersShard(Shard):
    """Users and organisations whose public repositories are listed.

    :param organizations: those of ``owners`` that are organisations.
    :param owner_ids: each owner's account id, as the plan found it; an owner without one is listed by login.
    """

    mode = "owners"
    owners: list[str]
    organizations: list[str] = field(default_factory=list)
    owner_ids: dict[str, int] = field(default_factory=dict)


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


def _accounts(client: GitHubClient, owners: list[str]) -> tuple[list[str], dict[str, int]]:
    """Those of ``owners`` that are organisations, and each one's account id; raise naming every login GitHub
    does not know."""
    organizations, ids, unknown = [], {}, []
    for owner in owners:
        response = client.get(f"/users/{owner}", tolerate_gone=True)
        if response.gone:
            unknown.append(owner)
            continue
        account = response.data if isinstance(response.data, dict) else {}
        if account.get("type") == "Organization":
            organizations.append(owner)
        if type(account.get("id")) is int:
            ids[owner] = account["id"]
    if unknown:
        raise ConfigurationError(
            f"param 'owners': GitHub knows no user or organisation named {', '.join(map(repr, unknown))}; "
            "check the spelling, or leave the login out"
        )
    return organizations, ids


class OwnersMode(Mode[OwnersShard]):
    advice = "name fewer owners per run"
    shard_type = OwnersShard

    def plan(self, planning: Planning) -> Planned:
        owners = list(planning.params.owners)
        count = max(1, min(planning.params.shards, len(owners)))
        shards = [OwnersShard(key=f"owners-{i:03d}", owners=owners[i::count]) for i in range(count) if owners[i::count]]
        # The lookups below cost a request per owner, as the first pages do: both must fit the budget
        # before the first lookup is sent.
        planning.check_budget([*shards, *shards])
        organizations, ids = _accounts(planning.client, owners)
        return Planned(
            shards=[
                replace(
                    shard,
                    organizations=[owner for owner in shard.owners if owner in organizations],
                    owner_ids={owner: ids[owner] for owner in shard.owners if owner in ids},
                )
                for shard in shards
            ]
        )

    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: OwnersShard) -> None:
        missing: list[str] = []
        for owner in shard.owners:
            next_url: str | None = None

            def first(owner: str = owner) -> StagedBatch:
                found = _first_page(
                    client, owner, shard.owner_ids.get(owner), organization=owner in shard.organizations
                )
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
            recorder.counts["listed"] += len(batch.items)
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
