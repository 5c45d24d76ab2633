"""Turn minimal repository objects (from ``/repositories``) into full metadata.

With a token, GraphQL's ``nodes(ids:)`` fetches up to 100 repositories for about one point: fifty
times cheaper than one REST call per repository. Without a token GraphQL is closed, so REST it is.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Self

from github_etl.errors import GitHubError, GitHubUnavailableError
from github_etl.github.client import GitHubClient
from github_etl.github.responses import NOT_FOUND, NOT_PUBLIC, GitHubResponse

log = logging.getLogger(__name__)

# How often a warning that every batch of a run may repeat is said, per client.
WARNING_EVERY_S = 60.0
# GitHub rejects a nodes() query with more than 100 ids.
GRAPHQL_BATCH_SIZE = 100
# Batches that pass at a size halved after a timeout before the next batch tries twice as many again.
GROW_AFTER_BATCHES = 20


@dataclass
class _Held:
    """A warning said at most once a minute: when it was last said, and the batches like it held back since."""

    said_at: float = -math.inf
    held: int = 0
    last: str = ""


@dataclass
class _ClientState:
    """What a client's batches learnt: the size of nodes() query that GitHub answers in time, and warnings held."""

    batch_size: int = GRAPHQL_BATCH_SIZE
    passed_at_size: int = 0
    warnings: dict[str, _Held] = field(default_factory=dict)


_states: weakref.WeakKeyDictionary[GitHubClient, _ClientState] = weakref.WeakKeyDictionary()


def _state(client: GitHubClient) -> _ClientState:
    return _states.setdefault(client, _ClientState())


REST = "rest"
GRAPHQL = "graphql"


