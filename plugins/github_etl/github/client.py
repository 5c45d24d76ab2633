"""The GitHub HTTP client: one session, timeouts, paging, bounded retries and rate-limit waits.

Every request goes through :meth:`GitHubClient.request`, so the rules GitHub asks clients to follow
(wait for the reset when a budget is spent, honour ``Retry-After``, back off exponentially, keep
requests serial per token, never retry bad credentials) live in exactly one loop. The quota reserve
counts as spent budget; a secondary-limit pause is recorded in the budget store, so every thread (and,
with a shared store, every worker) sets the token aside until it ends.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from github_etl.errors import (
    BadCredentialsError,
    ForbiddenError,
    GitHubError,
    GitHubUnavailableError,
    GraphQLSchemaError,
    LinkOutsideRootError,
    RateLimitWaitTooLong,
)
from github_etl.github.app_auth import InstallationCredential
from github_etl.github.ratelimit import (
    ANONYMOUS,
    Budget,
    BudgetStore,
    Credential,
    TokenPool,
    believable_reset,
    parse_budget,
    spent_until,
)
from github_etl.github.responses import (
    GitHubResponse,
    Outcome,
    classify,
    details_of,
    message_of,
    printable,
    rate_limiting_disabled,
    request_id_of,
    retry_after_seconds,
    server_name,
    token_expiry,
)
from github_etl.github.session import (
    TRANSPORT_FAULTS,
    certificate_error,
    missing_ca_error,
    new_session,
    proxy_authentication_error,
    proxy_of,
    proxy_refusal,
    read_body,
    through_proxy,
)
from github_etl.settings import GITHUB_API_VERSION, ClientSettings

log = logging.getLogger(__name__)

# GitHub refuses a request for a spent budget once per token, then serves it after the reset. A server that
# still refuses after this many resets per token keeps no budget GitHub's way (a proxy or an appliance
# answering so whatever the time): the request fails instead of waiting forever, as GitHub asks of clients.
MAX_LIMIT_ANSWERS_PER_TOKEN = 3
# Waits (0.5, 1, 2 s) for GitHub to learn of a token minted a moment ago before it counts as refused.
MAX_REPLICATION_WAITS = 3
# A token that expires within this many days is said so in the log of each run's plan.
EXPIRY_WARNING_DAYS = 7


def graphql_url(base_url: str) -> str:
    """GitHub.com serves GraphQL at ``/graphql``; GitHub Enterprise at ``/api/graphql`` beside ``/api/v3``."""
    base = base_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


class GitHubClient:
    """Talks to one GitHub (``base_url``) with one or more tokens.

    :param base_url: API root, e.g. ``https://api.github.com`` or ``https://HOST/api/v3``.
    :param tokens: zero (unauthenticated), one or several tokens or credentials (GitHub App installations).
    :param settings: timeouts, retries and waits.
    :param conn_id: the Airflow connection the client was built from, named in error messages; None when
        ``GITHUB_API_URL`` and ``GITHUB_TOKEN`` configured it.
    :param budget_store: where rate-limit state lives; share one to share budgets.
    :param sleep: how to wait; injectable so tests can observe waits.
    """

    def __init__(
        self,
        base_url: str,
        tokens: Sequence[str | Credential] = (),
        *,
        settings: ClientSettings | None = None,
        conn_id: str | None = None,
        budget_store: BudgetStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings or ClientSettings()
        self.conn_id = conn_id
        self.tokens = TokenPool(tokens, store=budget_store, clock=clock, reserve=self.settings.quota_reserve)
        self._sleep = sleep
        self._clock = clock
        # The end of the last rate-limit wait a warning announced: the wait itself is not said again.
        self._announced_until = 0.0
        self._random = random.Random()
        self.session = new_session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": GITHUB_API_VERSION,
                "User-Agent": self.settings.user_agent,
            }
        )
        # Counted by outcome so a run can report API calls and the failed ones apart.
        self.calls: Counter[str] = Counter()
        # Tokens whose budgets were asked for once (see _learn_budgets).
        self._probed: set[str] = set()

    # -- public API ---------------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self.tokens.authenticated

    @property
    def api_requests(self) -> int:
        """Requests that reached GitHub, whatever their answer."""
        return sum(self.calls.values())

    def url(self, path: str) -> str:
        """The URL of ``path`` under the API root; an absolute URL (a ``Link`` header's) must be under it too.

        :raises LinkOutsideRootError: for an absolute URL on another host, scheme or port: the token is sent with
            every request, so a link GitHub (or a proxy) names elsewhere is never followed. Likewise for one on
            the host but outside the root's path: a GHES behind a proxy's path prefix writes links without the
            prefix, and the proxy's 404 there would read as the listed owner gone.
        """
        if path.lower().startswith(("http://", "https://")):
            if _origin(path) != _origin(self.base_url):
                raise LinkOutsideRootError(
                    f"Refusing to follow {path[:200]!r}: it is not on the GitHub API's host {self.base_url}, "
                    "and the token is sent only there",
                    url=path[:200],
                )
            root_path = urlsplit(self.base_url).path.rstrip("/")
            if (
                root_path
                and not (urlsplit(path).path + "/").startswith(root_path + "/")
                and path != graphql_url(self.base_url)
            ):
                raise LinkOutsideRootError(
                    f"Refusing to follow {path[:200]!r}: it is outside the GitHub API root {self.base_url}. A "
                    "proxy that serves GitHub under a path prefix must rewrite the Link headers GitHub writes too",
                    url=path[:200],
                )
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        resource: str = "core",
        tolerate_gone: bool = False,
    ) -> GitHubResponse:
        """GET a REST resource and return its parsed JSON.

        :param tolerate_gone: return 404/410/451 and a disabled repository's 403 as a response instead of
            raising (vanished repositories).
        """
        return self.request("GET", path, params=params, resource=resource, tolerate_gone=tolerate_gone)

    def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, *, max_retries: int | None = None
    ) -> dict[str, Any]:
        """POST a GraphQL query; returns the whole body (``data`` and any partial ``errors``).

        :param max_retries: retries of a transient failure (``settings.max_retries`` by default): fewer for a
            query the caller can split instead.
        """
        if not self.authenticated:
            raise GitHubError("GitHub's GraphQL API needs a token; none is configured")
        body = {"query": query, "variables": dict(variables or {})}
        response = self.request(
            "POST", graphql_url(self.base_url), json_body=body, resource="graphql", max_retries=max_retries
        )
        data = response.data
        if not isinstance(data, dict):
            raise GitHubError(f"GraphQL answered a non-object body from {response.url}", status=response.status)
        if "data" not in data and _validation_errors(data):
            # The schema refused the query before running it: no retry changes the schema.
            raise GraphQLSchemaError(
                f"{server_name(response.headers)} at {self.base_url} refused the GraphQL query: "
                f"{_validation_errors(data)}. Its GraphQL schema lacks what this pipeline reads, as older GitHub "
                "Enterprise Server releases do; retrying cannot change that.",
                status=response.status,
                url=response.url,
            )
        return data

    def budgets(self) -> dict[str, list[Budget]]:
        """Every token's budget per resource (``core``, ``search``, ``graphql``) that this run may spend.

        Read from ``GET /rate_limit``, less the quota reserve: ``limit`` and ``remaining`` are what the
        run may use of each window (the pool records GitHub's own figures). GitHub does not charge for
        ``/rate_limit``. One request per token, outside the request loop: a budget that cannot be read is
        left out (the caller goes on without it), but bad credentials are final.
        """
        budgets: dict[str, list[Budget]] = {}
        url = self.url("/rate_limit")
        for token in self.tokens.tokens or [None]:
            # What it learns here spares the request loop asking again (_learn_budgets).
            self._probed.add(token.fingerprint if token else ANONYMOUS)
            try:
                status, headers, data = self._rate_limit_of(url, token)
            except (*TRANSPORT_FAULTS, ValueError) as exc:
                self.calls["failed"] += 1
                log.warning("Could not read GitHub's rate limits (%s); going on without them", _safe(exc))
                continue
            if rate_limiting_disabled(status, data):
                self.calls["ok"] += 1
                log.info(
                    "%s at %s does not limit rates (%s): no budget to check, no quota reserve to keep",
                    server_name(headers),
                    self.base_url,
                    message_of(data),
                )
                continue
            outcome = classify(status, headers, data)
            self.calls["ok" if outcome is Outcome.OK else "failed"] += 1
            if outcome is Outcome.BAD_CREDENTIALS:
                raise self._final_error(outcome, status, "GET", url, data, token, headers)
            if outcome is Outcome.OK:
                self._warn_if_expiring(token, headers)
            resources = data.get("resources") if outcome is Outcome.OK and isinstance(data, dict) else None
            if not isinstance(resources, dict):
                log.warning("GitHub answered %s to GET /rate_limit; going on without its budgets", status)
                continue
            for name, values in resources.items():
                budget = _budget_of(values)
                if budget is not None:
                    budget.reset_at = believable_reset(budget.reset_at, self._clock())
                    self.tokens.record(token, name, budget)
                    budgets.setdefault(name, []).append(self._spendable(name, budget))
        return budgets

    def _warn_if_expiring(self, token: Credential | None, headers: Mapping[str, str]) -> None:
        """Say so when a token expires within :data:`EXPIRY_WARNING_DAYS`: from then on GitHub rejects it, and
        every run fails at once, so the warning comes while there is time to renew it."""
        expires = token_expiry(headers)
        if expires is None or token is None or isinstance(token, InstallationCredential):
            # An App's installation tokens last an hour by design, and are minted anew before they end.
            return
        left = expires.timestamp() - self._clock()
        if left > EXPIRY_WARNING_DAYS * 86_400:
            return
        credentials = self.tokens.tokens
        which = f"Token {credentials.index(token) + 1} of {len(credentials)}" if len(credentials) > 1 else "The token"
        log.warning(
            "%s of %s expires on %s UTC, in %s: GitHub then rejects it and runs fail at once. Renew it on GitHub "
            "(Settings, Developer settings, Personal access tokens) and store the new one in its place",
            which,
            self._source(),
            expires.strftime("%Y-%m-%d %H:%M"),
            _days_and_hours(left),
        )

    def budget_left(self, resources: Sequence[str] = ("core", "graphql", "search")) -> dict[str, tuple[int, float]]:
        """``(remaining, reset_at)`` per resource as GitHub last told: the tokens' requests left in their
        windows (the quota reserve included) and the earliest of their resets; a resource whose window
        is not known, or is over, is left out. Asks GitHub nothing."""
        now = self._clock()
        left: dict[str, tuple[int, float]] = {}
        for resource in resources:
            known = [
                budget
                for budget in (self.tokens.budget(token, resource) for token in self.tokens.tokens or [None])
                if budget.remaining is not None and budget.reset_at > now
            ]
            if known:
                left[resource] = (sum(b.remaining or 0 for b in known), min(b.reset_at for b in known))
        return left

    def pauses(self) -> list[float]:
        """When each token paused after a secondary rate limit may send again (epoch seconds); asks GitHub nothing."""
        now = self._clock()
        ends = (self.tokens.paused_until(token) for token in self.tokens.tokens or [None])
        return [end for end in ends if end > now]

    def _rate_limit_of(self, url: str, token: Credential | None) -> tuple[int, Any, Any]:
        """``GET /rate_limit`` with one token; a GitHub App's token refused is given the request loop's chances."""
        refused = _RefusedTokens()
        while True:
            status, headers, data = self._send("GET", url, token, None, None)
            if status == 407:
                # A proxy's answer to a plain-http request (an https one is refused in the tunnel, above).
                raise proxy_authentication_error(url, f"407 {message_of(data) or 'Proxy Authentication Required'}")
            outcome = classify(status, headers, data)
            if outcome is not Outcome.BAD_CREDENTIALS and isinstance(token, InstallationCredential):
                token.known = True
            if outcome is not Outcome.BAD_CREDENTIALS or not self._again_after_refusal(token, refused):
                return status, headers, data
            self.calls["failed"] += 1

    def _again_after_refusal(self, token: Credential | None, refused: _RefusedTokens) -> bool:
        """Whether a 401 to a GitHub App's minted token deserves another try (after a wait, or with a new token)."""
        if not isinstance(token, InstallationCredential):
            return False
        fresh_for = token.fresh_for()
        if fresh_for > 0 and refused.lag_waits < MAX_REPLICATION_WAITS:
            # GitHub's replicas may not know a token minted a moment ago yet: the same one, a bit later.
            refused.lag_waits += 1
            self._wait(min(fresh_for, 0.5 * 2 ** (refused.lag_waits - 1)), "GitHub has not yet learnt of a new token")
            return True
        if token.fingerprint not in refused.renewed:
            # A minted token GitHub no longer accepts (revoked, or a clock off): one fresh token, once.
            refused.renewed.add(token.fingerprint)
            token.invalidate()
            return True
        return False

    def _spendable(self, resource: str, budget: Budget) -> Budget:
        kept = self.tokens.kept(resource, budget)
        if not kept:
            return budget
        remaining = None if budget.remaining is None else max(0, budget.remaining - kept)
        return Budget(limit=(budget.limit or 0) - kept, remaining=remaining, reset_at=budget.reset_at)

    def close(self) -> None:
        self.session.close()

    # -- the one request loop -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        resource: str = "core",
        tolerate_gone: bool = False,
        max_retries: int | None = None,
    ) -> GitHubResponse:
        url = self.url(path)
        retries = self.settings.max_retries if max_retries is None else max_retries
        transient_failures = 0
        secondary_hits = 0
        primary_hits = 0
        refused = _RefusedTokens()
        while True:
            token, wait_until = self.tokens.choose(resource)
            if wait_until:
                self._wait_for_reset(wait_until, resource)
                continue
            try:
                learnt = self._learn_budgets(token, resource)
            except BaseException:
                # A GitHub App's first token is minted here: a refused exchange gives the reservation back too.
                self.tokens.release(token, resource)
                raise
            if learnt:
                self.tokens.release(token, resource)
                continue
            try:
                status, headers, data = self._send(method, url, token, params, json_body)
            except (*TRANSPORT_FAULTS, ValueError) as exc:
                self.tokens.release(token, resource)
                self.calls["failed"] += 1
                if untrusted := certificate_error(exc, url):
                    raise untrusted from exc
                if refused_by_proxy := proxy_refusal(exc, url):
                    raise refused_by_proxy from exc
                transient_failures += 1
                self._after_transient(method, url, transient_failures, exc, retries=retries)
                continue
            except OSError as exc:
                self.tokens.release(token, resource)
                if missing := missing_ca_error(exc):
                    raise missing from exc
                raise
            except BaseException:
                self.tokens.release(token, resource)
                raise
            # The answer's headers count this request from now on, so it is no longer in flight.
            self._record_budget(token, resource, headers)
            self.tokens.release(token, resource)
            if status == 407:
                # A proxy's answer to a plain-http request (an https one is refused in the tunnel, above).
                raise proxy_authentication_error(url, f"407 {message_of(data) or 'Proxy Authentication Required'}")
            outcome = classify(status, headers, data)
            if outcome is not Outcome.BAD_CREDENTIALS and isinstance(token, InstallationCredential):
                token.known = True
            if outcome is Outcome.OK:
                self.calls["ok"] += 1
                rate_limited = _graphql_rate_limited(data) if resource == "graphql" else False
                if not rate_limited:
                    return GitHubResponse(status, url, headers, data)
                self.tokens.exhaust(token, resource, _reset_of(headers, self._clock()))
                continue
            if outcome is Outcome.GONE and tolerate_gone:
                # An answer, not a failure: the caller records the repository gone, with the body's reason.
                self.calls["ok"] += 1
                return GitHubResponse(status, url, headers, data)
            self.calls["failed"] += 1
            if outcome is Outcome.BAD_CREDENTIALS and self._again_after_refusal(token, refused):
                continue
            if outcome is Outcome.PRIMARY_LIMIT:
                primary_hits += 1
                if primary_hits > MAX_LIMIT_ANSWERS_PER_TOKEN * max(1, len(self.tokens.tokens)):
                    raise GitHubError(
                        f"GitHub at {self.base_url} kept answering that the {resource} budget is spent for "
                        f"{_path_of(url)}, {primary_hits} times, after waiting for each reset it named: "
                        f"{message_of(data) or 'no message'}",
                        status=status,
                        url=url,
                    )
                reset_at = _reset_of(headers, self._clock())
                log.warning(
                    "GitHub %s budget of token %s spent; it resets at %s",
                    resource,
                    token.fingerprint if token else "anonymous",
                    _iso(reset_at),
                )
                self._announced_until = reset_at
                self.tokens.exhaust(token, resource, reset_at)
                continue
            if outcome is Outcome.SECONDARY_LIMIT:
                secondary_hits += 1
                self._after_secondary_limit(token, url, headers, data, secondary_hits)
                continue
            if outcome is Outcome.TRANSIENT:
                transient_failures += 1
                retry_after = retry_after_seconds(headers.get("retry-after"), self._clock())
                answered = GitHubError(f"HTTP {status}{request_id_of(headers)}", status=status, url=url)
                self._after_transient(method, url, transient_failures, answered, retry_after, retries=retries)
                continue
            raise self._final_error(outcome, status, method, url, data, token, headers)

    def _send(
        self,
        method: str,
        url: str,
        token: Credential | None,
        params: Mapping[str, Any] | None,
        json_body: Any,
    ) -> tuple[int, requests.structures.CaseInsensitiveDict[str], Any]:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.secret}"
        # GitHub asks for serial requests per token; the lock makes threads of one process take turns.
        with self.tokens.lock_for(token):
            started = time.monotonic()
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                stream=True,
            )
            # Reading the whole body here turns a truncated transfer into an exception, so a half-read
            # page is never parsed.
            content = read_body(response, started, self.settings.answer_deadline)
        if response.history and _origin(response.url) != _origin(self.base_url):
            # requests followed it without the token; what another host answers is not GitHub's, as for a Link.
            raise GitHubError(
                f"GitHub's answer to {_path_of(url)} redirected to {response.url[:200]!r}, which is not on the "
                f"GitHub API's host {self.base_url}: refused",
                url=url,
            )
        data: Any = None
        if content:
            # RecursionError: nested deeper than Python parses, which GitHub never sends; a body cut short or
            # a proxy's page as far as the retries go.
            try:
                data = json.loads(content)
            except (ValueError, RecursionError):
                try:
                    # A number of more digits than Python converts (4,300) fails the whole page; read so,
                    # it stays the text it is, and the transform quarantines the record holding it.
                    data = json.loads(content, parse_int=_int_unless_huge)
                except (ValueError, RecursionError):
                    if 200 <= response.status_code < 300:
                        # The type tells a page cut short from a proxy's or captive portal's own page.
                        kind = (response.headers.get("Content-Type") or "no Content-Type")[:100]
                        size = len(content)
                        raise ValueError(f"GitHub sent a body that is not JSON ({size} bytes, {kind})") from None
                    data = {"message": content[:200].decode("utf-8", "replace")}
        return response.status_code, response.headers, data

    # -- waiting --------------------------------------------------------------------------------

    def _learn_budgets(self, token: Credential | None, resource: str) -> bool:
        """Ask ``/rate_limit`` (free) what a token has left, once, when a reserve is to be kept and nothing is known.

        A task that starts after others spent the budget would otherwise send its first request blind,
        into the reserve. Returns True when something was learnt (the caller then chooses again).
        """
        key = token.fingerprint if token else ANONYMOUS
        if token is None or key in self._probed or self.settings.quota_reserve.amount(resource) == 0:
            return False
        self._probed.add(key)
        if self.tokens.budget(token, resource).remaining is not None:
            return False
        try:
            status, _, data = self._send("GET", self.url("/rate_limit"), token, None, None)
        except (*TRANSPORT_FAULTS, ValueError):
            return False
        resources = data.get("resources") if status == 200 and isinstance(data, dict) else None
        if not isinstance(resources, dict):
            # GitHub Enterprise without rate limits answers 404 here: nothing to keep a reserve of.
            return False
        self.calls["ok"] += 1
        for name, values in resources.items():
            budget = _budget_of(values)
            if budget is not None:
                self.tokens.record(token, name, budget)
        return True

    def _record_budget(self, token: Credential | None, resource: str, headers: Mapping[str, str]) -> None:
        header_resource, budget = parse_budget(headers)
        if budget is not None:
            self.tokens.record(token, header_resource or resource, budget)

    def _wait(self, seconds: float, reason: str) -> None:
        seconds = max(0.0, seconds)
        log.info("Waiting %.1f s: %s", seconds, reason)
        self._sleep(seconds)

    def _wait_for_reset(self, reset_at: float, resource: str) -> None:
        wait = reset_at - self._clock() + self._random.uniform(0, self.settings.reset_jitter)
        if wait > self.settings.max_inline_wait:
            raise RateLimitWaitTooLong(datetime.fromtimestamp(reset_at, tz=UTC), resource)
        if abs(reset_at - self._announced_until) < 1:
            # The warning of the limit that set this wait said until when already.
            self._sleep(max(0.0, wait))
            return
        reason = self.tokens.waiting_reason(resource)
        self._wait(wait, f"no token can send a {resource} request until {_iso(reset_at)}: {reason}")

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads retries of many workers over the whole window.
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
        return self._random.uniform(ceiling / 2, ceiling)

    def _after_transient(
        self,
        method: str,
        url: str,
        failures: int,
        exc: Exception,
        retry_after: float | None = None,
        *,
        retries: int,
    ) -> None:
        """Back off before the next try: at least a 503's ``Retry-After``, within the longest backoff.

        :raise GitHubUnavailableError: after ``retries`` retries.
        """
        proxy = through_proxy(exc, url)
        if failures > retries and proxy:
            # The proxy is down or refuses the tunnel: GitHub was never asked, its host is not what to check.
            raise GitHubUnavailableError(
                f"{proxy[0].upper()}{proxy[1:]} did not let {method} {_path_of(url)} through to GitHub at "
                f"{self.base_url} after {retries} retries ({type(exc).__name__}: {_safe(exc)}). "
                "Check that the proxy is up and lets this host through, or add the host to NO_PROXY if it is "
                "reached directly.",
                url=url,
            ) from exc
        if failures > retries and isinstance(exc, GitHubError) and exc.status:
            raise GitHubUnavailableError(
                f"GitHub at {self.base_url} answered {method} {_path_of(url)} with HTTP {exc.status} "
                f"{failures} times in a row: its service is failing (githubstatus.com tells, or an appliance's "
                "own status page); the task is retried later.",
                status=exc.status,
                url=url,
            ) from exc
        if failures > retries:
            check = f"the host of {self._source()} and the network"
            # A proxy that never answers a tunnel times out like GitHub would: it is named as a suspect too.
            if isinstance(exc, requests.RequestException) and (routed := proxy_of(url)):
                check = f"the host of {self._source()}, the network and {routed}, which requests to it go through"
            raise GitHubUnavailableError(
                f"GitHub at {self.base_url} did not answer {method} {_path_of(url)} after "
                f"{retries} retries ({type(exc).__name__}: {_safe(exc)}). Check {check}.",
                url=url,
            ) from exc
        via = f" through {proxy}" if proxy else ""
        wait = self._backoff(failures)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.settings.backoff_max))
        log.warning(
            "Transient failure on %s %s%s (%s); retry %s of %s in %.1f s",
            method,
            _path_of(url),
            via,
            _safe(exc),
            failures,
            retries,
            wait,
        )
        self._sleep(wait)

    def _after_secondary_limit(
        self, token: Credential | None, url: str, headers: Mapping[str, str], data: Any, hits: int
    ) -> None:
        now = self._clock()
        wait = retry_after_seconds(headers.get("retry-after"), now)
        if wait is None:
            wait = self.settings.secondary_min_wait * 2 ** (hits - 1)
            wait += self._random.uniform(0, self.settings.secondary_min_wait)
        # GitHub's pauses last minutes: a Retry-After beyond its hour-long windows is a header gone wrong.
        until = believable_reset(now + wait, now)
        # GitHub lengthens the block for every request that ignores it: the pause is recorded for every
        # thread and worker that shares the store, and the request loop waits for it like for a reset. The
        # answer that ends the tries is recorded too, so that no other request (a retry of the task) ignores it.
        self.tokens.pause(token, until)
        if hits > self.settings.secondary_max_tries:
            raise GitHubError(
                f"GitHub kept answering with its secondary rate limit for {_path_of(url)} "
                f"after {self.settings.secondary_max_tries} waits: {message_of(data)}",
                url=url,
            )
        log.warning(
            "Secondary rate limit on token %s (%s)%s: no request with it until %s",
            token.fingerprint if token else "anonymous",
            message_of(data) or "no message",
            request_id_of(headers),
            _iso(until),
        )
        self._announced_until = until
        if until - now > self.settings.max_inline_wait:
            raise RateLimitWaitTooLong(datetime.fromtimestamp(until, tz=UTC), "secondary")

    @property
    def token_setting(self) -> str:
        """Where a token for this client is set, for a message that tells to set one."""
        if self.conn_id:
            return f"the password of the GitHub connection '{self.conn_id}'"
        return "GITHUB_TOKEN (no Airflow connection for GitHub is defined)"

    def _source(self) -> str:
        return f"connection '{self.conn_id}'" if self.conn_id else "GITHUB_API_URL and GITHUB_TOKEN"

    def _final_error(
        self,
        outcome: Outcome,
        status: int,
        method: str,
        url: str,
        data: Any,
        token: Credential | None,
        headers: Mapping[str, str],
    ) -> GitHubError:
        message = message_of(data) or "no message"
        if details := details_of(data):
            message = f"{message} ({details})"
        message += request_id_of(headers)
        if outcome is Outcome.BAD_CREDENTIALS and isinstance(token, InstallationCredential):
            # A token minted a moment ago and refused all the same: not a password to fix.
            return BadCredentialsError(
                f"GitHub rejected the tokens minted for GitHub App {token.app.app_id} installation "
                f"{token.installation_id} of {self._source()}, a fresh one too: {status} {message}. "
                "The installation may have been uninstalled or suspended meanwhile; check it in the "
                "account's settings (GitHub Apps).",
                status=status,
                url=url,
            )
        if outcome is Outcome.BAD_CREDENTIALS and token is None:
            # No token was sent: a server that admits no anonymous requests (a GitHub Enterprise Server in
            # private mode) asks for one, there is none to fix.
            where = "as the connection's password" if self.conn_id else "in GITHUB_TOKEN"
            return BadCredentialsError(
                f"{server_name(headers)} at {self.base_url} answers no requests without a token ({status} "
                f"{message.rstrip('.')}), and {self._source()} has no token: set one {where} "
                "(or a GitHub App in the connection's extra).",
                status=status,
                url=url,
            )
        if outcome is Outcome.BAD_CREDENTIALS:
            # Which one, by position: a run with several tokens fails on the first that GitHub refuses.
            credentials = self.tokens.tokens
            which = "the token"
            if len(credentials) > 1 and token in credentials:
                which = f"token {credentials.index(token) + 1} of {len(credentials)}"
            fix = "as the connection's password" if self.conn_id else "in GITHUB_TOKEN"
            return BadCredentialsError(
                f"GitHub rejected {which} of {self._source()}: {status} {message}. "
                f"Set a valid token {fix} (or remove it to go unauthenticated).",
                status=status,
                url=url,
            )
        if outcome is Outcome.FORBIDDEN:
            return ForbiddenError(
                f"GitHub refused {method} {_path_of(url)} for {self._source()}: {status} {message}. "
                "The token lacks a permission for this resource; this is not a rate limit.",
                status=status,
                url=url,
            )
        return GitHubError(f"GitHub answered {status} to {method} {_path_of(url)}: {message}", status=status, url=url)


