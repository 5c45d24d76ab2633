"""RedisBudgetStore against a real Redis: one budget per token for every worker, never raised within a window."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest

from github_etl.errors import BudgetStoreUnavailableError, ConfigurationError
from github_etl.github.ratelimit import Budget, BudgetStore, TokenPool
from github_etl.github.shared_budget import (
    EXPIRY_GRACE_SECONDS,
    RedisBudgetStore,
    budget_store_from_env,
    describe_url,
)
from tests.ports import closed_port

REDIS_URL = os.environ.get("GITHUB_ETL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FINGERPRINT = "0123456789ab"
RESET = time.time() + 86_400  # a window that outlasts the whole suite, however long it runs


def _budget(**overrides: float | int | None) -> Budget:
    values = {"limit": 5000, "remaining": 100, "reset_at": RESET}
    values.update(overrides)
    return Budget(**values)


@pytest.fixture(scope="module")
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(
            f"Redis at {describe_url(REDIS_URL)} is unreachable ({type(exc).__name__}); "
            "start one or set GITHUB_ETL_TEST_REDIS_URL"
        )
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    unique = f"github_etl_test:{uuid.uuid4().hex[:12]}:"
    yield unique
    keys = list(redis_client.scan_iter(f"{unique}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def store(prefix: str) -> RedisBudgetStore:
    return RedisBudgetStore(REDIS_URL, prefix=prefix)


def test_unknown_budget_is_empty(store: RedisBudgetStore) -> None:
    assert store.get(FINGERPRINT, "core") == Budget()


@pytest.mark.parametrize(
    "budget",
    [_budget(), _budget(limit=None), _budget(remaining=None), _budget(remaining=0, reset_at=RESET + 0.5)],
    ids=["full", "no-limit", "no-remaining", "spent"],
)
def test_put_then_get_round_trips(store: RedisBudgetStore, budget: Budget) -> None:
    store.put(FINGERPRINT, "core", budget)

    assert store.get(FINGERPRINT, "core") == budget


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        pytest.param(_budget(remaining=10), _budget(remaining=40), _budget(remaining=10), id="late-higher-ignored"),
        pytest.param(_budget(remaining=40), _budget(remaining=10), _budget(remaining=10), id="lower-wins"),
        pytest.param(
            _budget(remaining=10),
            _budget(remaining=30, reset_at=RESET + 0.4),
            _budget(remaining=10, reset_at=RESET + 0.4),
            id="same-window-jitter",
        ),
        pytest.param(_budget(remaining=10), _budget(remaining=None), _budget(remaining=10), id="unknown-keeps-known"),
        pytest.param(
            _budget(remaining=0),
            _budget(remaining=4999, reset_at=RESET + 3600),
            _budget(remaining=4999, reset_at=RESET + 3600),
            id="next-window-refills",
        ),
        pytest.param(
            _budget(remaining=4999, reset_at=RESET + 3600),
            _budget(remaining=0),
            _budget(remaining=4999, reset_at=RESET + 3600),
            id="previous-window-ignored",
        ),
    ],
)
def test_put_is_monotonic_within_a_window(
    store: RedisBudgetStore, first: Budget, second: Budget, expected: Budget
) -> None:
    store.put(FINGERPRINT, "core", first)
    store.put(FINGERPRINT, "core", second)

    assert store.get(FINGERPRINT, "core") == expected


def test_budgets_are_per_token_and_resource(store: RedisBudgetStore) -> None:
    store.put(FINGERPRINT, "core", _budget(remaining=1))
    store.put(FINGERPRINT, "search", _budget(remaining=2))
    store.put("ba9876543210", "core", _budget(remaining=3))

    assert [
        store.get(FINGERPRINT, "core").remaining,
        store.get(FINGERPRINT, "search").remaining,
        store.get("ba9876543210", "core").remaining,
    ] == [1, 2, 3]


def test_record_expires_a_little_after_its_reset(store: RedisBudgetStore, redis_client) -> None:
    reset_at = time.time() + 30
    store.put(FINGERPRINT, "core", _budget(reset_at=reset_at))

    ttl = redis_client.pttl(store.key(FINGERPRINT, "core")) / 1000

    assert 30 < ttl <= 30 + EXPIRY_GRACE_SECONDS + 1


def test_a_request_whose_worker_died_before_its_answer_is_forgotten_when_a_new_window_begins(
    store: RedisBudgetStore,
) -> None:
    """A worker killed while its request is out (out of memory, a lost node) never releases it."""
    store.put(FINGERPRINT, "core", _budget(remaining=10))
    assert store.take(FINGERPRINT, "core")  # and the worker dies
    assert store.get(FINGERPRINT, "core").remaining == 9

    # GitHub's next window: one request left, and nothing of this window is on its way any more.
    store.put(FINGERPRINT, "core", _budget(remaining=1, reset_at=RESET + 3600))

    assert store.get(FINGERPRINT, "core").remaining == 1
    assert store.take(FINGERPRINT, "core")


def test_records_last_as_long_on_a_redis_whose_clock_is_ahead_of_the_workers(
    store: RedisBudgetStore, redis_client, monkeypatch
) -> None:
    """Redis reads an expiry moment on its own clock: a host minutes ahead would drop a spent budget, a pause or
    a shared token as it is written. Lengths are the same on every clock."""
    import github_etl.github.shared_budget as shared_budget

    def worker_clock() -> float:
        return time.time() - 150

    monkeypatch.setattr(shared_budget, "time", SimpleNamespace(time=worker_clock))
    now = worker_clock()

    store.put(FINGERPRINT, "core", _budget(remaining=0, reset_at=now + 40))
    store.pause(FINGERPRINT, now + 60)
    store.share_secret("installation-1", "minted", now + 20)

    assert store.get(FINGERPRINT, "core") == _budget(remaining=0, reset_at=now + 40)
    assert (
        39 + EXPIRY_GRACE_SECONDS
        < redis_client.pttl(store.key(FINGERPRINT, "core")) / 1000
        <= 40 + EXPIRY_GRACE_SECONDS
    )
    assert store.paused_until(FINGERPRINT) == pytest.approx(now + 60, abs=0.01)
    assert 59 < redis_client.pttl(f"{store.prefix}pause:{FINGERPRINT}") / 1000 <= 60
    assert store.load_secret("installation-1") == "minted"
    assert 19 < redis_client.pttl(f"{store.prefix}secret:installation-1") / 1000 <= 20


def test_concurrent_answers_leave_the_lowest_remaining(prefix: str) -> None:
    # Eight workers record a window's answers in arbitrary order; the store must end at the lowest.
    answers = list(range(200, 0, -1))
    workers = [RedisBudgetStore(REDIS_URL, prefix=prefix) for _ in range(8)]

    def record(worker: RedisBudgetStore, share: list[int]) -> None:
        for remaining in reversed(share):
            worker.put(FINGERPRINT, "core", _budget(remaining=remaining))

    threads = [threading.Thread(target=record, args=(w, answers[i::8])) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert workers[0].get(FINGERPRINT, "core").remaining == 1


@pytest.mark.parametrize(
    ("recorded", "allowed"),
    [
        pytest.param(None, [True, True, True], id="unknown-budget"),
        pytest.param(_budget(remaining=2), [True, True, False], id="two-left"),
        pytest.param(_budget(remaining=0), [False, False, False], id="spent"),
        pytest.param(_budget(remaining=0, reset_at=time.time() - 1), [True, True, True], id="reset-passed"),
    ],
)
def test_take_reserves_what_is_left(store: RedisBudgetStore, recorded: Budget | None, allowed: list[bool]) -> None:
    if recorded is not None:
        store.put(FINGERPRINT, "core", recorded)

    assert [store.take(FINGERPRINT, "core") for _ in allowed] == allowed


def test_concurrent_takes_never_exceed_the_budget(prefix: str) -> None:
    left = 25
    workers = [RedisBudgetStore(REDIS_URL, prefix=prefix) for _ in range(6)]
    workers[0].put(FINGERPRINT, "core", _budget(remaining=left))
    granted: list[bool] = []
    lock = threading.Lock()

    def spend(worker: RedisBudgetStore) -> None:
        for _ in range(10):
            taken = worker.take(FINGERPRINT, "core")
            with lock:
                granted.append(taken)

    threads = [threading.Thread(target=spend, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert (granted.count(True), len(granted)) == (left, 60)
    assert workers[0].get(FINGERPRINT, "core").remaining == 0


def test_token_pools_of_two_workers_see_one_budget(prefix: str) -> None:
    """What one worker learns (a spent budget) makes the other wait for the same reset."""
    reset_at = time.time() + 120
    first = TokenPool(["token-of-worker-a"], store=RedisBudgetStore(REDIS_URL, prefix=prefix))
    second = TokenPool(["token-of-worker-a"], store=RedisBudgetStore(REDIS_URL, prefix=prefix))
    token, _ = first.choose("core")

    first.exhaust(token, "core", reset_at)

    assert second.choose("core") == (None, reset_at)
    assert second.choose("search")[0] is not None


@pytest.fixture(params=["in-process", "redis"])
def any_store(request: pytest.FixtureRequest) -> BudgetStore:
    """Each store implementation: the in-process one and Redis (whose keys go with the test)."""
    if request.param == "in-process":
        return BudgetStore()
    return RedisBudgetStore(REDIS_URL, prefix=request.getfixturevalue("prefix"))


def test_take_keeps_the_reserve(any_store: BudgetStore) -> None:
    any_store.put(FINGERPRINT, "core", _budget(remaining=5))

    assert [any_store.take(FINGERPRINT, "core", keep=3) for _ in range(4)] == [True, True, False, False]


def test_requests_in_flight_count_as_spent_until_answered(any_store: BudgetStore) -> None:
    """An answer counts only what reached GitHub before it; a request still out is spent all the same."""
    any_store.put(FINGERPRINT, "core", _budget(remaining=10))
    assert any_store.take(FINGERPRINT, "core") and any_store.take(FINGERPRINT, "core")
    assert any_store.get(FINGERPRINT, "core").remaining == 8

    # The first answer was sent before GitHub saw the second request: it says 9, and 8 stays true.
    any_store.put(FINGERPRINT, "core", _budget(remaining=9))
    any_store.release(FINGERPRINT, "core")
    assert any_store.get(FINGERPRINT, "core").remaining == 8

    any_store.put(FINGERPRINT, "core", _budget(remaining=8))
    any_store.release(FINGERPRINT, "core")
    assert any_store.get(FINGERPRINT, "core").remaining == 8


def test_refusal_is_recorded_even_when_its_reset_is_earlier(any_store: BudgetStore) -> None:
    any_store.put(FINGERPRINT, "core", _budget(remaining=100, reset_at=RESET))

    any_store.put(FINGERPRINT, "core", _budget(remaining=0, reset_at=RESET - 300), force=True)

    assert any_store.get(FINGERPRINT, "core") == _budget(remaining=0, reset_at=RESET - 300)


def test_a_pause_only_ever_lengthens(any_store: BudgetStore) -> None:
    now = time.time()
    any_store.pause(FINGERPRINT, now + 30)
    any_store.pause(FINGERPRINT, now + 10)

    assert any_store.paused_until(FINGERPRINT) == pytest.approx(now + 30, abs=0.01)
    assert any_store.paused_until("ba9876543210") == 0


def test_a_secondary_limit_pause_sets_the_token_aside_for_every_worker(prefix: str, redis_client) -> None:
    first = TokenPool(["token-of-worker-a", "token-b"], store=RedisBudgetStore(REDIS_URL, prefix=prefix))
    second = TokenPool(["token-of-worker-a", "token-b"], store=RedisBudgetStore(REDIS_URL, prefix=prefix))
    paused, other = first.tokens
    until = time.time() + 30

    first.pause(paused, until)

    # The other worker moves to the token that is not paused; with both paused it waits for the first to end.
    assert second.choose("core")[0] == other
    second.pause(other, until + 10)
    assert second.choose("search") == (None, pytest.approx(until, abs=0.01))
    assert 29 < redis_client.pttl(f"{prefix}pause:{paused.fingerprint}") / 1000 <= 30


def test_a_shared_secret_is_the_first_one_offered(store: RedisBudgetStore, redis_client) -> None:
    expires_at = time.time() + 20

    assert store.share_secret("installation-1", "first", expires_at) == "first"
    assert store.share_secret("installation-1", "second", expires_at) == "first"
    assert store.load_secret("installation-1") == "first"
    assert 19 < redis_client.pttl(f"{store.prefix}secret:installation-1") / 1000 <= 20
    assert BudgetStore().share_secret("installation-1", "second", expires_at) == "second"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_store_configured_keeps_budgets_in_process(value: str | None) -> None:
    environ = {} if value is None else {"GITHUB_ETL_RATE_LIMIT_STORE": value}

    assert budget_store_from_env(environ) is None


def test_store_from_env_is_redis(redis_client) -> None:
    store = budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": REDIS_URL})

    assert isinstance(store, RedisBudgetStore)
    assert store.redis.ping()


def test_store_that_is_not_redis_is_refused_without_showing_credentials() -> None:
    with pytest.raises(ConfigurationError, match="Redis URL") as refused:
        budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": "memcached://user:s3cret-pass@cache:11211"})

    assert "s3cret-pass" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret-pass@cache.internal:6380/2", "redis://cache.internal:6380/2"),
        ("rediss://user:s3cret-pass@cache.internal/0", "rediss://cache.internal/0"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_described_url_has_no_credentials(url: str, shown: str) -> None:
    assert describe_url(url) == shown


def _with(url: str, *, credentials: str = "", database: str | None = None) -> str:
    """REDIS_URL with other credentials or another database number."""
    parts = urlsplit(url)
    netloc = f"{credentials}@{parts.hostname}:{parts.port or 6379}" if credentials else parts.netloc
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}" if database is not None else parts.path))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"credentials": "nobody:s3cret-pass"}, "invalid username-password pair"),
        ({"database": "4096"}, "DB index is out of range"),
    ],
)
def test_a_store_that_refuses_its_settings_fails_at_once_naming_the_setting(redis_client, change, reason) -> None:
    """A retry cannot fix a wrong password or database: refused when the store is made, before any request."""
    url = _with(REDIS_URL, **change)

    with pytest.raises(ConfigurationError) as refused:
        budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": url})

    message = str(refused.value)
    assert "GITHUB_ETL_RATE_LIMIT_STORE" in message and describe_url(url) in message and reason in message
    assert "s3cret-pass" not in message


@pytest.mark.parametrize(
    "rules", [["~*", "+@all", "-@scripting"], ["~other_app:*", "+@all"]], ids=["no-scripts", "other-keys"]
)
def test_a_user_that_may_not_run_the_stores_commands_fails_at_once_naming_what_it_needs(redis_client, rules) -> None:
    """A Redis user that logs in and answers PING but whose ACL leaves out Lua scripts or the store's keys (as a
    managed Redis sets users up): no retry fixes that, so it is a final error, not "check that Redis is up"."""
    user = f"github_etl_test_{uuid.uuid4().hex[:8]}"
    redis_client.acl_setuser(user, enabled=True, passwords=["+s3cret-pass"], reset=True)
    redis_client.execute_command("ACL", "SETUSER", user, *rules)
    try:
        store = budget_store_from_env(
            {"GITHUB_ETL_RATE_LIMIT_STORE": _with(REDIS_URL, credentials=f"{user}:s3cret-pass")}
        )
        with pytest.raises(ConfigurationError) as refused:
            store.take("0123456789ab", "core", keep=0)
    finally:
        redis_client.acl_deluser(user)

    message = str(refused.value)
    assert "GITHUB_ETL_RATE_LIMIT_STORE" in message and "no permissions" in message, message
    assert f"keys {store.prefix}*" in message and "s3cret-pass" not in message


def test_a_store_that_does_not_answer_is_named_and_left_to_the_task_retries() -> None:
    unused_port = closed_port()
    url = f"redis://:s3cret-pass@127.0.0.1:{unused_port}/0"

    with pytest.raises(BudgetStoreUnavailableError) as unavailable:
        budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": url})

    message = str(unavailable.value)
    assert "GITHUB_ETL_RATE_LIMIT_STORE" in message and f"redis://127.0.0.1:{unused_port}/0" in message
    assert "s3cret-pass" not in message
    assert not isinstance(unavailable.value, ConfigurationError)


def test_a_frozen_store_times_out_instead_of_holding_the_task(redis_client) -> None:
    """A Redis that accepts connections and never answers (stopped, or a network black hole) must not hang a
    worker slot for ever: every call has a deadline, after which the task fails and Airflow retries it."""
    store = budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": REDIS_URL})

    kwargs = store.redis.connection_pool.connection_kwargs
    assert 0 < kwargs["socket_connect_timeout"] <= 30
    assert 0 < kwargs["socket_timeout"] <= 30


def test_timeouts_given_in_the_url_are_kept(redis_client) -> None:
    store = budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": f"{REDIS_URL}?socket_timeout=3"})

    assert store.redis.connection_pool.connection_kwargs["socket_timeout"] == 3


@pytest.mark.parametrize("password", ["s3cret/Xq9z", "s3cret#Xq9z", "s3cret?Xq9z", "12345/s3cretXq9z"])
def test_a_password_not_percent_encoded_is_refused_without_quoting_any_of_it(password: str) -> None:
    """Base64-style passwords hold '/': unencoded, a URL parser reads their first part as the port and quotes it."""
    import traceback

    url = f"redis://:{password}@cache.internal:6379/0"

    with pytest.raises(ConfigurationError, match="percent-encoded") as refused:
        budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": url})

    shown = "".join(traceback.format_exception(refused.value))
    assert [part for part in ("s3cret", "Xq9z", "12345") if part in shown] == []
