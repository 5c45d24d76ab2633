"""Rate-limit budgets shared by every worker through Redis.

Each Airflow task runs in its own process, often on another machine, and starts knowing nothing
about the budget other tasks have already spent. :class:`RedisBudgetStore` keeps one record per
(token fingerprint, resource) in Redis, so N workers see one budget per token and all wait for the
same reset.

Answers reach the store out of order (a slow response can be recorded after a faster, later one), so
:meth:`RedisBudgetStore.put` is monotonic within a window: it never raises ``remaining`` above what
another worker already recorded for the same reset, and ignores answers from a window already over.
:meth:`RedisBudgetStore.take` reserves one request atomically, so two workers that both see one request
left cannot both send it. Records expire shortly after their reset, so Redis never fills up with old windows.

A secondary-limit pause (:meth:`RedisBudgetStore.pause`) is one key per token that expires when the
pause ends, so every worker sets the token aside until ``Retry-After`` has passed.

Only token fingerprints are stored, never personal tokens. A GitHub App's installation token is shared
(:meth:`RedisBudgetStore.share_secret`) only as the caller gives it: encrypted with a key only the App's
private key yields, and gone from Redis before the token expires.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from github_etl.errors import BudgetStoreUnavailableError, ConfigurationError
from github_etl.github.ratelimit import SAME_WINDOW_TOLERANCE_SECONDS, Budget, BudgetStore

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

_T = TypeVar("_T")

RATE_LIMIT_STORE_ENV = "GITHUB_ETL_RATE_LIMIT_STORE"
DEFAULT_PREFIX = "github_etl:budget:"
REDIS_SCHEMES = ("redis", "rediss", "unix")
# A record outlives its reset by this much, so a worker whose clock lags a little still sees it.
EXPIRY_GRACE_SECONDS = 60.0
# A count of requests in flight, recorded before any answer of the window, lasts no longer than GitHub's window.
IN_FLIGHT_EXPIRY_SECONDS = 3600.0
# redis-py waits for ever by default: a stopped Redis or a dropped route would hold a worker slot until someone
# kills the task. A URL's own ?socket_timeout= and ?socket_connect_timeout= win.
SOCKET_TIMEOUT_SECONDS = 10.0

# KEYS[1]: the budget hash. ARGV: limit ("" if unknown), remaining ("" if unknown), reset_at,
# time to live in milliseconds, same-window tolerance in seconds, "1" to record as given.
# Returns 1 when the record changed, 0 when the answer was older than what is stored.
# The first answer of a new window forgets the requests counted in flight: one whose worker was killed before
# its answer came is never released, and would otherwise be taken off every later window's budget.
_PUT_SCRIPT = """
local new_reset = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[5])
local stored = redis.call('HMGET', KEYS[1], 'remaining', 'reset_at')
local old_remaining = tonumber(stored[1])
local old_reset = tonumber(stored[2])
local remaining = ARGV[2]
local reset = ARGV[3]
if old_reset and ARGV[6] ~= '1' then
  if new_reset < old_reset - tolerance then
    return 0
  end
  if new_reset <= old_reset + tolerance then
    local new_remaining = tonumber(remaining)
    if old_remaining and (not new_remaining or old_remaining < new_remaining) then
      remaining = stored[1]
    end
    if old_reset > new_reset then
      reset = stored[2]
    end
  end
end
if old_reset and new_reset > old_reset + tolerance then
  redis.call('HDEL', KEYS[1], 'in_flight')
end
redis.call('HSET', KEYS[1], 'limit', ARGV[1], 'remaining', remaining, 'reset_at', reset)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1]: the budget hash. ARGV: now in epoch seconds, requests to keep (the quota reserve),
# expiry in milliseconds for a record that has none yet.
# Returns 1 when a request may be sent (counted in flight), 0 when the budget is spent down to the reserve.
_TAKE_SCRIPT = """
local stored = redis.call('HMGET', KEYS[1], 'remaining', 'reset_at', 'in_flight')
local remaining = tonumber(stored[1])
local reset = tonumber(stored[2])
local in_flight = tonumber(stored[3]) or 0
if remaining and reset and reset > tonumber(ARGV[1]) and remaining - in_flight <= tonumber(ARGV[2]) then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'in_flight', 1)
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# KEYS[1]: the budget hash. A request's answer is in: it no longer counts as in flight.
_RELEASE_SCRIPT = """
local in_flight = tonumber(redis.call('HGET', KEYS[1], 'in_flight'))
if in_flight and in_flight > 0 then
  redis.call('HINCRBY', KEYS[1], 'in_flight', -1)
end
return 1
"""

# KEYS[1]: the token's pause key. ARGV: pause end in epoch milliseconds, the pause's length in milliseconds.
# Only lengthens a pause: a shorter Retry-After from another worker's request never cuts one short.
_PAUSE_SCRIPT = """
local until_ms = tonumber(ARGV[1])
local stored = tonumber(redis.call('GET', KEYS[1]))
if stored and stored >= until_ms then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


