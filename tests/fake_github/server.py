"""The HTTP side of the fake: :class:`FakeGitHub`, its request handler and its request log."""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import re
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fake_github import hostile
from tests.fake_github.apps import DEFAULT_TOKEN_TTL_SECONDS, AppInstallations
from tests.fake_github.faults import FORBIDDEN, SECONDARY_LIMIT, TRICKLE_PIECE_BYTES, Faults, InjectedFailure
from tests.fake_github.graphql import QUERY_COST, GraphQLExecutor
from tests.fake_github.ratelimit import CORE, GRAPHQL, RESOURCES, SEARCH, Budget, RateLimiter
from tests.fake_github.replies import (
    DOCS_GET_REPOSITORY,
    DOCS_GRAPHQL_AUTH,
    DOCS_RATE_LIMIT,
    DOCS_SECONDARY,
    Reply,
    error_reply,
    int_param,
    json_reply,
    link_header,
)
from tests.fake_github.routes import DEFAULT_PER_PAGE, MAX_PER_PAGE, Routes
from tests.fake_github.search import SearchIndex
from tests.fake_github.search_query import SECONDS_PER_DAY, parse_query
from tests.fake_github.universe import DISABLED, DMCA, Universe

API_VERSION = "2022-11-28"
_APP_TOKEN_PATH = re.compile(r"/app/installations/(\d+)/access_tokens")
_REASONS = {500: "Server Error", 502: "Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
# Where GitHub Enterprise Server serves its REST and GraphQL APIs; every other path is its web interface.
ENTERPRISE_REST_ROOT = "/api/v3"
ENTERPRISE_GRAPHQL = "/api/graphql"
DOCS_ENTERPRISE_RATE_LIMIT = "https://docs.github.com/enterprise-server@3.14/rest/rate-limit/rate-limit"
# Budgets GitHub lists in /rate_limit that the fake never spends, so clients see the real shape.
_UNSPENT_BUDGETS = (("integration_manifest", 5000), ("code_search", 10), ("dependency_snapshots", 100))


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as the fake answered it (``/_fake/*`` control calls are not recorded).

    ``token_fingerprint`` is :meth:`FakeGitHub.fingerprint` of the token, never the token itself;
    ``fault`` names the injected failure (or ``rate_limited``) and ``counted`` tells whether the
    request spent primary budget. ``received_at`` is when the request arrived, ``at`` when it was
    answered (later by ``latency_ms``).
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    resource: str | None
    token_fingerprint: str | None
    at: float
    fault: str | None = None
    counted: bool = False
    received_at: float = 0.0


class FakeGitHub:
    """A deterministic fake of GitHub's REST and GraphQL API on 127.0.0.1 (see the package docstring).

    :param repo_count: repositories with generated owners.
    :param seed: seed of every derived value and of the random-error sequence.
    :param max_id: ids are drawn from ``(0, max_id]``.
    :param vanished_ratio: share of listed ids whose detail endpoints answer 404 (a few 451).
    :param owners: extra repositories per named owner, e.g. ``{"apache": 250, "octocat": 8}``.
    :param rate_limit: core budget per hour with a token.
    :param search_rate_limit: search budget per minute with a token.
    :param graphql_rate_limit: GraphQL points per hour.
    :param tokens: the valid tokens; None accepts any token.
    :param latency_ms: delay added to every API request.
    :param graphql_latency_ms: delay added to every GraphQL request instead (GitHub answers a 100-node
        query in about a second, a REST request in about 150 ms); None: ``latency_ms``.
    :param dense_days: ``{"2024-03-01": 0.6}``: that share of the repositories is created on that UTC day,
        at seconds spread over it (search slicing below a day needs such days).
    :param dense_spans: ``(start epoch, seconds, share)``, the same for any span (one second, say).
    :param apps: GitHub Apps by id: the public key PEM their JWTs are verified with.
    :param installations: the App id of each installation id (see :mod:`tests.fake_github.apps`).
    :param installation_accounts: ``(login, "Organization" or "User")`` of each installation's account.
    :param installation_token_ttl_s: lifetime of the installation tokens the fake mints.
    :param clock_skew_s: how far GitHub's clock is ahead of ours (negative: behind); its ``x-ratelimit-reset``
        headers and ``/rate_limit`` resets are read from it, as GitHub's are from its own.
    :param enterprise_version: serve as a GitHub Enterprise Server of this version (``"3.9.0"``): REST under
        ``/api/v3``, GraphQL at ``/api/graphql``, every API answer with ``X-GitHub-Enterprise-Version``; any
        other path is the appliance's web interface (an HTML 404).
    :param rate_limiting: False: rate limiting disabled, as GHES allows: ``GET /rate_limit`` answers 404
        "Rate limiting is not enabled.", no answer carries ``x-ratelimit-*`` headers, nothing is ever refused.
    :param graphql_missing_fields: ``Repository`` fields this server's GraphQL schema lacks (an older GHES):
        a query naming one answers HTTP 200 with an ``undefinedField`` error and no ``data``.
    :param anonymous_access: False: every API request without a token answers 401 "Must authenticate to
        access this API.", as a GHES in private mode (the usual setting) does.
    :param token_expirations: the expiry of tokens made to expire, as GitHub writes it in the
        ``GitHub-Authentication-Token-Expiration`` header of every answer to them (``"2026-12-10 12:00:00 UTC"``).
    """

    def __init__(
        self,
        *,
        repo_count: int = 1000,
        seed: int = 1,
        max_id: int = 1_100_000_000,
        vanished_ratio: float = 0.0,
        owners: dict[str, int] | None = None,
        rate_limit: int = 5000,
        search_rate_limit: int = 30,
        graphql_rate_limit: int = 5000,
        tokens: set[str] | None = None,
        latency_ms: float = 0.0,
        graphql_latency_ms: float | None = None,
        dense_days: dict[str, float] | None = None,
        dense_spans: tuple[tuple[int, int, float], ...] = (),
        apps: dict[int, str] | None = None,
        installations: dict[int, int] | None = None,
        installation_accounts: dict[int, tuple[str, str]] | None = None,
        installation_token_ttl_s: float = DEFAULT_TOKEN_TTL_SECONDS,
        clock_skew_s: float = 0.0,
        enterprise_version: str | None = None,
        rate_limiting: bool = True,
        graphql_missing_fields: Sequence[str] = (),
        anonymous_access: bool = True,
        token_expirations: dict[str, str] | None = None,
    ) -> None:
        spans = (*dense_spans, *(_day_span(day, share) for day, share in (dense_days or {}).items()))
        self.universe = Universe(
            repo_count=repo_count,
            seed=seed,
            max_id=max_id,
            vanished_ratio=vanished_ratio,
            owners=owners,
            dense_spans=spans,
        )
        self.seed = seed
        self.enterprise_version = enterprise_version
        self.rate_limiting = rate_limiting
        self.anonymous_access = anonymous_access
        self.latency_ms = latency_ms
        self.graphql_latency_ms = latency_ms if graphql_latency_ms is None else graphql_latency_ms
        self._token_fingerprints = None if tokens is None else {self.fingerprint(token) for token in tokens}
        self._token_expirations = dict(token_expirations or {})
        self.apps = AppInstallations(
            apps or {}, installations or {}, accounts=installation_accounts, token_ttl_s=installation_token_ttl_s
        )
        self.limiter = RateLimiter(
            {CORE: rate_limit, SEARCH: search_rate_limit, GRAPHQL: graphql_rate_limit},
            clock=lambda: time.time() + clock_skew_s,
        )
        self.faults = Faults(seed, self.limiter.exhaust, self.limiter.clear_exhaustion)
        self.search_index = SearchIndex(self.universe)
        self.routes = Routes(
            self.universe,
            self.search_index,
            GraphQLExecutor(self.universe, self.search_index, missing_fields=graphql_missing_fields),
            self.faults,
            self.limiter,
        )
        self._log: list[RecordedRequest] = []
        self._log_lock = threading.Lock()
        self._request_numbers = count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # ----------------------------------------------------------------- lifecycle
    def start(self, port: int = 0, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> str:
        """Serve on a background thread; returns the base URL ``http://127.0.0.1:PORT``.

        :param ssl_context: a server-side TLS context: serve https (``https://127.0.0.1:PORT``) with its certificate.
        """
        if self._server is not None:
            return self.base_url
        server = _Server((host, port), _Handler)
        server.fake = self
        scheme = "http"
        if ssl_context is not None:
            # The handshake happens in the request's thread: a client refusing the certificate holds up no other.
            server.socket = ssl_context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
            scheme = "https"
        self._server = server
        self.base_url = f"{scheme}://{host}:{server.server_address[1]}"
        if self.enterprise_version is not None:
            self.base_url += ENTERPRISE_REST_ROOT
        self.universe.set_api_root(self.base_url)
        self.routes.base_url = self.base_url
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-github-{port}", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving; stalled (slow) responses are released at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGitHub:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- the world
    @property
    def ids(self) -> Sequence[int]:
        """Every listed repository id, ascending (the hostile huge id only in hostile mode).

        A shared array, rebuilt only when the world changes: read it, do not mutate it.
        """
        return self.universe.listed_ids(self.faults.hostile)

    def repository(self, id: int) -> dict[str, Any]:
        """The full REST object ``GET /repositories/{id}`` returns (undamaged), as a private copy.

        Vanished and deleted ids still have one (what the fake served before they went away).
        :raises KeyError: for an id the fake never had.
        """
        if self.universe.position(id) is None:
            raise KeyError(id)
        return self.universe.full_copy(id)

    def is_vanished(self, id: int) -> bool:
        """Whether the detail endpoints answer 404 or 451 for this id."""
        return self.universe.detail_status(id, self.faults.hostile) != "ok"

    def is_dmca(self, id: int) -> bool:
        """Whether the detail endpoints answer 451 (taken down) for this id."""
        return self.universe.detail_status(id, self.faults.hostile) == DMCA

    def set_repository(self, id: int, **overrides: Any) -> None:
        """Change fields of a repository (``stargazers_count=...`` keeps ``watchers*`` in step)."""
        self.universe.set_repository(id, overrides)

    def delete_repository(self, id: int) -> None:
        """Delete a repository: gone from listings and search, 404 on its detail endpoints."""
        self.universe.delete_repository(id)

    def make_repository_private(self, id: int) -> None:
        """Make a repository private; the fake's tokens can still read it (see ``Universe.make_private``)."""
        self.universe.make_private(id)

    def take_down_repository(self, id: int) -> None:
        """Block a repository for legal reasons: 451 "Repository access blocked" (DMCA) on its detail endpoints."""
        self.universe.block_repository(id, DMCA)

    def disable_repository(self, id: int) -> None:
        """Disable a repository: 403 "Repository access blocked" (terms of service) on its detail endpoints."""
        self.universe.block_repository(id, DISABLED)

    def hide_from_graphql(self, id: int) -> None:
        """GraphQL's ``nodes`` answers no node for this repository (NOT_FOUND) while REST still serves it."""
        self.universe.hide_from_graphql(id)

    def protect_by_saml(self, id: int) -> None:
        """GraphQL refuses this public repository's node with FORBIDDEN (``saml_failure``), as GitHub does to a token
        of an enterprise member not authorized for the owner's SAML single sign-on; REST still serves it."""
        self.universe.protect_by_saml(id)

    def restore_repository(self, id: int) -> None:
        """Undo a deletion, a move to private or a block: the repository is served publicly again."""
        self.universe.restore_repository(id)

    def add_repositories(self, count: int) -> list[int]:
        """Create ``count`` public repositories now, with ids above every other; returns their ids.

        Listed by ``/repositories``, served by the detail endpoints and GraphQL, created at the fake's
        "now"; not found by searches.
        """
        return self.universe.append_repositories(count)

    def rename_repository(self, id: int, new_full_name: str) -> None:
        """Rename or transfer a repository; the old ``/repos/{owner}/{name}`` answers 301."""
        self.universe.rename_repository(id, new_full_name)

    def between_pages(self, change: Callable[[str, dict[str, str]], None] | None) -> None:
        """Call ``change`` with the path and parameters of each page of a search or an owner's listing once it
        is answered (None: stop)."""
        self.routes.after_page = change

    def search_ids(self, q: str) -> list[int]:
        """Every id a repository search for ``q`` matches, ascending, past the 1,000 a search serves."""
        return self.search_index.all_ids(parse_query(q), include_huge=self.faults.hostile)

    def created_at(self, id: int) -> int:
        """When a repository was created, in epoch seconds."""
        return self.universe.deriver.created(id)

    def hostile_ids(self) -> list[int]:
        """Ids served with damage in hostile mode (see :mod:`tests.fake_github.hostile`)."""
        return self.universe.hostile_ids()

    def hostile_kind(self, id: int) -> str | None:
        """The damage an id carries in hostile mode, or None."""
        return self.universe.hostile_kind(id)

    def verdict(self, id: int) -> str:
        """What a correct client does with this id now: ``load``, ``quarantine``, ``gone`` or ``absent``.

        ``gone`` is an id whose detail answers 404/451 (vanished, taken down or deleted); ``absent`` is
        an id the fake never had.
        In hostile mode, damaged ids answer ``quarantine`` or ``load`` (after sanitising) by kind.
        """
        hostile_mode = self.faults.hostile
        position = self.universe.position(id)
        if position is None or position >= self.universe.visible_end(hostile_mode):
            return hostile.ABSENT
        if self.universe.detail_status(id, hostile_mode) != "ok":
            return hostile.GONE
        if not hostile_mode:
            return hostile.LOAD
        return hostile.verdict_of(self.universe.hostile_kind(id))

    @staticmethod
    def fingerprint(token: str) -> str:
        """The log's name for a token: a short hash, so tokens never reach logs or assertions."""
        return hashlib.sha256(token.encode()).hexdigest()[:12]

    # ----------------------------------------------------------------- the log
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the request log."""
        with self._log_lock:
            return list(self._log)

    def reset_log(self) -> None:
        """Forget every recorded request."""
        with self._log_lock:
            self._log.clear()

    def count(self, *, path_prefix: str | None = None, status: int | None = None) -> int:
        """Recorded requests matching a path prefix and/or a status."""
        return sum(
            1
            for request in self.requests
            if (path_prefix is None or request.path.startswith(path_prefix))
            and (status is None or request.status == status)
        )

    def stats(self) -> dict[str, Any]:
        """Counters for out-of-process callers (``GET /_fake/stats``)."""
        requests = self.requests
        return {
            "base_url": self.base_url,
            "repositories": len(self.universe.ids) - 1,
            "requests": len(requests),
            "counted": sum(request.counted for request in requests),
            "by_status": {
                str(status): number for status, number in sorted(Counter(r.status for r in requests).items())
            },
            "by_resource": dict(Counter(r.resource or "none" for r in requests)),
            # Per token fingerprint (or ip:ADDRESS) and resource: the least it ever had left after a request.
            "lowest_remaining": self.limiter.lowest_remaining(),
            "faults": self.faults.snapshot(),
        }

    def _record(self, request: RecordedRequest) -> None:
        with self._log_lock:
            self._log.append(request)

    def wait_or_stop(self, seconds: float) -> bool:
        """Wait without holding up other requests; True when the fake is stopping meanwhile."""
        return self._stopping.wait(seconds)

    def next_request_number(self) -> int:
        """A sequence number for ``x-github-request-id``."""
        return next(self._request_numbers)

    # ----------------------------------------------------------------- answering
    def answer(self, handler: _Handler, method: str) -> Reply | None:
        """The reply to one API request (None for control calls already answered)."""
        split = urlsplit(handler.path)
        path = split.path.rstrip("/") or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        if path.startswith("/_fake/"):
            return self._control(method, path, handler)
        received_at = time.time()
        if self.enterprise_version is not None:
            api_path = _enterprise_api_path(path)
            if api_path is None:
                reply = Reply(404, b"<!DOCTYPE html><html><body>Page not found</body></html>", {})
                reply.headers["Content-Type"] = "text/html; charset=utf-8"
                self._record(
                    RecordedRequest(method, path, query, 404, None, None, time.time(), "web", False, received_at)
                )
                return reply
            path = api_path
        token, auth_error = _token(handler.headers.get("Authorization"))
        # A token is valid or expired when the request arrives, whatever the latency after.
        issued, refusal = (None, None) if token is None else self.apps.lookup(token)
        latency = self.graphql_latency_ms if path == "/graphql" else self.latency_ms
        if latency > 0:
            self.wait_or_stop(latency / 1000)

        resource = SEARCH if path.startswith("/search/") else GRAPHQL if path == "/graphql" else CORE
        fingerprint = None if token is None else self.fingerprint(token)
        identity = fingerprint or f"ip:{handler.client_address[0]}"
        authenticated = token is not None
        app_token = _APP_TOKEN_PATH.fullmatch(path)
        if issued is not None:
            # Every token of an installation spends the installation's one budget, as on GitHub.
            identity = f"installation:{issued.installation_id}"

        if app_token is not None and method == "POST":
            reply = self._exchange(int(app_token.group(1)), token)
        elif path == "/app/installations" and method == "GET":
            reply = self._installations(query, token)
        elif refusal is not None:
            reply = error_reply(401, "Bad credentials")
            reply.fault = refusal
        else:
            reply = self._answer(
                method, path, query, handler, token, auth_error, resource, identity, authenticated, issued is not None
            )
        if token in self._token_expirations:
            reply.headers["GitHub-Authentication-Token-Expiration"] = self._token_expirations[token]
        if not self.rate_limiting:
            for name in [name for name in reply.headers if name.lower().startswith("x-ratelimit-")]:
                del reply.headers[name]
        if self.enterprise_version is not None:
            reply.headers["X-GitHub-Enterprise-Version"] = self.enterprise_version
        self._record(
            RecordedRequest(
                method=method,
                path=path,
                query=query,
                status=reply.status,
                resource=reply.resource,
                token_fingerprint=fingerprint,
                at=time.time(),
                fault=reply.fault,
                counted=reply.counted,
                received_at=received_at,
            )
        )
        return reply

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        handler: _Handler,
        token: str | None,
        auth_error: bool,
        resource: str,
        identity: str,
        authenticated: bool,
        installation_token: bool = False,
    ) -> Reply:
        if auth_error or (
            token is not None
            and (
                self.faults.bad_credentials
                # A JWT opens only the /app endpoints.
                or (token.startswith("eyJ") and token.count(".") == 2)
                or (
                    not installation_token
                    and self._token_fingerprints is not None
                    and self.fingerprint(token) not in self._token_fingerprints
                )
            )
        ):
            reply = error_reply(401, "Bad credentials")
            reply.headers.update(self.limiter.peek(identity, CORE, False).headers())
            reply.fault = "bad_credentials"
            return reply
        if token is None and not self.anonymous_access:
            reply = error_reply(401, "Must authenticate to access this API.")
            reply.fault = "anonymous"
            return reply
        if path == "/rate_limit" and method == "GET" and not self.rate_limiting:
            return error_reply(404, "Rate limiting is not enabled.", DOCS_ENTERPRISE_RATE_LIMIT)
        if path == "/rate_limit" and method == "GET":
            reply = json_reply(200, self._rate_limit_body(identity, authenticated))
            reply.headers.update(self.limiter.peek(identity, CORE, authenticated).headers())
            reply.resource = CORE
            return reply
        if resource == GRAPHQL and token is None:
            reply = json_reply(
                401,
                {"message": "This endpoint requires you to be authenticated.", "documentation_url": DOCS_GRAPHQL_AUTH},
            )
            reply.headers.update(self.limiter.peek(identity, GRAPHQL, False).headers())
            reply.resource = GRAPHQL
            return reply

        self.faults.meet(resource)
        failure = self.faults.take_failure(resource)
        if failure is not None:
            reply = self._failure(failure)
            reply.headers.update(self.limiter.peek(identity, resource, authenticated).headers())
            reply.resource = resource
            return reply

        if resource == GRAPHQL and self._too_heavy(handler.read_body()):
            # GitHub's answer to a query that ran out of time: a 502 whose body is a GraphQL error.
            reply = json_reply(
                502,
                {
                    "data": None,
                    "errors": [
                        {
                            "message": "Something went wrong while executing your query. This may be the result "
                            "of a timeout, or it could be a GitHub bug. Please include `FAKE:0000` when "
                            "reporting this issue."
                        }
                    ],
                },
            )
            reply.headers.update(self.limiter.peek(identity, resource, authenticated).headers())
            reply.resource = resource
            reply.fault = "graphql_timeout"
            return reply

        cost = QUERY_COST if resource == GRAPHQL else 1
        if self.rate_limiting:
            allowed, budget = self.limiter.spend(identity, resource, authenticated, cost)
        else:
            # Nothing is spent, so nothing is ever refused.
            allowed, budget = True, self.limiter.peek(identity, resource, authenticated)
        if not allowed:
            reply = self._rate_limited(
                resource, budget, fingerprint=identity if authenticated else None, identity=identity
            )
            reply.headers.update(budget.headers())
            reply.resource = resource
            reply.fault = "rate_limited"
            return reply

        reply = self.routes.route(method, path, query, handler.read_body(), identity)
        if reply.status == 200 and method == "GET" and reply.body is not None:
            etag = f'W/"{hashlib.blake2b(reply.body, digest_size=16).hexdigest()}"'
            reply.headers["ETag"] = etag
            if _etag_matches(handler.headers.get("If-None-Match"), etag) or _not_modified_since(
                handler.headers.get("If-Modified-Since"), reply.headers.get("Last-Modified")
            ):
                reply = Reply(304, None, {"ETag": etag})
        # GitHub does not count a 304 against the budget only when the request was authorized.
        if reply.status == 304 and authenticated and self.rate_limiting:
            budget = self.limiter.refund(identity, resource, authenticated, cost)
        else:
            reply.counted = True
        reply.headers.update(budget.headers())
        reply.resource = resource
        return reply

    def _exchange(self, installation_id: int, bearer: str | None) -> Reply:
        """``POST /app/installations/{id}/access_tokens``: spends no budget, like GitHub's JWT calls."""
        exchange = self.apps.exchange(installation_id, bearer)
        reply = json_reply(exchange.status, exchange.body)
        if exchange.status != 201:
            reply.fault = "app_auth"
        return reply

    def _installations(self, query: dict[str, str], bearer: str | None) -> Reply:
        """``GET /app/installations`` (JWT): the App's installations, paged as GitHub pages them."""
        per_page = int_param(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        page = int_param(query, "page", 1, 1, 10**9)
        listed = self.apps.list_installations(bearer, self.base_url, page, per_page)
        if listed.status != 200:
            reply = json_reply(listed.status, listed.body)
            reply.fault = "app_auth"
            return reply
        reply = json_reply(200, listed.body["items"])
        last_page = max(1, math.ceil(listed.total / per_page))
        link = link_header(f"{self.base_url}/app/installations", query, page, last_page)
        if link:
            reply.headers["Link"] = link
        return reply

    def _too_heavy(self, body: bytes) -> bool:
        """Whether a GraphQL request asks for more ``ids`` than ``faults.graphql_max_nodes`` allows."""
        limit = self.faults.graphql_max_nodes
        if limit is None:
            return False
        try:
            ids = (json.loads(body or b"{}").get("variables") or {}).get("ids") or []
        except (ValueError, AttributeError):
            return False
        return isinstance(ids, list) and len(ids) > limit

    def _failure(self, failure: InjectedFailure) -> Reply:
        if failure.kind == SECONDARY_LIMIT:
            reply = error_reply(
                failure.status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
                "If you reach out to GitHub Support for help, please include the request ID.",
                DOCS_SECONDARY,
            )
            if self.faults.retry_after_s is not None:
                reply.headers["Retry-After"] = str(int(self.faults.retry_after_s))
        elif failure.kind == FORBIDDEN:
            reply = error_reply(403, "Resource not accessible by personal access token", DOCS_GET_REPOSITORY)
        else:
            reply = error_reply(failure.status, _REASONS.get(failure.status, "Server Error"))
        reply.fault = failure.kind
        return reply

    def _rate_limited(self, resource: str, budget: Budget, *, fingerprint: str | None, identity: str) -> Reply:
        if identity.startswith("installation:"):
            who = f"installation ID {identity.removeprefix('installation:')}"
        elif fingerprint:
            who = f"user ID {int(fingerprint[:6], 16)}"
        else:
            who = identity.removeprefix("ip:")
        message = f"API rate limit exceeded for {who}."
        if resource == GRAPHQL:
            return json_reply(
                self.faults.graphql_rate_limited_status,
                {"data": None, "errors": [{"type": "RATE_LIMITED", "message": message}]},
            )
        if fingerprint is None:
            message += (
                " (But here's the good news: Authenticated requests get a higher rate limit. "
                "Check out the documentation for more details.)"
            )
        else:
            message += " If you reach out to GitHub Support for help, please include the request ID."
        return error_reply(self.faults.rate_limited_status, message, DOCS_RATE_LIMIT)

    def _rate_limit_body(self, identity: str, authenticated: bool) -> dict[str, Any]:
        resources = {resource: self.limiter.peek(identity, resource, authenticated).as_json() for resource in RESOURCES}
        reset = resources[CORE]["reset"]
        for name, limit in _UNSPENT_BUDGETS:
            resources[name] = {"limit": limit, "used": 0, "remaining": limit, "reset": reset}
        return {"resources": resources, "rate": resources[CORE]}

    def _control(self, method: str, path: str, handler: _Handler) -> Reply:
        if path == "/_fake/stats" and method == "GET":
            return json_reply(200, self.stats())
        if path == "/_fake/faults" and method == "POST":
            try:
                self.faults.update(json.loads(handler.read_body() or b"{}"))
            except (ValueError, TypeError, KeyError) as error:
                return json_reply(400, {"message": f"Invalid fault settings: {error}"})
            return json_reply(200, self.faults.snapshot())
        if path == "/_fake/reset_log" and method == "POST":
            self.reset_log()
            return json_reply(200, {"requests": 0})
        return error_reply(404, "Not Found")


class _Server(ThreadingHTTPServer):
    """A thread per connection; stopping never waits for stalled requests."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128
    fake: FakeGitHub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hung up (timed out on a slow reply, read half a truncated body, refused our TLS)."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError | ssl.SSLError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into :meth:`FakeGitHub.answer` calls (keep-alive, like GitHub)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes; don't wait for ACKs
    server_version = "GitHub.com"
    server: _Server

    body: bytes = b""

    def version_string(self) -> str:
        """The ``Server`` header GitHub sends."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the fake keeps its own request log."""

    def read_body(self) -> bytes:
        """The request body (read before answering, so keep-alive connections stay in step)."""
        return self.body

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length > 0 else b""
        reply = fake.answer(self, method)
        if reply is None:
            return
        is_control = urlsplit(self.path).path.startswith("/_fake/")
        stall = 0.0 if is_control else fake.faults.take_slow()
        if stall > 0 and fake.wait_or_stop(stall):
            self.close_connection = True  # stopping: drop the stalled request unanswered
            return
        truncate = not is_control and reply.status == 200 and reply.body is not None and fake.faults.take_truncate()
        trickle = 0.0 if is_control or reply.body is None else fake.faults.take_trickle()
        self._send(reply, fake.next_request_number(), truncate, trickle)

    def _send(self, reply: Reply, request_number: int, truncate: bool, trickle: float = 0.0) -> None:
        self.send_response(reply.status)
        self.send_header("x-github-api-version-selected", API_VERSION)
        self.send_header("x-github-media-type", "github.v3; format=json")
        self.send_header("x-github-request-id", f"{request_number:04X}:{request_number * 7919 % 65536:04X}:FA4E")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body is None:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "Content-Type" not in reply.headers:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if truncate:
            # Looks like a complete 200 until the body stops halfway and the connection closes.
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if trickle:
            for start in range(0, len(reply.body), TRICKLE_PIECE_BYTES):
                self.wfile.write(reply.body[start : start + TRICKLE_PIECE_BYTES])
                self.wfile.flush()
                if self.server.fake.wait_or_stop(trickle):
                    break
            self.close_connection = True
            return
        self.wfile.write(reply.body)


def _enterprise_api_path(path: str) -> str | None:
    """The API path a GitHub Enterprise Server path stands for (``/api/v3/x`` is ``/x``), or None for its web pages."""
    if path == ENTERPRISE_GRAPHQL:
        return "/graphql"
    if path == ENTERPRISE_REST_ROOT or path.startswith(ENTERPRISE_REST_ROOT + "/"):
        return path[len(ENTERPRISE_REST_ROOT) :] or "/"
    return None


def _day_span(day: str, share: float) -> tuple[int, int, float]:
    start = calendar.timegm(date.fromisoformat(day).timetuple())
    return start, SECONDS_PER_DAY, share


def _token(authorization: str | None) -> tuple[str | None, bool]:
    """The token of an ``Authorization`` header (``Bearer X`` or ``token X``): ``(token, malformed)``."""
    if authorization is None:
        return None, False
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in ("bearer", "token") or not token:
        return None, True
    return token, False


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {candidate.strip() for candidate in header.split(",")}
    return etag in candidates or etag.removeprefix("W/") in candidates or "*" in candidates


def _not_modified_since(header: str | None, last_modified: str | None) -> bool:
    if not header or not last_modified:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
