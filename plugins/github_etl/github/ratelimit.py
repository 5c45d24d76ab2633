"""Rate-limit bookkeeping: what each token has left, per resource, and which token to use next.

GitHub counts budgets per *user* and resource (``core``, ``search``, ``graphql``); every response tells
what is left in ``x-ratelimit-*`` headers. Two tokens of the same user share one budget, which the pool
cannot tell from their answers: it sees both drop together, the plan counts the budget once per token, and
the quota reserve may be undercut by a request per extra token. Only tokens of different users add quota.

A token is set aside while its budget is down to the quota reserve (until the reset), and while it is
paused after a secondary rate limit (until ``Retry-After`` has passed). Both live in the store, so a
shared store makes every worker set the token aside, not only the one that learnt it.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from github_etl.settings import QuotaReserve

# GitHub repeats the same reset epoch for a whole window; resets closer than this are one window.
SAME_WINDOW_TOLERANCE_SECONDS = 1.0
# GitHub's longest primary window: a reset further ahead is a clock or a header gone wrong, not a budget.
LONGEST_WINDOW_SECONDS = 3600.0
# GitHub's advice for a spent budget without a usable reset: wait at least a minute before asking again.
UNKNOWN_RESET_WAIT_SECONDS = 60.0
# A reset past by no more than this is a window turning as the refusal travelled, or clocks a little apart.
RECENT_RESET_SECONDS = 5.0


def believable_reset(reset_at: float, now: float) -> float:
    """``reset_at``, but never further ahead than GitHub's longest window (nor infinite, nor not a number)."""
    if not math.isfinite(reset_at):
        return now + LONGEST_WINDOW_SECONDS
    return min(reset_at, now + LONGEST_WINDOW_SECONDS)


def spent_until(reset_at: float | None, now: float) -> float:
    """When to ask again with a budget GitHub refused a request for.

    A reset already past by our clock (ours runs ahead of GitHub's), or none, would send the next request
    at once, into the same refusal, again and again: it waits a minute instead, as GitHub advises. One
    just past is asked again a few seconds after it, once: a second refusal finds it longer past.
    """
    if reset_at is None or not math.isfinite(reset_at) or reset_at <= now - RECENT_RESET_SECONDS:
        return now + UNKNOWN_RESET_WAIT_SECONDS
    if reset_at <= now:
        return reset_at + RECENT_RESET_SECONDS
    return believable_reset(reset_at, now)