# KEYS[1]: a shared credential's key. ARGV[1]: the sealed credential a worker found refused. Deleted only while it is
# still that one: another worker may have shared a new one meanwhile.
_FORGET_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _unavailable(url: str, exc: Exception) -> BudgetStoreUnavailableError:
    return BudgetStoreUnavailableError(
        f"{RATE_LIMIT_STORE_ENV} ({describe_url(url)}), the store of the rate-limit budgets every worker shares, "
        f"failed: {exc}. The task's retries go on once it answers again: check that Redis is up and reachable, "
        "and has room (its disk for snapshots, maxmemory)."
    )


def _names_the_store(method: Callable[..., _T]) -> Callable[..., _T]:
    """A Redis failure mid-run as :class:`BudgetStoreUnavailableError` naming the setting, not redis-py's own."""

    @functools.wraps(method)
    def call(self: RedisBudgetStore, *args: Any, **kwargs: Any) -> _T:
        import redis

        try:
            return method(self, *args, **kwargs)
        except redis.exceptions.NoPermissionError as exc:
            # A user's ACL (a managed Redis's, say) that lets it log in but not run these: no retry fixes that.
            raise ConfigurationError(
                f"{RATE_LIMIT_STORE_ENV} ({describe_url(self.url)}) refused the store's commands: {exc}. Its user "
                f"needs Lua scripts (EVAL, EVALSHA, SCRIPT LOAD), GET and SET on the keys {self.prefix}*"
            ) from exc
        except redis.RedisError as exc:
            raise _unavailable(self.url, exc) from exc

    return call


class RedisBudgetStore(BudgetStore):
    """Budgets keyed by (token fingerprint, resource), kept in Redis for every worker to share.

    :param url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS, ``unix://`` for a socket).
    :param prefix: prefix of every key, so several pipelines (or tests) can share one Redis.
    :param client: an existing Redis client to use instead of connecting to ``url``.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, client: Redis | None = None) -> None:
        super().__init__()
        _check_readable(url)
        if client is None:
            import redis

            try:
                client = redis.Redis.from_url(
                    url,
                    decode_responses=True,
                    socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_timeout=SOCKET_TIMEOUT_SECONDS,
                )
            except ValueError as exc:
                # redis-py names the query parameter it cannot read, never the credentials.
                raise ConfigurationError(f"{RATE_LIMIT_STORE_ENV} ({describe_url(url)}): {exc}") from None
            _check_answers(client, url)
        self.url = url
        self.prefix = prefix
        self.redis = client
        self._put = client.register_script(_PUT_SCRIPT)
        self._take = client.register_script(_TAKE_SCRIPT)
        self._release = client.register_script(_RELEASE_SCRIPT)
        self._pause = client.register_script(_PAUSE_SCRIPT)
        self._forget = client.register_script(_FORGET_SCRIPT)
        log.info("Rate-limit budgets are shared through Redis at %s (keys %s*)", describe_url(url), prefix)

    def key(self, fingerprint: str, resource: str) -> str:
        """The Redis key of one token's budget for one resource."""
        return f"{self.prefix}{fingerprint}:{resource}"

    @_names_the_store
    def get(self, fingerprint: str, resource: str) -> Budget:
        """The budget as last reported, with every worker's requests still in flight already taken off."""
        limit, remaining, reset_at, in_flight = self.redis.hmget(
            self.key(fingerprint, resource), "limit", "remaining", "reset_at", "in_flight"
        )
        if reset_at is None:
            return Budget()
        left = _optional_int(remaining)
        if left is not None:
            left = max(0, left - (_optional_int(in_flight) or 0))
        return Budget(limit=_optional_int(limit), remaining=left, reset_at=float(reset_at))

    @_names_the_store
    def put(self, fingerprint: str, resource: str, budget: Budget, *, force: bool = False) -> None:
        """Record what GitHub said, unless another worker already recorded less for the same window.

        :param force: record as given (GitHub refused a request: the budget is spent whatever was stored).
        """
        # Expiries are lengths, not moments: Redis would read a moment on its own clock, and a Redis host a few
        # minutes ahead of the workers would drop a spent budget as it is written.
        now = time.time()
        time_to_live = max(budget.reset_at, now) + EXPIRY_GRACE_SECONDS - now
        self._put(
            keys=[self.key(fingerprint, resource)],
            args=[
                "" if budget.limit is None else budget.limit,
                "" if budget.remaining is None else budget.remaining,
                repr(float(budget.reset_at)),
                max(1, int(time_to_live * 1000)),
                SAME_WINDOW_TOLERANCE_SECONDS,
                "1" if force else "0",
            ],
        )

    @_names_the_store
    def take(self, fingerprint: str, resource: str, *, now: float | None = None, keep: int = 0) -> bool:
        """Reserve one request of the budget, atomically across workers.

        :param now: epoch seconds; a budget whose reset has passed is available again.
        :param keep: requests to leave unspent (the quota reserve).
        :return: False when the budget is spent down to ``keep`` until its reset, True otherwise (nothing
            known counts as available).
        """
        current = time.time() if now is None else now
        return bool(
            self._take(
                keys=[self.key(fingerprint, resource)],
                args=[repr(float(current)), int(keep), int(IN_FLIGHT_EXPIRY_SECONDS * 1000)],
            )
        )

    @_names_the_store
    def release(self, fingerprint: str, resource: str) -> None:
        """A request reserved with :meth:`take` got its answer (or failed)."""
        self._release(keys=[self.key(fingerprint, resource)])

    @_names_the_store
    def pause(self, fingerprint: str, until: float) -> None:
        """Set the token aside for every worker until ``until`` (epoch seconds); the key expires then."""
        length = until - time.time()
        if length > 0:
            self._pause(
                keys=[f"{self.prefix}pause:{fingerprint}"], args=[int(until * 1000), max(1, int(length * 1000))]
            )

    @_names_the_store
    def paused_until(self, fingerprint: str) -> float:
        """When the token's pause ends for every worker (0: not paused)."""
        stored = self.redis.get(f"{self.prefix}pause:{fingerprint}")
        return int(stored) / 1000 if stored else 0.0

    @_names_the_store
    def load_secret(self, key: str) -> str | None:
        """A minted credential another worker shared, while it is fresh enough to use."""
        return self.redis.get(f"{self.prefix}secret:{key}")

    @_names_the_store
    def forget_secret(self, key: str, secret: str) -> None:
        """Drop the shared ``secret`` (GitHub refused it), unless another worker shared a new one meanwhile."""
        self._forget(keys=[f"{self.prefix}secret:{key}"], args=[secret])

    @_names_the_store
    def share_secret(self, key: str, secret: str, expires_at: float) -> str:
        """Store ``secret`` until ``expires_at`` unless another worker stored one first; the one to use."""
        name = f"{self.prefix}secret:{key}"
        length_ms = int((expires_at - time.time()) * 1000)
        if length_ms <= 0:
            return secret
        if self.redis.set(name, secret, nx=True, px=length_ms):
            return secret
        return self.redis.get(name) or secret