@dataclass
class StagedBatch:
    """Raw objects as GitHub sent them, staged as one checkpoint, in the format the transform must read them in.

    :param format: ``rest`` (REST repository objects) or ``graphql`` (GraphQL ``Repository`` nodes).
    :param items: the objects, one per repository found.
    :param gone: ids GitHub no longer serves to everyone (deleted, private, blocked): skipped and counted.
    :param gone_reasons: why each of them is gone, by id (as a string), one of ``GONE_REASONS``.
    :param next: owners: the URL of the listing's next page; None on its last.
    :param total: search: the matches GitHub counts for the slice.
    :param missing_owner: owners: the login GitHub knows no user or organisation by.
    :param rest_items: a ``graphql`` batch's repositories GraphQL gave no node for but REST served, as REST
        objects (read in the ``rest`` format).
    :param rest_requests: a ``graphql`` batch's REST requests, one per repository GraphQL gave no node for and
        that was not known gone already: found gone there, or served (``rest_items``).
    """

    format: str = REST
    items: list[dict[str, Any]] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    gone_reasons: dict[str, str] = field(default_factory=dict)
    next: str | None = None
    total: int | None = None
    missing_owner: str | None = None
    rest_items: list[dict[str, Any]] | None = None
    rest_requests: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The staged document, without the fields its mode leaves empty.

        Field by field, not ``asdict``: that would copy every node of GitHub's objects, which are written as
        they are, and took a third of a pipeline run's time.
        """
        return {item.name: value for item in fields(self) if (value := getattr(self, item.name)) is not None}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(**document)


def graphql_nodes_query() -> str:
    from github_etl.columns import GRAPHQL_REPOSITORY_FIELDS

    return (
        "query($ids: [ID!]!) { rateLimit { cost remaining resetAt } "
        f"nodes(ids: $ids) {{ __typename ... on Repository {{ {GRAPHQL_REPOSITORY_FIELDS} }} }} }}"
    )


def enrich(client: GitHubClient, repositories: Sequence[dict[str, Any]], *, prefer_graphql: bool = True) -> StagedBatch:
    """Fetch full metadata for ``repositories`` (each needs ``id``, and ``node_id`` for GraphQL)."""
    if prefer_graphql and client.authenticated and all(r.get("node_id") for r in repositories):
        return enrich_graphql(client, repositories)
    return enrich_rest(client, repositories)


def enrich_rest(client: GitHubClient, repositories: Sequence[dict[str, Any]]) -> StagedBatch:
    """One GET per repository."""
    batch = StagedBatch(format=REST)
    for repository in repositories:
        repo_id = int(repository["id"])
        # By id, not by name: ids survive renames and transfers.
        response = _repository(client, repo_id)
        if response.gone:
            batch.gone.append(repo_id)
            batch.gone_reasons[str(repo_id)] = response.gone_reason or NOT_FOUND
        elif not is_public(response.data):
            batch.gone.append(repo_id)
            batch.gone_reasons[str(repo_id)] = NOT_PUBLIC
        else:
            batch.items.append(response.data)
    return batch


def enrich_graphql(client: GitHubClient, repositories: Sequence[dict[str, Any]]) -> StagedBatch:
    batch = StagedBatch(format=GRAPHQL)
    state = _state(client)
    start = 0
    while start < len(repositories):
        # A size learnt from a timeout holds for the batches after it, until enough of them pass.
        size = state.batch_size
        _enrich_graphql_chunk(client, list(repositories[start : start + size]), batch)
        start += size
    return batch


def _enrich_graphql_chunk(client: GitHubClient, chunk: list[dict[str, Any]], batch: StagedBatch) -> None:
    state = _state(client)
    try:
        # A big nodes() query can time out on GitHub's side, and does again at the same size: one retry, then
        # halves, which usually pass (a single repository gets the client's every retry).
        retries = None if len(chunk) == 1 else 1
        body = client.graphql(graphql_nodes_query(), {"ids": [r["node_id"] for r in chunk]}, max_retries=retries)
    except GitHubUnavailableError:
        if len(chunk) == 1:
            raise
        middle = len(chunk) // 2
        state.batch_size, state.passed_at_size = min(state.batch_size, middle), 0
        warn_at_most_once_a_minute(
            client,
            "timeout",
            "GraphQL batch of %s timed out; retrying as two batches, and asking %s at a time until %s batches pass",
            len(chunk),
            state.batch_size,
            GROW_AFTER_BATCHES,
        )
        _enrich_graphql_chunk(client, chunk[:middle], batch)
        _enrich_graphql_chunk(client, chunk[middle:], batch)
        return
    if len(chunk) == state.batch_size < GRAPHQL_BATCH_SIZE:
        state.passed_at_size += 1
        if state.passed_at_size >= GROW_AFTER_BATCHES:
            state.batch_size, state.passed_at_size = min(GRAPHQL_BATCH_SIZE, 2 * state.batch_size), 0
    data = body.get("data")
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, list) or len(nodes) != len(chunk):
        messages = "; ".join(str(e.get("message")) for e in body.get("errors") or [] if isinstance(e, dict))
        raise GitHubUnavailableError(f"GraphQL nodes() answered without the expected nodes: {messages or body!r}"[:500])
    # A refresh passes the reason of a repository marked deleted already: that one is not asked over REST.
    refusals = {
        position: message
        for position, message in _refusals(body.get("errors")).items()
        if position < len(chunk) and not chunk[position].get("gone")
    }
    asked_rest = served_by_rest = 0
    for requested, node in zip(chunk, nodes, strict=True):
        repo_id = int(requested["id"])
        if isinstance(node, dict) and node.get("__typename", "Repository") == "Repository" and node.get("id"):
            if is_public(node):
                batch.items.append(node)
            else:
                batch.gone.append(repo_id)
                batch.gone_reasons[str(repo_id)] = NOT_PUBLIC
            continue
        served: dict[str, Any] | None = None
        if requested.get("gone"):
            # A refresh passes the reason of a repository marked deleted: still gone, it costs no REST request.
            reason: str | None = requested["gone"]
        else:
            asked_rest += 1
            reason, served = _over_rest(client, repo_id)
        if served is not None and is_public(served):
            # Kept from the REST answer: a census never lists this id again, so leaving it would lose it.
            served_by_rest += 1
            batch.rest_items = [*(batch.rest_items or []), served]
            continue
        batch.gone.append(repo_id)
        batch.gone_reasons[str(repo_id)] = reason or NOT_PUBLIC
    if asked_rest:
        batch.rest_requests = (batch.rest_requests or 0) + asked_rest
    if served_by_rest or refusals:
        warn_at_most_once_a_minute(
            client,
            "rest",
            "GraphQL gave no node for %s of %s repositories of a batch%s; read over REST, one request each: "
            "%s served, staged from REST",
            asked_rest,
            len(chunk),
            f", refusing {len(refusals)} ({next(iter(refusals.values()))})" if refusals else "",
            served_by_rest,
        )


def warn_at_most_once_a_minute(client: GitHubClient, kind: str, message: str, *args: Any) -> None:
    """A batch's warning that the next batches would repeat (an organisation's repositories all refused, say).

    Said at most once a minute per client (a task's run) and kind, with the number held back since, as the
    progress lines are: one line per batch would be ten thousand for a million repositories.
    :func:`say_held_warnings` says what is still held when the shard ends.
    """
    now = time.monotonic()
    warning = _state(client).warnings.setdefault(kind, _Held())
    warning.last = message % args
    if now - warning.said_at < WARNING_EVERY_S:
        warning.held += 1
        return
    held, warning.said_at, warning.held = warning.held, now, 0
    log.warning("%s%s", warning.last, f" ({held:,} batch(es) like it since the last such line)" if held else "")


def say_held_warnings(client: GitHubClient) -> None:
    """Say each warning the batches since its last line held back, with their number: the shard ends."""
    for warning in _state(client).warnings.values():
        if warning.held:
            log.warning(
                "%s batch(es) like the last such line since it, the latest: %s", f"{warning.held:,}", warning.last
            )
            warning.held, warning.said_at = 0, time.monotonic()


def is_public(repository: Mapping[str, Any]) -> bool:
    """Whether GitHub serves a repository (REST object or GraphQL node) to everyone.

    Enriching by id, a token that can read private or internal repositories (its owner's, an App
    installation's) is served them too: one listed as public that was made private since, say. The
    warehouse holds public repositories only, so such a repository is gone, as it is for everyone else.
    """
    if not isinstance(repository, Mapping):
        # Not a repository object at all: the transform quarantines it with its reason.
        return True
    visibility = repository.get("visibility")
    if repository.get("private") is True or repository.get("isPrivate") is True:
        return False
    return not isinstance(visibility, str) or visibility.lower() == "public"


def public_only(batch: StagedBatch) -> StagedBatch:
    """``batch`` with any repository not served to everyone moved to its gone ids, as ``not_public``.

    A listing or a search answers a token with what it can read: no query sent asks for private
    repositories, and this keeps the warehouse public should GitHub answer otherwise.
    """
    hidden = {id(item): repo_id for item in batch.items if (repo_id := _hidden_id(item)) is not None}
    if not hidden:
        return batch
    for repo_id in hidden.values():
        batch.gone.append(repo_id)
        batch.gone_reasons[str(repo_id)] = NOT_PUBLIC
    batch.items = [item for item in batch.items if id(item) not in hidden]
    return batch


def _hidden_id(item: Any) -> int | None:
    """The id of a repository not served to everyone, or None: public, or no id to mark deleted.

    A private entry whose id is no positive integer stays for the transform to quarantine: ``true`` or
    ``"5"`` would otherwise mark another repository deleted, and null would fail the whole page.
    """
    if is_public(item):
        return None
    repo_id = item.get("databaseId", item.get("id"))
    return repo_id if type(repo_id) is int and repo_id > 0 else None


def _refusals(errors: Any) -> dict[int, str]:
    """GitHub's message for each node position GraphQL refused with ``FORBIDDEN``.

    GraphQL refuses even a public repository of an organization under SAML single sign-on to a token not
    authorized for it (``saml_failure``), where REST serves it: a refusal says nothing of whether it is gone.
    """
    refused = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        path = error.get("path")
        if error.get("type") == "FORBIDDEN" and isinstance(path, list) and path and isinstance(path[-1], int):
            refused[path[-1]] = str(error.get("message"))[:300]
    return refused


def _over_rest(client: GitHubClient, repo_id: int) -> tuple[str | None, dict[str, Any] | None]:
    """Why a repository is gone, or its REST object: GraphQL says only that a node is missing, REST says why.

    One request per missing repository, a small share of any batch: ``(reason, None)`` when REST finds it
    gone too, ``(None, object)`` when REST serves it after all.
    """
    response = _repository(client, repo_id)
    if response.gone:
        return response.gone_reason, None
    return None, response.data


def _repository(client: GitHubClient, repo_id: int) -> GitHubResponse:
    """``GET /repositories/{id}``: gone, or a repository object.

    :raises GitHubError: a 2xx that is no object (a proxy's empty answer, say), a shape GitHub never sends: taken
        for gone, it would mark a stored repository deleted.
    """
    response = client.get(f"/repositories/{repo_id}", tolerate_gone=True)
    if not response.gone and not isinstance(response.data, dict):
        raise GitHubError(
            f"GitHub answered GET /repositories/{repo_id} with {type(response.data).__name__} where a repository "
            "object belongs; nothing of the batch is staged",
            status=response.status,
            url=response.url,
        )
    return response
