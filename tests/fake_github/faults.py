"""Switchable fault injection: the failures GitHub produces, on demand and in a known order.

Every switch is a plain attribute a test may set (``fake.faults.truncate_next = 1``) or send as JSON
to ``POST /_fake/faults``; counters are consumed under a lock so concurrent clients each see a fault
exactly once. Faults apply to API requests only: ``/_fake/*`` and ``GET /rate_limit`` never fail.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Statuses GitHub's edge returns under load.
DEFAULT_ERROR_STATUSES: tuple[int, ...] = (500, 502, 503)
# Long enough to exceed any sensible client read timeout in tests; stop() interrupts it.
DEFAULT_SLOW_SECONDS = 30.0
# A trickled body comes in pieces of this many bytes, each well within a client's read timeout of the last.
TRICKLE_PIECE_BYTES = 64
DEFAULT_TRICKLE_INTERVAL_S = 0.1
# GitHub's usual advice after a secondary limit.
DEFAULT_RETRY_AFTER_S = 60
# How long requests at a rendezvous wait for the others before the rendezvous is called off.
RENDEZVOUS_TIMEOUT_S = 120.0

NEXT_ERROR = "next_error"
SECONDARY_LIMIT = "secondary_limit"
FORBIDDEN = "forbidden"
RANDOM_ERROR = "random_error"
_SETTABLE = (
    "error_rate",
    "error_statuses",
    "next_errors",
    "secondary_limit_next",
    "secondary_limit_resource",
    "retry_after_s",
    "secondary_status",
    "truncate_next",
    "incomplete_search_next",
    "slow_next",
    "slow_seconds",
    "trickle_next",
    "trickle_interval_s",
    "bad_credentials",
    "forbidden_next",
    "hostile",
    "rate_limited_status",
    "graphql_rate_limited_status",
    "graphql_max_nodes",
    "rendezvous",
)


@dataclass(frozen=True)
class InjectedFailure:
    """A failure to answer instead of the real response."""

    kind: str
    status: int


class Faults:
    """The fault switches of one fake.

    :param seed: seeds the random-error sequence, so a run with the same requests fails the same way.
    :param exhaust: callback ``(resource, reset_in_s)`` that empties a rate-limit budget.
    :param clear_exhaustion: callback that refills what ``exhaust`` emptied.
    """

    def __init__(
        self,
        seed: int,
        exhaust: Callable[[str, float], None],
        clear_exhaustion: Callable[[], None],
    ) -> None:
        self._lock = threading.Lock()
        # Requests waiting at a rendezvous wait on this, under the switches' lock.
        self._arrival = threading.Condition(self._lock)
        self._seed = seed
        self._exhaust = exhaust
        self._clear_exhaustion = clear_exhaustion
        self.clear()

    def clear(self) -> None:
        """Switch every fault off and refill exhausted budgets."""
        with self._lock:
            self._rng = random.Random(self._seed)
            self.error_rate: float = 0.0
            self.error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES
            self.next_errors: list[int] = []
            self.secondary_limit_next: int = 0
            # Only requests of this resource (core, search, graphql) get the secondary limits; None: any.
            self.secondary_limit_resource: str | None = None
            self.retry_after_s: int | None = DEFAULT_RETRY_AFTER_S  # None: the variant without Retry-After
            self.secondary_status: int = 403  # GitHub sends 403 or 429
            self.truncate_next: int = 0
            # Searches answered as GitHub answers one that timed out: incomplete_results true, part found.
            self.incomplete_search_next: int = 0
            self.slow_next: int = 0
            self.slow_seconds: float = DEFAULT_SLOW_SECONDS
            # Bodies sent a piece at a time, as a congested link or a stuck proxy delivers them: every read
            # gets bytes before its timeout, so only a deadline for the whole answer ends the wait.
            self.trickle_next: int = 0
            self.trickle_interval_s: float = DEFAULT_TRICKLE_INTERVAL_S
            self.bad_credentials: bool = False
            self.forbidden_next: int = 0
            self.hostile: bool = False
            self.rate_limited_status: int = 403  # REST answer to an exhausted primary budget (or 429)
            self.graphql_rate_limited_status: int = 200  # GraphQL reports RATE_LIMITED in a 200 body
            # A GraphQL query asking for more nodes than this times out (502), as heavy queries do on GitHub.
            self.graphql_max_nodes: int | None = None
            # Hold requests until several clients are mid-run, then switch faults on: see ``meet``.
            self.rendezvous: dict[str, Any] | None = None
            self.rendezvous_met: bool = False
            self._rendezvous_passed = 0
            self._rendezvous_waiting = 0
            self._arrival.notify_all()
        self._clear_exhaustion()

    def exhaust(self, resource: str, reset_in_s: float) -> None:
        """Make a budget (``core``, ``search`` or ``graphql``) 0 now; it refills after ``reset_in_s``."""
        self._exhaust(resource, reset_in_s)

    def update(self, settings: dict[str, Any]) -> None:
        """Set switches from a mapping (the JSON of ``POST /_fake/faults``).

        ``{"clear": true}`` clears first; ``{"exhaust": {"resource": "core", "reset_in_s": 5}}`` exhausts.
        """
        unknown = set(settings) - set(_SETTABLE) - {"clear", "exhaust"}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        if settings.get("clear"):
            self.clear()
        with self._lock:
            self._set(settings)
        exhaust = settings.get("exhaust")
        if exhaust:
            self.exhaust(exhaust["resource"], float(exhaust.get("reset_in_s", 60)))

    def _set(self, settings: dict[str, Any]) -> None:
        """Set the switches ``settings`` names; the caller holds the lock."""
        for name in _SETTABLE:
            if name in settings:
                value = settings[name]
                if name == "error_statuses":
                    value = tuple(value)
                elif name == "next_errors":
                    value = list(value)
                elif name == "rendezvous":
                    self._rendezvous_passed = self._rendezvous_waiting = 0
                    self.rendezvous_met = False
                setattr(self, name, value)

    def snapshot(self) -> dict[str, Any]:
        """Every switch, as ``GET /_fake/stats`` reports it."""
        with self._lock:
            return {name: getattr(self, name) for name in _SETTABLE}

    def waiting_at_rendezvous(self) -> int:
        """How many requests wait at the rendezvous now."""
        with self._lock:
            return self._rendezvous_waiting if self.rendezvous is not None else 0

    # ----------------------------------------------------------------- consumed by the server
    def meet(self, resource: str) -> None:
        """Hold a request at the rendezvous, if one is set, until enough others wait with it.

        ``rendezvous`` is ``{"parties": N, "after": K, "resource": "core", "then": {switches}}``: the first K
        requests of the resource pass; the next ones wait until N of them wait at once (N clients are
        mid-run, since each client's requests follow one another), then ``then``'s switches are set and all
        go on. A fault set this way lands while those clients still have work, however late each started.
        """
        with self._arrival:
            plan = self.rendezvous
            if plan is None or plan.get("resource", resource) != resource:
                return
            if self._rendezvous_passed < plan.get("after", 0):
                self._rendezvous_passed += 1
                return
            self._rendezvous_waiting += 1
            if self._rendezvous_waiting >= plan["parties"]:
                self.rendezvous = None
                self.rendezvous_met = True
                self._set(plan.get("then", {}))
                self._arrival.notify_all()
                return
            if not self._arrival.wait_for(lambda: self.rendezvous is not plan, RENDEZVOUS_TIMEOUT_S):
                # Called off: the run goes on without the faults, and rendezvous_met tells the test so.
                self.rendezvous = None
                self._arrival.notify_all()

    def take_failure(self, resource: str | None = None) -> InjectedFailure | None:
        """The failure the next request (of ``resource``) gets, if any (consumes it)."""
        with self._lock:
            if self.next_errors:
                return InjectedFailure(NEXT_ERROR, int(self.next_errors.pop(0)))
            if self.secondary_limit_next > 0 and self.secondary_limit_resource in (None, resource):
                self.secondary_limit_next -= 1
                return InjectedFailure(SECONDARY_LIMIT, self.secondary_status)
            if self.forbidden_next > 0:
                self.forbidden_next -= 1
                return InjectedFailure(FORBIDDEN, 403)
            if self.error_rate > 0 and self._rng.random() < self.error_rate:
                return InjectedFailure(RANDOM_ERROR, self._rng.choice(self.error_statuses))
            return None

    def take_slow(self) -> float:
        """Seconds to stall the next response (0 when not slow); consumes one ``slow_next``."""
        return self.slow_seconds if self._consume("slow_next") else 0.0

    def take_trickle(self) -> float:
        """Seconds between pieces of the next body (0 when sent whole); consumes one ``trickle_next``."""
        return self.trickle_interval_s if self._consume("trickle_next") else 0.0

    def take_incomplete_search(self) -> bool:
        """Whether the next search timed out half way; consumes one ``incomplete_search_next``."""
        return self._consume("incomplete_search_next")

    def take_truncate(self) -> bool:
        """Whether to cut the next 200 body in half; consumes one ``truncate_next``."""
        return self._consume("truncate_next")

    def _consume(self, counter: str) -> bool:
        """Whether the switch ``counter`` (a count of next requests) is on; takes one off it if so."""
        with self._lock:
            left = getattr(self, counter)
            if left > 0:
                setattr(self, counter, left - 1)
            return left > 0