@dataclass(frozen=True)
class Token:
    """A credential whose value never shows in ``repr``, logs or exception messages."""

    secret: str

    @property
    def fingerprint(self) -> str:
        # Enough to tell tokens apart in logs and shared state, useless to an attacker.
        return hashlib.sha256(self.secret.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"Token(fingerprint={self.fingerprint})"

    __str__ = __repr__


class Credential(Protocol):
    """What the pool needs of a credential: a stable name for its budget and the secret to send now.

    A :class:`Token` is its own secret; a GitHub App installation mints a new one before the last expires,
    while its budget (and so its fingerprint) stays the installation's.
    """

    @property
    def fingerprint(self) -> str: ...

    @property
    def secret(self) -> str: ...


ANONYMOUS = "anonymous"


@dataclass
class Budget:
    """What GitHub last said about one token's budget for one resource."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float = 0.0  # epoch seconds


def parse_budget(headers: Mapping[str, str]) -> tuple[str | None, Budget | None]:
    """Read ``x-ratelimit-*`` headers; ``(None, None)`` when a response carries none (e.g. a proxy error)."""
    try:
        remaining = int(headers["x-ratelimit-remaining"])
        reset_at = float(headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return None, None
    limit_raw = headers.get("x-ratelimit-limit")
    limit = int(limit_raw) if limit_raw and limit_raw.isdigit() else None
    return headers.get("x-ratelimit-resource"), Budget(limit=limit, remaining=remaining, reset_at=reset_at)


class BudgetStore:
    """In-process budgets keyed by (token fingerprint, resource), and secondary-limit pauses per token.

    Every thread of a process that uses one client shares them. A shared implementation (Redis) keeps
    the same interface and semantics so several workers see one budget and one pause.

    A budget is the lowest ``remaining`` GitHub reported in its window, less the requests sent since and
    not yet answered: an answer only counts the requests that reached GitHub before it, so a request in
    flight is counted as spent until its own answer arrives. The estimate errs low, never high, which is
    what lets a run stop exactly at its reserve however many threads or workers send at once.
    """

    def __init__(self) -> None:
        self._budgets: dict[tuple[str, str], Budget] = {}
        self._in_flight: dict[tuple[str, str], int] = {}
        self._pauses: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, fingerprint: str, resource: str) -> Budget:
        """The budget as last reported, with the requests still in flight already taken off."""
        key = (fingerprint, resource)
        with self._lock:
            stored = self._budgets.get(key)
            if stored is None:
                return Budget()
            if stored.remaining is None:
                return replace(stored)
            return replace(stored, remaining=max(0, stored.remaining - self._in_flight.get(key, 0)))

    def put(self, fingerprint: str, resource: str, budget: Budget, *, force: bool = False) -> None:
        """Record what GitHub said, unless a later answer of the same window already said less.

        :param force: record as given (GitHub refused a request: the budget is spent whatever was stored).
        """
        key = (fingerprint, resource)
        with self._lock:
            stored = self._budgets.get(key)
            if not force and stored is not None and stored.remaining is not None:
                if budget.reset_at < stored.reset_at - SAME_WINDOW_TOLERANCE_SECONDS:
                    return
                if budget.reset_at <= stored.reset_at + SAME_WINDOW_TOLERANCE_SECONDS:
                    remaining = stored.remaining
                    if budget.remaining is not None:
                        remaining = min(remaining, budget.remaining)
                    budget = Budget(budget.limit, remaining, max(budget.reset_at, stored.reset_at))
            self._budgets[key] = budget

    def take(self, fingerprint: str, resource: str, *, now: float | None = None, keep: int = 0) -> bool:
        """Reserve one request unless the budget is down to ``keep`` before its reset.

        Every granted reservation must be given back with :meth:`release` once its answer is in.

        :param now: epoch seconds; a budget whose reset has passed is available again.
        :param keep: requests to leave unspent (the quota reserve).
        :return: False when the budget is spent down to ``keep``, True otherwise (nothing known counts as available).
        """
        current = time.time() if now is None else now
        key = (fingerprint, resource)
        with self._lock:
            stored = self._budgets.get(key)
            in_flight = self._in_flight.get(key, 0)
            known = stored is not None and stored.remaining is not None and stored.reset_at > current
            if known and stored.remaining - in_flight <= keep:
                return False
            self._in_flight[key] = in_flight + 1
            return True

    def release(self, fingerprint: str, resource: str) -> None:
        """A reserved request got its answer (or failed): its answer's headers now count it, if any."""
        key = (fingerprint, resource)
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)

    def pause(self, fingerprint: str, until: float) -> None:
        """Send nothing with this token until ``until`` (epoch seconds); a longer pause already set stays."""
        with self._lock:
            self._pauses[fingerprint] = max(until, self._pauses.get(fingerprint, 0.0))

    def paused_until(self, fingerprint: str) -> float:
        """When the token's secondary-limit pause ends (0 or a past time: not paused)."""
        with self._lock:
            return self._pauses.get(fingerprint, 0.0)

    def load_secret(self, key: str) -> str | None:
        """A minted credential other workers may share (an in-process store shares none)."""
        return None

    def share_secret(self, key: str, secret: str, expires_at: float) -> str:
        """Offer a minted credential to other workers; returns the one to use (the first offered wins)."""
        return secret

    def forget_secret(self, key: str, secret: str) -> None:
        """Stop sharing a credential GitHub refused (an in-process store shares none)."""