def _check_readable(url: str) -> None:
    """Refuse a value that is not a Redis URL, or that a URL parser misreads, without quoting any of it.

    A password holding ``/``, ``?`` or ``#`` unencoded ends the host part early: the parser then reads what
    follows its ``:`` as the port and quotes it in its error, a piece of the password in the task log (or, all
    digits, takes it for the port, and the rest of the password for the database, which messages name).
    """
    schemes = ", ".join(s + "://" for s in REDIS_SCHEMES)
    try:
        parts = urlsplit(url)
        _ = parts.port
        misread = parts.scheme != "unix" and "@" in url.partition("://")[2][len(parts.netloc) :]
    except ValueError:
        misread = True
    if misread:
        raise ConfigurationError(
            f"{RATE_LIMIT_STORE_ENV} is not a URL that can be read ({schemes}): a password holding '/', '?' or '#' "
            "is percent-encoded in a URL, '/' as %2F (urllib.parse.quote(password, safe=''))"
        ) from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ConfigurationError(
            f"{RATE_LIMIT_STORE_ENV} must be a Redis URL ({schemes}); got a URL with scheme {parts.scheme!r}"
        )


def _check_answers(client: Redis, url: str) -> None:
    """Ask Redis once, before any GitHub request: credentials or a database it refuses fail the task at once."""
    import redis

    where = f"{RATE_LIMIT_STORE_ENV} ({describe_url(url)})"
    try:
        client.ping()
    except redis.RedisError as exc:
        # A refused password, user or database is fixed only by the setting; a Redis that cannot write (its disk
        # full: MISCONF, maxmemory reached: OOM) or is failing over (READONLY, LOADING) recovers, as a down one does.
        refused = isinstance(exc, redis.AuthenticationError | redis.exceptions.NoPermissionError) or (
            isinstance(exc, redis.ResponseError) and "DB index" in str(exc)
        )
        if refused:
            raise ConfigurationError(f"{where} refused the connection: {exc}") from exc
        raise _unavailable(url, exc) from exc


def budget_store_from_env(environ: Mapping[str, str] | None = None) -> BudgetStore | None:
    """The shared store named by ``GITHUB_ETL_RATE_LIMIT_STORE``, or None to keep budgets in-process.

    :param environ: the environment to read; ``os.environ`` by default.
    :raises ConfigurationError: when the value is not a Redis URL.
    """
    env = os.environ if environ is None else environ
    url = env.get(RATE_LIMIT_STORE_ENV, "").strip()
    if not url:
        return None
    return RedisBudgetStore(url)


def describe_url(url: str) -> str:
    """A Redis URL without its credentials, fit for logs and messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _optional_int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
