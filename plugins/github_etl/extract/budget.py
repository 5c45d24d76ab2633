"""Will the run fit its GitHub budget? Asked once, in ``plan``, before the requests are spent.

A run that needs more requests than its tokens (or the anonymous budget) can give before its deadline
would otherwise spend what it has, then defer hour after hour; it fails at once instead, with the
numbers and the fix. A run that fits but must wait for a reset says so once, with the time it resumes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from github_etl.errors import ConfigurationError
from github_etl.github.ratelimit import Budget

log = logging.getLogger(__name__)

# GitHub's primary windows: search budgets reset every minute, the others every hour.
WINDOW_SECONDS = {"search": 60}
DEFAULT_WINDOW_SECONDS = 3600
# What GitHub documents for a personal access token, named in the advice to set one.
TOKEN_CORE_LIMIT = 5000


class BudgetTooSmallError(ConfigurationError):
    """The run needs more requests than its budget gives before the deadline; no retry changes that."""


@dataclass(frozen=True)
class Fit:
    """How one resource's need meets its budget.

    :param resource: ``core``, ``search`` or ``graphql``.
    :param needed: requests (GraphQL: points) the run is expected to spend.
    :param remaining: what the tokens have left now.
    :param capacity: what they can give by the deadline, resets included.
    :param enough_at: epoch seconds when the budget has given ``needed`` (now, when it already has).
    """

    resource: str
    needed: int
    remaining: int
    capacity: int
    enough_at: float

    @property
    def fits(self) -> bool:
        return self.needed <= self.capacity

    @property
    def waits(self) -> bool:
        return self.needed > self.remaining


def fit(resource: str, needed: int, budgets: Sequence[Budget], *, now: float, deadline: float) -> Fit:
    """What ``budgets`` (one per token) give for ``resource`` until ``deadline``, reset by reset."""
    window = WINDOW_SECONDS.get(resource, DEFAULT_WINDOW_SECONDS)
    # Every token's refills in time order: (when, how much), the first being what it has now.
    refills: list[tuple[float, int]] = []
    for budget in budgets:
        limit = budget.limit or 0
        remaining = budget.remaining if budget.remaining is not None else limit
        reset_at = budget.reset_at if budget.reset_at > now else now + window
        refills.append((now, remaining))
        when = reset_at
        while when <= deadline and limit > 0:
            refills.append((when, limit))
            when += window
    refills.sort()
    remaining = sum(amount for when, amount in refills if when <= now)
    capacity = 0
    enough_at = math.inf
    for when, amount in refills:
        capacity += amount
        if capacity >= needed and enough_at == math.inf:
            enough_at = when
    return Fit(resource, needed, remaining, capacity, now if needed <= remaining else enough_at)


def check_budget(
    needs: Mapping[str, int],
    budgets: Mapping[str, Sequence[Budget]],
    *,
    now: float,
    deadline_hours: float,
    authenticated: bool,
    advice: str | Callable[[Fit], str],
    announce: bool = True,
    token_setting: str = "the password of the GitHub connection",  # noqa: S107 - a place, not a password
) -> list[Fit]:
    """Fail when a resource cannot give what the run needs before the deadline; announce expected waits.

    :param needs: requests per resource the run is expected to spend.
    :param budgets: each token's budget per resource (``GitHubClient.budgets``); a resource without one is not judged.
    :param deadline_hours: how long the run may take.
    :param authenticated: whether the run has a token (the advice differs).
    :param advice: what the user can lower, in this mode's words (e.g. "lower sample_size"), or a function of
        the resource judged short (what the run needs of it, what it can give) giving it.
    :param announce: log the waits the run should expect (once per run: at its last check).
    :param token_setting: where a token is set, for the advice of a run without one.
    :raise BudgetTooSmallError: a resource's need exceeds what it gives before the deadline.
    """
    deadline = now + deadline_hours * 3600
    fits = [
        fit(resource, needed, budgets[resource], now=now, deadline=deadline)
        for resource, needed in needs.items()
        if needed > 0 and budgets.get(resource)
    ]
    tokens = len(budgets.get("core", [])) or 1
    who = ("the token" if tokens == 1 else f"the {tokens} tokens") if authenticated else "the anonymous budget"
    short = [judged for judged in fits if not judged.fits]
    if short:
        # The resource that fits the smallest share names the fix: a run cut to it fits the others too.
        judged = min(short, key=lambda judged: judged.capacity / judged.needed)
        fitting = judged.capacity / judged.needed
        share = f"about {fitting:.0%} of this run fits"
        lower = advice(judged) if callable(advice) else advice
        fix = (
            f"{lower} ({share}), add tokens, or raise GITHUB_ETL_RUN_DEADLINE_HOURS"
            if authenticated
            else f"set a token as {token_setting} ({TOKEN_CORE_LIMIT:,} requests an hour "
            f"instead of 60), or {lower} ({share})"
        )
        raise BudgetTooSmallError(
            f"This run needs about {judged.needed:,} GitHub {judged.resource} requests, but {who} can give only "
            f"{judged.capacity:,} within the run's deadline of {deadline_hours:g} h "
            f"({judged.remaining:,} now, then each reset's limit). To fix: {fix}."
        )
    for judged in fits if announce else ():
        if judged.waits:
            log.warning(
                "This run needs about %s GitHub %s requests and %s can spend %s now: it will wait for GitHub's "
                "reset(s) (in the worker when short, deferred to the triggerer when longer than "
                "GITHUB_ETL_MAX_RATE_LIMIT_WAIT) and should have what it needs at %s",
                f"{judged.needed:,}",
                judged.resource,
                who,
                f"{judged.remaining:,}",
                datetime.fromtimestamp(judged.enough_at, tz=UTC).isoformat(timespec="seconds"),
            )
    return fits


# Requests per page of a listing or a search, and ids per GraphQL nodes() batch.
PAGE_SIZE = 100


def requests(*, authenticated: bool, core: int = 0, search: int = 0, enriched: int = 0) -> dict[str, int]:
    """Requests (GraphQL: points) per resource of one shard.

    ``core`` and ``search`` as given, plus enriching ``enriched`` repositories: through GraphQL with a
    token (a point per 100), one REST request each without.
    """
    graphql = math.ceil(enriched / PAGE_SIZE) if authenticated else 0
    return {"core": core + (0 if authenticated else enriched), "graphql": graphql, "search": search}


def summed(needs: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Every resource's requests over ``needs`` (one per shard)."""
    total = {"core": 0, "graphql": 0, "search": 0}
    for need in needs:
        for resource, count in need.items():
            total[resource] += count
    return total
