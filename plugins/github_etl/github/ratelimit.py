"""Rate-limit bookkeeping: what each token has left, per resource, and which token to use next.

GitHub counts budgets per *user* and resource (``core``, ``search``, ``graphql``); every response tells
what is left in ``x-ratelimit-*`` headers. Two tokens of the same user share one budget: the pool then
sees both drop together, which is harmless — it merely learns it sooner.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


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
    """In-process budgets keyed by (token fingerprint, resource).

    A shared implementation (Redis) keeps the same interface so several workers see one budget.
    """

    def __init__(self) -> None:
        self._budgets: dict[tuple[str, str], Budget] = {}
        self._lock = threading.Lock()

    def get(self, fingerprint: str, resource: str) -> Budget:
        with self._lock:
            return self._budgets.get((fingerprint, resource), Budget())

    def put(self, fingerprint: str, resource: str, budget: Budget) -> None:
        with self._lock:
            self._budgets[(fingerprint, resource)] = budget


class TokenPool:
    """Chooses the token with the most budget left and sets exhausted ones aside until their reset.

    :param tokens: the credentials; empty means unauthenticated requests.
    :param store: where budgets live (in-process by default).
    :param clock: epoch-seconds clock, injectable for tests.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        store: BudgetStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unique = list(dict.fromkeys(t.strip() for t in tokens if t and t.strip()))
        self.tokens: list[Token] = [Token(t) for t in unique]
        self._store = store or BudgetStore()
        self._clock = clock
        # One request at a time per token, as GitHub asks; keyed by fingerprint.
        self._locks = {self._key(t): threading.Lock() for t in self.tokens or [None]}

    @staticmethod
    def _key(token: Token | None) -> str:
        return token.fingerprint if token else ANONYMOUS

    @property
    def authenticated(self) -> bool:
        return bool(self.tokens)

    def lock_for(self, token: Token | None) -> threading.Lock:
        return self._locks[self._key(token)]

    def _available(self, budget: Budget, now: float) -> bool:
        return budget.remaining is None or budget.remaining > 0 or budget.reset_at <= now

    def choose(self, resource: str) -> tuple[Token | None, float]:
        """Return ``(token, 0)`` for a usable token, or ``(None, reset_at)`` when all are exhausted.

        A shared store that can reserve a unit of budget (``take``) is asked to, so two workers that
        both see one request left cannot both send it; a refused reservation marks the token spent.
        """
        while True:
            token, wait_until = self._choose_once(resource)
            take = getattr(self._store, "take", None)
            if wait_until or take is None or take(self._key(token), resource, now=self._clock()):
                return token, wait_until

    def _choose_once(self, resource: str) -> tuple[Token | None, float]:
        now = self._clock()
        candidates = self.tokens or [None]
        best: Token | None = None
        best_left = -1.0
        earliest_reset = float("inf")
        for token in candidates:
            budget = self._store.get(self._key(token), resource)
            if not self._available(budget, now):
                earliest_reset = min(earliest_reset, budget.reset_at)
                continue
            left = float("inf") if budget.remaining is None or budget.reset_at <= now else budget.remaining
            if left > best_left:
                best, best_left = token, left
        if best_left >= 0:
            return best, 0.0
        return None, earliest_reset

    def record(self, token: Token | None, resource: str, budget: Budget) -> None:
        self._store.put(self._key(token), resource, budget)

    def exhaust(self, token: Token | None, resource: str, reset_at: float) -> None:
        previous = self._store.get(self._key(token), resource)
        self._store.put(self._key(token), resource, Budget(previous.limit, 0, reset_at))

    def budget(self, token: Token | None, resource: str) -> Budget:
        return self._store.get(self._key(token), resource)