@dataclass
class _RefusedTokens:
    """What one request did about 401s to GitHub App tokens: waits for GitHub to learn of one, tokens renewed."""

    lag_waits: int = 0
    renewed: set[str] = field(default_factory=set)


def next_link(link_header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if any."""
    if not link_header:
        return None
    for part in link_header.split(","):
        section = part.split(";")
        if len(section) < 2:
            continue
        url = section[0].strip()
        if any(p.strip() in ('rel="next"', "rel=next") for p in section[1:]):
            return url.strip("<>")
    return None


def _int_unless_huge(digits: str) -> int | str:
    """A JSON integer, or its text when it is longer than Python converts (``sys.get_int_max_str_digits``)."""
    try:
        return int(digits)
    except ValueError:
        return digits


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL (the default port spelled out), for telling two hosts apart."""
    parts = requests.utils.urlparse(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: no origin of ours
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _budget_of(values: Any) -> Budget | None:
    """One resource of a ``/rate_limit`` body, or None when it is not the documented shape."""
    try:
        return Budget(limit=int(values["limit"]), remaining=int(values["remaining"]), reset_at=float(values["reset"]))
    except (KeyError, TypeError, ValueError):
        return None


def _validation_errors(data: Mapping[str, Any]) -> str:
    """GitHub's messages for a query its schema refused (each error has an ``extensions.code``), or ``""``."""
    errors = data.get("errors")
    refusals = [
        str(error.get("message") or error["extensions"]["code"])
        for error in (errors if isinstance(errors, list) else [])
        if isinstance(error, dict) and isinstance(error.get("extensions"), dict) and error["extensions"].get("code")
    ]
    return "; ".join(refusals)[:500]


def _graphql_rate_limited(data: Any) -> bool:
    errors = data.get("errors") if isinstance(data, dict) else None
    return bool(errors) and any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED" for e in errors)


def _reset_of(headers: Mapping[str, str], now: float) -> float:
    """When a spent budget may be asked again: its reset, or in a minute when there is none to believe."""
    try:
        reset_at: float | None = float(headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        reset_at = None
    return spent_until(reset_at, now)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


def _path_of(url: str) -> str:
    return requests.utils.urlparse(url).path or "/"


def _safe(exc: Exception) -> str:
    # requests' messages contain the URL but never our headers; keep them short for logs.
    return printable(str(exc), 300)


def _days_and_hours(seconds: float) -> str:
    hours = max(0, int(seconds // 3600))
    days, hours = divmod(hours, 24)
    return f"{days} day(s) {hours} hour(s)" if days else f"{hours} hour(s)"
