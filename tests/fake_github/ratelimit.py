"""Primary rate-limit budgets, per identity (token fingerprint or client IP) and resource."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CORE = "core"
SEARCH = "search"
GRAPHQL = "graphql"
RESOURCES = (CORE, SEARCH, GRAPHQL)
# GitHub's windows: an hour for core and GraphQL, a minute for search.
WINDOW_SECONDS = {CORE: 3600, SEARCH: 60, GRAPHQL: 3600}
# GitHub's limits without a token (GraphQL has none: it refuses anonymous calls).
ANONYMOUS_LIMITS = {CORE: 60, SEARCH: 10, GRAPHQL: 0}


@dataclass(frozen=True)
class Budget:
    """What the ``x-ratelimit-*`` headers say about one bucket."""

    resource: str
    limit: int
    used: int
    reset: int  # epoch seconds

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` response headers."""
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": self.resource,
        }

    def as_json(self) -> dict[str, int]:
        """The bucket as ``GET /rate_limit`` shows it."""
        return {"limit": self.limit, "used": self.used, "remaining": self.remaining, "reset": self.reset}


class _Bucket:
    __slots__ = ("limit", "lowest", "reset_at", "used")

    def __init__(self, limit: int, reset_at: float) -> None:
        self.limit = limit
        self.used = 0
        self.reset_at = reset_at
        # The least this bucket had left in any window, refused requests aside: what a quota reserve keeps.
        self.lowest = limit


class RateLimiter:
    """Count requests against fixed windows; thread-safe.

    :param authenticated_limits: limit per resource for requests with a token.
    :param clock: seconds since the epoch (a parameter so windows can be tested without sleeping).
    """

    def __init__(self, authenticated_limits: dict[str, int], clock: Callable[[], float] | None = None) -> None:
        self._limits = {True: dict(authenticated_limits), False: dict(ANONYMOUS_LIMITS)}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._exhausted_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock or time.time

    def _bucket(self, identity: str, resource: str, authenticated: bool, now: float) -> _Bucket:
        key = (identity, resource)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self._limits[authenticated][resource], now + WINDOW_SECONDS[resource])
            self._buckets[key] = bucket
        forced_until = self._exhausted_until.get(resource)
        if forced_until is not None:
            if now < forced_until:
                bucket.used = bucket.limit
                bucket.reset_at = forced_until
            else:
                del self._exhausted_until[resource]
                self._refill(resource, now)
        if now >= bucket.reset_at:
            bucket.used = 0
            bucket.reset_at = now + WINDOW_SECONDS[resource]
        return bucket

    def _refill(self, resource: str, now: float) -> None:
        for (_, bucket_resource), bucket in self._buckets.items():
            if bucket_resource == resource:
                bucket.used = 0
                bucket.reset_at = now + WINDOW_SECONDS[resource]

    @staticmethod
    def _budget(resource: str, bucket: _Bucket) -> Budget:
        return Budget(resource, bucket.limit, min(bucket.used, bucket.limit), math.ceil(bucket.reset_at))

    def peek(self, identity: str, resource: str, authenticated: bool) -> Budget:
        """The bucket's state, without spending."""
        with self._lock:
            return self._budget(resource, self._bucket(identity, resource, authenticated, self._clock()))

    def spend(self, identity: str, resource: str, authenticated: bool, cost: int = 1) -> tuple[bool, Budget]:
        """Spend ``cost`` if the bucket has it: ``(allowed, state after)``."""
        with self._lock:
            bucket = self._bucket(identity, resource, authenticated, self._clock())
            allowed = bucket.used + cost <= bucket.limit
            if allowed:
                bucket.used += cost
                bucket.lowest = min(bucket.lowest, bucket.limit - bucket.used)
            return allowed, self._budget(resource, bucket)

    def refund(self, identity: str, resource: str, authenticated: bool, cost: int = 1) -> Budget:
        """Give back a spent cost (GitHub does not count a 304 Not Modified to an authorized request)."""
        with self._lock:
            bucket = self._bucket(identity, resource, authenticated, self._clock())
            bucket.used = max(0, bucket.used - cost)
            return self._budget(resource, bucket)

    def lowest_remaining(self) -> dict[str, dict[str, int]]:
        """The least each identity had left per resource in any window (spending requests only).

        A budget emptied by :meth:`exhaust` does not count: that is the fault, not a client's spending.
        """
        with self._lock:
            lowest: dict[str, dict[str, int]] = {}
            for (identity, resource), bucket in self._buckets.items():
                lowest.setdefault(identity, {})[resource] = bucket.lowest
            return lowest

    def exhaust(self, resource: str, reset_in_s: float) -> None:
        """Empty every bucket of a resource (present and future) until ``reset_in_s`` from now."""
        if resource not in RESOURCES:
            raise ValueError(f"unknown resource {resource!r}; expected one of {RESOURCES}")
        with self._lock:
            now = self._clock()
            self._exhausted_until[resource] = now + reset_in_s
            for (_, bucket_resource), bucket in self._buckets.items():
                if bucket_resource == resource:
                    bucket.used = bucket.limit
                    bucket.reset_at = now + reset_in_s

    def clear_exhaustion(self) -> None:
        """Refill every bucket :meth:`exhaust` emptied."""
        with self._lock:
            now = self._clock()
            for resource in list(self._exhausted_until):
                del self._exhausted_until[resource]
                self._refill(resource, now)