class TokenPool:
    """Chooses the token with the most budget left and sets exhausted ones aside until their reset.

    :param tokens: the credentials (token strings or :class:`Credential` objects); empty means unauthenticated.
    :param store: where budgets and pauses live (in-process by default).
    :param clock: epoch-seconds clock, injectable for tests.
    :param reserve: the part of each budget to leave unspent; none by default.
    """

    def __init__(
        self,
        tokens: Sequence[str | Credential],
        *,
        store: BudgetStore | None = None,
        clock: Callable[[], float] = time.time,
        reserve: QuotaReserve | None = None,
    ) -> None:
        credentials: dict[str, Credential] = {}
        for token in tokens:
            if isinstance(token, str):
                if not token.strip():
                    continue
                token = Token(token.strip())
            credentials.setdefault(token.fingerprint, token)
        self.tokens: list[Credential] = list(credentials.values())
        self._store = store or BudgetStore()
        self._clock = clock
        self.reserve = reserve or QuotaReserve(default=0.0)
        # One request at a time per token, as GitHub asks; keyed by fingerprint.
        self._locks = {self._key(t): threading.Lock() for t in self.tokens or [None]}

    @staticmethod
    def _key(token: Credential | None) -> str:
        return token.fingerprint if token else ANONYMOUS

    @property
    def authenticated(self) -> bool:
        return bool(self.tokens)

    def lock_for(self, token: Credential | None) -> threading.Lock:
        return self._locks[self._key(token)]

    def kept(self, resource: str, budget: Budget) -> int:
        """Requests of this budget the reserve keeps (none without a token: 60 an hour leave nothing to share)."""
        return self.reserve.kept(resource, budget.limit) if self.tokens else 0

    def _available(self, resource: str, budget: Budget, now: float) -> bool:
        return budget.remaining is None or budget.reset_at <= now or budget.remaining > self.kept(resource, budget)

    def choose(self, resource: str) -> tuple[Credential | None, float]:
        """Return ``(token, 0)`` for a usable token, or ``(None, until)`` when none can send before ``until``.

        The store reserves a unit of budget (``take``), so two threads or workers that both see one
        request left above the reserve cannot both send it; a refused reservation sets the token aside.
        A granted one must be given back with :meth:`release` when the request is over.
        """
        while True:
            token, wait_until, keep = self._choose_once(resource)
            if wait_until:
                return token, wait_until
            if self._store.take(self._key(token), resource, now=self._clock(), keep=keep):
                return token, wait_until

    def _choose_once(self, resource: str) -> tuple[Credential | None, float, int]:
        """The token with the most budget above its reserve, and that reserve; or when one is next usable."""
        now = self._clock()
        candidates = self.tokens or [None]
        best: Credential | None = None
        best_left = -1.0
        best_keep = 0
        earliest = float("inf")
        for token in candidates:
            paused_until = self._store.paused_until(self._key(token))
            if paused_until > now:
                earliest = min(earliest, paused_until)
                continue
            budget = self._store.get(self._key(token), resource)
            if not self._available(resource, budget, now):
                earliest = min(earliest, budget.reset_at)
                continue
            keep = self.kept(resource, budget)
            left = float("inf") if budget.remaining is None or budget.reset_at <= now else budget.remaining - keep
            if left > best_left:
                best, best_left, best_keep = token, left, keep
        if best_left >= 0:
            return best, 0.0, best_keep
        return None, earliest, 0

    def waiting_reason(self, resource: str) -> str:
        """Why no token can send a ``resource`` request now, for the log line of the wait."""
        now = self._clock()
        reasons = []
        for token in self.tokens or [None]:
            key = self._key(token)
            paused_until = self._store.paused_until(key)
            if paused_until > now:
                reasons.append(f"token {key} paused after a secondary rate limit")
                continue
            budget = self._store.get(key, resource)
            kept = self.kept(resource, budget)
            if kept and budget.remaining:
                reasons.append(
                    f"token {key} down to its reserve of {kept} {resource} requests ({self.reserve.describe(resource)})"
                )
            else:
                reasons.append(f"token {key} has no {resource} budget left")
        return "; ".join(reasons)

    def release(self, token: Credential | None, resource: str) -> None:
        self._store.release(self._key(token), resource)

    def record(self, token: Credential | None, resource: str, budget: Budget) -> None:
        reset_at = believable_reset(budget.reset_at, self._clock())
        self._store.put(self._key(token), resource, replace(budget, reset_at=reset_at))

    def exhaust(self, token: Credential | None, resource: str, reset_at: float) -> None:
        """Set the token aside for ``resource`` until ``reset_at`` (see :func:`spent_until`)."""
        previous = self._store.get(self._key(token), resource)
        until = spent_until(reset_at, self._clock())
        self._store.put(self._key(token), resource, Budget(previous.limit, 0, until), force=True)

    def pause(self, token: Credential | None, until: float) -> None:
        """Set the token aside for every resource until ``until``, for every user of the store."""
        self._store.pause(self._key(token), until)

    def paused_until(self, token: Credential | None) -> float:
        """When a secondary-limit pause of the token ends (0 or past: not paused)."""
        return self._store.paused_until(self._key(token))

    def budget(self, token: Credential | None, resource: str) -> Budget:
        return self._store.get(self._key(token), resource)
