"""The GitHub client and hook against the fake GitHub over real HTTP: paging, retries, limits, final errors."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from github_etl.errors import (
    BadCredentialsError,
    ConfigurationError,
    ForbiddenError,
    GitHubError,
    GitHubUnavailableError,
    RateLimitWaitTooLong,
)
from github_etl.github.client import MAX_LIMIT_ANSWERS_PER_TOKEN, GitHubClient, graphql_url, next_link
from github_etl.github.ratelimit import BudgetStore
from github_etl.hooks.github import GitHubHook
from github_etl.settings import ClientSettings, QuotaReserve
from tests.fake_github import FakeGitHub
from tests.listing import listing_pages
from tests.ports import closed_port

TOKEN = "ghp_unit_test_token_0123456789"
OTHER_TOKEN = "ghp_other_test_token_9876543210"
# Waits scaled down by configuration: the code waits exactly as in production, only for less.
FAST = ClientSettings(
    connect_timeout=1,
    read_timeout=1,
    max_retries=3,
    backoff_base=0.01,
    backoff_max=0.02,
    secondary_min_wait=0.02,
    secondary_max_tries=3,
    max_inline_wait=10,
    reset_jitter=0.01,
    # The fake's budgets are tiny; the reserve tests set their own.
    quota_reserve=QuotaReserve(default=0.0),
)


@pytest.fixture
def fake(fake_github_factory: Callable[..., FakeGitHub]) -> FakeGitHub:
    return fake_github_factory(repo_count=250, seed=5, vanished_ratio=0.05, owners={"apache": 230, "octocat": 3})


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.waits.append(seconds)
        time.sleep(seconds)


def _client(fake: FakeGitHub, tokens=(TOKEN,), **kwargs) -> GitHubClient:
    return GitHubClient(
        fake.base_url, tokens, settings=kwargs.pop("settings", FAST), conn_id="github_default", **kwargs
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            '<https://api.github.com/repositories?since=367>; rel="next", <https://x/{?since}>; rel="first"',
            "https://api.github.com/repositories?since=367",
        ),
        ('<https://x/a?page=1>; rel="prev", <https://x/a?page=3>; rel="next"', "https://x/a?page=3"),
        ('<https://x/a?page=1>; rel="first"', None),
        (None, None),
    ],
)
def test_next_link(header, expected) -> None:
    assert next_link(header) == expected


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/graphql"),
    ],
)
def test_graphql_url(base, expected) -> None:
    assert graphql_url(base) == expected


def test_listing_pages_follow_link_headers_to_the_end(fake: FakeGitHub) -> None:
    client = _client(fake)
    ids = [repo["id"] for page in listing_pages(client, "/repositories", {"since": 0}) for repo in page.data]
    assert ids == [i for i in fake.ids if i <= max(ids)]
    assert ids[-1] == max(fake.ids)
    assert client.api_requests == fake.count(path_prefix="/repositories")


def test_owner_listing_pages(fake: FakeGitHub) -> None:
    client = _client(fake)
    pages = list(listing_pages(client, "/orgs/apache/repos", {"per_page": 100}))
    repos = [repo for page in pages for repo in page.data]
    assert [len(p.data) for p in pages][:2] == [100, 100] and len(pages) == 3
    assert len({r["id"] for r in repos}) == len(repos)
    assert {r["owner"]["login"] for r in repos} == {"apache"}


def test_retries_5xx_then_succeeds(fake: FakeGitHub) -> None:
    fake.faults.next_errors = [502, 503, 500]
    client = _client(fake)
    response = client.get("/repositories", {"since": 0})
    assert response.status == 200 and len(response.data) == 100
    assert client.calls["failed"] == 3 and client.calls["ok"] == 1


def test_gives_up_after_bounded_retries_with_a_clear_error(fake: FakeGitHub) -> None:
    fake.faults.next_errors = [502] * 10
    client = _client(fake)
    with pytest.raises(GitHubUnavailableError, match=r"answered GET /repositories with HTTP 502 4 times in a row"):
        client.get("/repositories", {"since": 0})
    assert fake.count(status=502) == 4


@pytest.mark.parametrize("fault", ["truncate_next", "slow_next"])
def test_truncated_or_slow_response_is_retried_never_used(fake: FakeGitHub, fault: str) -> None:
    setattr(fake.faults, fault, 1)
    if fault == "slow_next":
        fake.faults.slow_seconds = 3  # beyond FAST.read_timeout
    client = _client(fake)
    response = client.get("/repositories", {"since": 0})
    assert [r["id"] for r in response.data] == list(fake.ids[:100])
    assert client.calls["failed"] == 1


def test_an_answer_trickling_in_within_each_read_timeout_is_given_up_at_the_deadline_and_retried(
    fake: FakeGitHub,
) -> None:
    # 64 bytes every 0.1 s: each read gets bytes well before its timeout, and the page would take minutes.
    fake.faults.trickle_next = 1
    client = _client(fake, settings=replace(FAST, answer_deadline=1.0))
    response = client.get("/repositories", {"since": 0})
    assert [r["id"] for r in response.data] == list(fake.ids[:100])
    assert client.calls["failed"] == 1
    assert len(fake.requests) == 2


def test_an_answer_that_keeps_trickling_fails_saying_so(fake: FakeGitHub) -> None:
    fake.faults.trickle_next = 10
    client = _client(fake, settings=replace(FAST, answer_deadline=0.5, max_retries=1))
    with pytest.raises(GitHubUnavailableError, match=r"answer took longer than 0\.5 s"):
        client.get("/repositories", {"since": 0})
    assert len(fake.requests) == 2


def test_bad_credentials_fail_at_once_naming_the_connection_not_the_token(fake: FakeGitHub) -> None:
    fake.faults.bad_credentials = True
    client = _client(fake)
    with pytest.raises(BadCredentialsError) as raised:
        client.get("/repositories", {"since": 0})
    assert "github_default" in str(raised.value)
    assert TOKEN not in str(raised.value) and TOKEN not in repr(raised.value)
    assert len(fake.requests) == 1


def test_a_refused_token_among_several_is_named_by_its_position(fake_github_factory) -> None:
    fake = fake_github_factory(repo_count=50, tokens={TOKEN})
    client = GitHubClient(fake.base_url, [TOKEN, OTHER_TOKEN], settings=FAST, conn_id="github_default")
    with pytest.raises(BadCredentialsError) as raised:
        for _ in range(4):  # the pool takes each token in turn
            client.get("/repositories", {"since": 0})
    assert "GitHub rejected token 2 of 2 of connection 'github_default'" in str(raised.value)
    assert OTHER_TOKEN not in str(raised.value)


def test_tokens_from_the_environment_are_named_as_such_when_refused(fake_github_factory, monkeypatch) -> None:
    fake = fake_github_factory(repo_count=50, tokens={TOKEN})
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT", raising=False)
    monkeypatch.setenv("GITHUB_API_URL", fake.base_url)
    monkeypatch.setenv("GITHUB_TOKEN", OTHER_TOKEN)
    with pytest.raises(BadCredentialsError, match="rejected the token of GITHUB_API_URL and GITHUB_TOKEN") as raised:
        GitHubHook(settings=FAST).get_conn().get("/repositories", {"since": 0})
    assert "Set a valid token in GITHUB_TOKEN" in str(raised.value)
    monkeypatch.setenv("GITHUB_API_URL", "ftp://127.0.0.1:8080")
    with pytest.raises(ConfigurationError, match=r"^GITHUB_API_URL has no usable API base URL"):
        GitHubHook(settings=FAST).get_conn()


def test_permission_403_is_final_not_a_rate_limit(fake: FakeGitHub) -> None:
    fake.faults.forbidden_next = 1
    client = _client(fake)
    with pytest.raises(ForbiddenError, match="not a rate limit"):
        client.get("/repositories/1")
    assert len(fake.requests) == 1


@pytest.mark.parametrize("retry_after", [0, None])
def test_secondary_limit_waits_and_retries(fake: FakeGitHub, retry_after) -> None:
    fake.faults.secondary_limit_next = 2
    fake.faults.retry_after_s = retry_after
    sleep = RecordingSleep()
    client = _client(fake, sleep=sleep)
    assert client.get("/repositories", {"since": 0}).status == 200
    assert len(fake.requests) == 3
    # Retry-After: 0 ends the pause at once; without it the client waits the doubling minimum.
    assert len(sleep.waits) == (0 if retry_after == 0 else 2)
    if retry_after is None:
        # Without Retry-After: at least the minimum, doubling.
        assert sleep.waits[0] >= FAST.secondary_min_wait
        assert sleep.waits[1] >= 2 * FAST.secondary_min_wait


def test_secondary_limit_gives_up_after_bounded_tries(fake: FakeGitHub) -> None:
    fake.faults.secondary_limit_next = 10
    fake.faults.retry_after_s = 0
    with pytest.raises(GitHubError, match="secondary rate limit"):
        _client(fake).get("/repositories", {"since": 0})
    assert len(fake.requests) == FAST.secondary_max_tries + 1


def test_the_secondary_limit_that_ends_the_tries_pauses_the_token_for_every_client_of_the_store(
    fake: FakeGitHub,
) -> None:
    """GitHub's last Retry-After holds after the client gives up: a worker sharing the budget store (or the task's
    retry) does not send into the limit."""
    store = BudgetStore()
    fake.faults.secondary_limit_next = 10
    fake.faults.retry_after_s = 30
    clock = MovingClock(real_sleep=0)
    settings = replace(FAST, max_inline_wait=60)
    with pytest.raises(GitHubError, match="secondary rate limit"):
        _client(fake, settings=settings, budget_store=store, sleep=clock.sleep, clock=clock).get("/repositories")
    assert clock.waits == pytest.approx([30] * FAST.secondary_max_tries, abs=1)
    (pause,) = _client(fake, budget_store=store, clock=clock).pauses()
    assert pause == pytest.approx(clock() + 30, abs=5)


def test_a_server_refusing_every_request_as_over_its_budget_fails_after_bounded_waits(scripted_github) -> None:
    """GitHub serves a request once the reset it named has passed; a server that refuses whatever the time (a proxy,
    an appliance) is given a few resets per token, not waited for forever."""
    refusal = (403, {"X-RateLimit-Remaining": "0"}, '{"message": "API rate limit exceeded"}')
    route = scripted_github.route("GET", "/repositories", lambda _request: refusal)
    clock = MovingClock(real_sleep=0)
    settings = replace(FAST, max_inline_wait=300)
    client = GitHubClient(
        scripted_github.base_url, [TOKEN, OTHER_TOKEN], settings=settings, sleep=clock.sleep, clock=clock
    )

    with pytest.raises(GitHubError, match="kept answering that the core budget is spent") as raised:
        client.get("/repositories", {"since": 0})

    assert route.call_count == 2 * MAX_LIMIT_ANSWERS_PER_TOKEN + 1
    assert "after waiting for each reset it named: API rate limit exceeded" in str(raised.value)
    assert not isinstance(raised.value, RateLimitWaitTooLong)
    # Without a reset to believe, a minute each time both tokens were refused.
    assert sum(clock.waits) == pytest.approx(60 * MAX_LIMIT_ANSWERS_PER_TOKEN, abs=5)


def test_a_retry_after_given_as_a_date_is_waited_for(scripted_github) -> None:
    from email.utils import formatdate

    answers = iter(
        [
            # HTTP allows Retry-After as a date too; a proxy in front of GitHub may send one.
            (429, {"Retry-After": formatdate(time.time() + 120, usegmt=True)}, '{"message": "Too Many Requests"}'),
            (200, {}, "[]"),
        ]
    )
    route = scripted_github.route("GET", "/repositories", lambda _request: next(answers))
    clock = MovingClock(real_sleep=0)
    settings = replace(FAST, max_inline_wait=300)
    client = GitHubClient(scripted_github.base_url, [TOKEN], settings=settings, sleep=clock.sleep, clock=clock)

    assert client.get("/repositories", {"since": 0}).status == 200
    assert route.call_count == 2
    assert 115 <= sum(clock.waits) <= 121


def test_a_retry_after_further_ahead_than_an_hour_pauses_the_token_for_an_hour(scripted_github) -> None:
    message = '{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}'
    scripted_github.route("GET", "/repositories", lambda _request: (403, {"Retry-After": "9" * 15}, message))

    with pytest.raises(RateLimitWaitTooLong) as raised:
        _client(scripted_github).get("/repositories", {"since": 0})
    assert raised.value.resume_at.timestamp() <= time.time() + 3600 + 1


def test_a_page_a_proxy_answers_instead_of_github_is_named_by_its_content_type(scripted_github) -> None:
    portal = "<html><head><title>Guest Wi-Fi</title></head><body>Please log in</body></html>"
    route = scripted_github.route("GET", "/repositories", lambda _request: (200, {"Content-Type": "text/html"}, portal))

    with pytest.raises(GitHubUnavailableError, match="text/html"):
        _client(scripted_github).get("/repositories", {"since": 0})
    # Retried, as a page cut short is, but boundedly.
    assert route.call_count == FAST.max_retries + 1


def test_an_answer_nested_deeper_than_python_parses_is_named_and_retried_not_a_recursion_error(
    scripted_github,
) -> None:
    route = scripted_github.route("GET", "/repositories", lambda _request: (200, {}, "[" * 100_000 + "]" * 100_000))

    with pytest.raises(GitHubUnavailableError, match="not JSON"):
        _client(scripted_github).get("/repositories", {"since": 0})
    assert route.call_count == FAST.max_retries + 1


def test_a_secondary_limit_pauses_the_token_for_every_thread(fake_github_factory) -> None:
    """After one thread's secondary limit, no thread sends with that token until Retry-After has passed."""
    threads = 4
    fake = fake_github_factory(repo_count=50, latency_ms=20)
    fake.faults.update({"secondary_limit_next": 1, "retry_after_s": 1})
    client = _client(fake)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = list(pool.map(lambda _: client.get("/repositories", {"since": 0}).status, range(40)))

    assert statuses == [200] * 40
    (limited,) = [r for r in fake.requests if r.fault == "secondary_limit"]
    during_pause = [r for r in fake.requests if limited.at < r.received_at < limited.at + 1]
    # Only requests the other threads had already sent when the answer came may arrive during the pause.
    assert len(during_pause) <= threads - 1
    assert [r for r in fake.requests if r.received_at >= limited.at + 1]


def test_primary_exhaustion_waits_for_the_reset(fake: FakeGitHub) -> None:
    fake.faults.exhaust("core", 30)
    # The budget refills once the client has waited, however long the machine took to send the request.
    clock = MovingClock(real_sleep=0, after_wait=fake.faults.clear)
    client = _client(fake, sleep=clock.sleep, clock=clock, settings=replace(FAST, max_inline_wait=120))
    assert client.get("/repositories", {"since": 0}).status == 200
    assert clock.waits and 25.0 < max(clock.waits) <= 30.0 + FAST.reset_jitter + 1
    assert fake.count(status=200) == 1


def test_primary_exhaustion_longer_than_the_inline_limit_asks_to_defer(fake: FakeGitHub) -> None:
    fake.faults.exhaust("core", 3600)
    client = _client(fake)
    with pytest.raises(RateLimitWaitTooLong) as raised:
        client.get("/repositories", {"since": 0})
    assert raised.value.resource == "core"


class MovingClock:
    """Our clock; a wait moves it on at once and sleeps for real only briefly, then runs ``after_wait``."""

    def __init__(self, real_sleep: float, after_wait: Callable[[], None] = lambda: None) -> None:
        self.offset = 0.0
        self.real_sleep = real_sleep
        self.after_wait = after_wait
        self.waits: list[float] = []

    def __call__(self) -> float:
        import time

        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        import time

        self.waits.append(seconds)
        self.offset += seconds
        time.sleep(min(seconds, self.real_sleep))
        self.after_wait()


def test_a_spent_budget_whose_reset_our_clock_has_passed_is_not_asked_again_at_once(fake_github_factory) -> None:
    # GitHub's clock ten minutes behind ours: its reset, five minutes ahead for GitHub, is long past for us.
    fake = fake_github_factory(repo_count=50, clock_skew_s=-600)
    fake.faults.exhaust("core", 300)
    # The budget refills once the client has waited (not after some real time, which a busy machine overruns).
    clock = MovingClock(real_sleep=0, after_wait=fake.faults.clear)
    client = _client(fake, sleep=clock.sleep, clock=clock, settings=replace(FAST, max_inline_wait=120))

    assert client.get("/repositories", {"since": 0}).status == 200

    # GitHub's advice without a reset to trust: wait at least a minute, never ask again at once.
    assert fake.count(status=403) == 1
    # A minute from the refusal, less the microseconds between the refusal and the wait.
    assert clock.waits and max(clock.waits) >= 59


@pytest.mark.parametrize(
    ("reset_at", "until"),
    [
        (1_000_030.0, 1_000_030.0),  # ahead: the reset itself
        (999_998.0, 1_000_003.0),  # just past: the window turned as the refusal came; once more, shortly
        (999_000.0, 1_000_060.0),  # long past: our clock is ahead of GitHub's; a minute
        (None, 1_000_060.0),  # none given: a minute
        (float("nan"), 1_000_060.0),
        (1e15, 1_003_600.0),  # beyond GitHub's longest window: an hour
    ],
)
def test_when_a_spent_budget_is_asked_again(reset_at, until) -> None:
    from github_etl.github.ratelimit import spent_until

    assert spent_until(reset_at, 1_000_000.0) == until


@pytest.mark.parametrize("reset_in_s", [1e12, 86_400])
def test_a_reset_further_ahead_than_any_github_window_waits_one_window_at_most(fake: FakeGitHub, reset_in_s) -> None:
    import time

    fake.faults.exhaust("core", reset_in_s)
    with pytest.raises(RateLimitWaitTooLong) as raised:
        _client(fake).get("/repositories", {"since": 0})
    assert raised.value.resume_at.timestamp() <= time.time() + 3600 + FAST.reset_jitter + 1


def test_exhausted_token_is_set_aside_for_the_other(fake_github_factory) -> None:
    fake = fake_github_factory(repo_count=50, rate_limit=3)
    sleep = RecordingSleep()
    client = _client(fake, tokens=(TOKEN, OTHER_TOKEN), sleep=sleep)
    for _ in range(6):
        client.get("/repositories", {"since": 0})
    used = {r.token_fingerprint for r in fake.requests if r.status == 200}
    assert used == {FakeGitHub.fingerprint(TOKEN), FakeGitHub.fingerprint(OTHER_TOKEN)}
    assert not sleep.waits


@pytest.mark.parametrize(
    ("raw", "resource", "limit", "kept"),
    [
        ("10%", "core", 5000, 500),
        ("10%", "search", 30, 3),
        ("10%", "core", 3, 0),
        ("0", "graphql", 5000, 0),
        ("500", "core", 5000, 500),
        ("core=500,search=20%", "search", 30, 6),
        ("core=500,search=20%", "graphql", 5000, 500),
        ("5%,core=100", "graphql", 5000, 250),
        ("100", "search", 30, 29),
        ("10%", "core", None, 0),
        # Shares whose product lands a hair below the whole number in floating point.
        ("2.8%", "core", 5000, 140),
        ("57%", "core", 5000, 2850),
        ("1.4%", "core", 15000, 210),
    ],
)
def test_quota_reserve_amounts(raw: str, resource: str, limit: int | None, kept: int) -> None:
    assert QuotaReserve.parse(raw).kept(resource, limit) == kept


# "1,000" is the README's way of writing a thousand; read as "1" then "000" it kept no reserve at all.
@pytest.mark.parametrize(
    "raw",
    ["100%", "0.1", "-5", "core=", "rest=10%", "ten", "1,000", "500,10%", "core=500,core=10", "core=2,500"],
)
def test_quota_reserve_rejects_what_it_cannot_read(monkeypatch, raw: str) -> None:
    monkeypatch.setenv("GITHUB_ETL_QUOTA_RESERVE", raw)
    with pytest.raises(ConfigurationError, match="GITHUB_ETL_QUOTA_RESERVE"):
        ClientSettings.from_env()


_RESERVE_REQUESTS = {
    "core": lambda client: client.get("/repositories", {"since": 0}).status,
    "search": lambda client: client.get("/search/repositories", {"q": "stars:>1"}, resource="search").status,
    "graphql": lambda client: 200 if "rateLimit" in client.graphql("{ rateLimit { remaining } }")["data"] else 0,
}


@pytest.mark.parametrize("resource", sorted(_RESERVE_REQUESTS))
def test_quota_reserve_is_never_spent_and_requests_go_on_after_the_reset(
    fake_github_factory, monkeypatch, caplog, resource: str
) -> None:
    """Threads spend a small budget down to the reserve, wait for the reset there, and all finish."""
    from tests.fake_github import ratelimit

    monkeypatch.setitem(ratelimit.WINDOW_SECONDS, resource, 2)
    fake = fake_github_factory(repo_count=50, rate_limit=12, search_rate_limit=12, graphql_rate_limit=12)
    client = _client(fake, settings=replace(FAST, quota_reserve=QuotaReserve.parse("25%")))
    caplog.set_level("INFO", logger="github_etl.github.client")
    send = _RESERVE_REQUESTS[resource]

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: send(client), range(20)))

    assert statuses == [200] * 20
    assert [r for r in fake.requests if r.fault == "rate_limited"] == []
    # 12 per window, 3 kept: the run spent exactly down to the reserve, never into it.
    assert fake.stats()["lowest_remaining"][FakeGitHub.fingerprint(TOKEN)][resource] == 3
    assert f"down to its reserve of 3 {resource} requests (25% of the limit)" in caplog.text


def test_a_new_client_learns_the_budget_before_spending_into_the_reserve(fake_github_factory) -> None:
    """A task that starts after others spent down to the reserve asks /rate_limit (free) instead of sending blind."""
    fake = fake_github_factory(repo_count=50, rate_limit=10)
    settings = replace(FAST, quota_reserve=QuotaReserve.parse("20%"), max_inline_wait=1)
    first = _client(fake, settings=settings)
    for _ in range(8):
        first.get("/repositories", {"since": 0})
    sent = len(fake.requests)

    with pytest.raises(RateLimitWaitTooLong):
        _client(fake, settings=settings).get("/repositories", {"since": 0})

    assert fake.stats()["lowest_remaining"][FakeGitHub.fingerprint(TOKEN)]["core"] == 2
    assert [r.path for r in fake.requests[sent:]] == ["/rate_limit"]


def test_budgets_are_what_a_run_may_spend_above_the_reserve(fake_github_factory) -> None:
    fake = fake_github_factory(repo_count=50, rate_limit=5000, search_rate_limit=30)
    client = _client(fake, settings=replace(FAST, quota_reserve=QuotaReserve.parse("10%,search=0")))

    budgets = client.budgets()
    client.get("/repositories", {"since": 0})

    assert [(b.limit, b.remaining) for b in budgets["core"]] == [(4500, 4500)]
    assert [(b.limit, b.remaining) for b in budgets["search"]] == [(30, 30)]
    # The budgets read for the plan also spare the request loop its own look-up.
    assert [r.path for r in fake.requests] == ["/rate_limit", "/repositories"]


def test_unauthenticated_requests_keep_no_reserve(fake_github_factory) -> None:
    fake = fake_github_factory(repo_count=50)
    client = _client(fake, tokens=(), settings=replace(FAST, quota_reserve=QuotaReserve.parse("50%")))

    assert [b.remaining for b in client.budgets()["core"]] == [60]
    for _ in range(59):
        client.get("/repositories", {"since": 0})
    assert [r.status for r in fake.requests] == [200] * 60


def test_tolerated_gone_statuses(fake: FakeGitHub) -> None:
    vanished = next(i for i in fake.ids if fake.is_vanished(i))
    response = _client(fake).get(f"/repositories/{vanished}", tolerate_gone=True)
    assert response.gone
    with pytest.raises(GitHubError, match=r"answered (404|451)"):
        _client(fake).get(f"/repositories/{vanished}")


def test_a_gone_repository_says_why(fake: FakeGitHub) -> None:
    deleted, taken_down, disabled, served = [i for i in fake.ids if not fake.is_vanished(i)][:4]
    fake.delete_repository(deleted)
    fake.take_down_repository(taken_down)
    fake.disable_repository(disabled)
    client = _client(fake)

    answers = [client.get(f"/repositories/{i}", tolerate_gone=True) for i in (deleted, taken_down, disabled, served)]

    assert [(r.status, r.gone, r.gone_reason) for r in answers] == [
        (404, True, "not_found"),
        (451, True, "legal_block"),
        (403, True, "disabled"),
        (200, False, None),
    ]


def test_unreachable_host_gives_a_clear_error() -> None:
    client = GitHubClient(f"http://127.0.0.1:{closed_port()}", [TOKEN], settings=FAST, conn_id="github_default")
    with pytest.raises(GitHubUnavailableError, match=r"did not answer GET /repositories after 3 retries"):
        client.get("/repositories")


def test_graphql_needs_a_token(fake: FakeGitHub) -> None:
    with pytest.raises(GitHubError, match="needs a token"):
        _client(fake, tokens=()).graphql("{ viewer { login } }")


# -- the hook: connection forms -------------------------------------------------------------------------------

_GITHUB = "https://api.github.com"


@pytest.mark.parametrize(
    ("conn", "base_url", "tokens"),
    [
        ("http://:tok_one_123456@127.0.0.1:8765", "http://127.0.0.1:8765", ["tok_one_123456"]),
        (
            json.dumps(
                {"conn_type": "http", "host": "https://ghe.example.com/api/v3", "password": "a1234567,b1234567"}
            ),
            "https://ghe.example.com/api/v3",
            ["a1234567", "b1234567"],
        ),
        (
            json.dumps({"conn_type": "http", "host": "", "extra": {"tokens": ["x1234567"]}}),
            "https://api.github.com",
            ["x1234567"],
        ),
        (json.dumps({"conn_type": "http", "host": "http://127.0.0.1", "port": 9000}), "http://127.0.0.1:9000", []),
        ("https://ghe.example.com/api%2Fv3", "https://ghe.example.com/api/v3", []),
        # The HTTP form as the UI offers it: a bare host is https (the token travels in a header), the
        # Schema field a scheme as for Airflow's HttpHook; plain http only to this machine or when asked.
        (json.dumps({"conn_type": "http", "host": "api.github.com", "password": "t1234567"}), _GITHUB, ["t1234567"]),
        (json.dumps({"conn_type": "http", "host": "api.github.com", "schema": "https"}), _GITHUB, []),
        (
            json.dumps({"conn_type": "http", "host": "ghe.lan", "schema": "http", "port": 80}),
            "http://ghe.lan:80/api/v3",
            [],
        ),
        ("http://:t1234567@ghe.example.com/api%2Fv3", "https://ghe.example.com/api/v3", ["t1234567"]),
        (json.dumps({"conn_type": "http", "host": "localhost", "port": 8765}), "http://localhost:8765", []),
    ],
)
def test_hook_reads_every_connection_form(monkeypatch, conn, base_url, tokens) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", conn)
    client = GitHubHook().get_conn()
    assert client.base_url == base_url
    assert [t.secret for t in client.tokens.tokens] == tokens


def test_hook_falls_back_to_environment(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT", raising=False)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:1234/")
    monkeypatch.setenv("GITHUB_TOKEN", "env_token_1234567")
    client = GitHubHook().get_conn()
    assert client.base_url == "http://127.0.0.1:1234"
    assert client.authenticated


def test_hook_without_anything_goes_unauthenticated_to_github(monkeypatch, capfd) -> None:
    """A misspelt AIRFLOW_CONN_ variable ends here too: the task log names the connection id it looked for, and
    a run too big for the anonymous budget says where a token goes."""
    from github_etl.extract.budget import BudgetTooSmallError, check_budget
    from github_etl.github.ratelimit import Budget

    for name in ("AIRFLOW_CONN_GITHUB_DEFAULT", "GITHUB_API_URL", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    client = GitHubHook().get_conn()
    assert client.base_url == "https://api.github.com" and not client.authenticated
    assert "no Airflow connection 'github_default' is defined" in "".join(capfd.readouterr())
    with pytest.raises(BudgetTooSmallError, match=r"set a token as GITHUB_TOKEN \(no Airflow connection for GitHub"):
        check_budget(
            {"core": 1000},
            {"core": [Budget(limit=60, remaining=60, reset_at=time.time() + 3600)]},
            now=time.time(),
            deadline_hours=1,
            authenticated=False,
            advice="lower sample_size",
            token_setting=client.token_setting,
        )


def test_hook_names_a_missing_custom_connection(monkeypatch) -> None:
    with pytest.raises(ConfigurationError, match="'my_github' is not defined"):
        GitHubHook("my_github").get_conn()


def test_hook_test_connection(monkeypatch, fake: FakeGitHub) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": fake.base_url}))
    ok, message = GitHubHook().test_connection()
    assert ok and "core budget" in message


def test_request_headers(fake: FakeGitHub) -> None:
    client = _client(fake)
    headers = client.session.headers
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert headers["User-Agent"].startswith("github-etl/")


def test_a_token_that_expires_within_a_week_is_said_so_when_the_budgets_are_read(fake_github_factory, caplog) -> None:
    """GitHub names an expiring token's end on each answer; from then on every run would fail at once with 401."""
    now = time.time()
    soon = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now + 3 * 86_400 + 2 * 3600 + 60))
    later = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now + 30 * 86_400))
    fake = fake_github_factory(repo_count=10, token_expirations={TOKEN: later, OTHER_TOKEN: soon})

    with caplog.at_level(logging.WARNING, logger="github_etl.github.client"):
        _client(fake, tokens=(TOKEN, OTHER_TOKEN)).budgets()

    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        f"Token 2 of 2 of connection 'github_default' expires on {soon[:16]} UTC, in 3 day(s) 2 hour(s): GitHub then "
        "rejects it and runs fail at once. Renew it on GitHub (Settings, Developer settings, Personal access "
        "tokens) and store the new one in its place"
    ]
    assert TOKEN not in caplog.text and OTHER_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2026-12-10 12:00:00 UTC", "2026-12-10T12:00:00+00:00"),
        ("2026-12-10 12:00:00 -0700", "2026-12-10T19:00:00+00:00"),
        ("2026-12-10 12:00:00 +02:00", "2026-12-10T10:00:00+00:00"),
        ("2026-02-30 12:00:00 UTC", None),
        ("next week", None),
        ("", None),
    ],
)
def test_the_expiry_header_is_read_in_utc_and_anything_else_is_no_expiry(header: str, expected: str | None) -> None:
    from requests.structures import CaseInsensitiveDict

    from github_etl.github.responses import token_expiry

    expiry = token_expiry(CaseInsensitiveDict({"github-authentication-token-expiration": header}))
    assert (expiry.isoformat() if expiry else None) == expected


@pytest.mark.parametrize("written", [f"Bearer {TOKEN}", f"token {TOKEN}", f"Authorization: Bearer {TOKEN}"])
@pytest.mark.parametrize("where", ["connection", "GITHUB_TOKEN"])
def test_a_token_copied_with_its_header_word_is_refused_before_any_request(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, written: str, where: str
) -> None:
    """GitHub's docs show tokens in their header ("Authorization: Bearer ghp_…"): the word would go as a token."""
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT", raising=False)
    if where == "connection":
        connection = {"conn_type": "http", "host": fake.base_url, "password": written}
        monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps(connection))
        said = "Connection 'github_default': the password holds"
    else:
        monkeypatch.setenv("GITHUB_API_URL", fake.base_url)
        monkeypatch.setenv("GITHUB_TOKEN", written)
        said = "GITHUB_TOKEN holds"

    with pytest.raises(ConfigurationError) as raised:
        GitHubHook(settings=FAST).get_conn()

    message = str(raised.value)
    assert message.startswith(said) and "write the token alone" in message
    assert TOKEN not in message
    assert fake.requests == []


@pytest.mark.parametrize("form", ["uri", "json"])
def test_a_token_written_as_the_connections_login_is_refused_before_any_request(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """git's habit, https://TOKEN@github.com, puts the token in the login, which GitHub's API never reads: every
    request went without a token (60 an hour, REST instead of GraphQL), told only by an INFO line."""
    host = fake.base_url.removeprefix("http://")
    written = (
        f"http://{TOKEN}@{host}"
        if form == "uri"
        else json.dumps({"conn_type": "http", "host": fake.base_url, "login": TOKEN})
    )
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", written)

    with pytest.raises(ConfigurationError, match=r"^Connection 'github_default' has a login and no password") as raised:
        GitHubHook(settings=FAST).get_conn()

    assert TOKEN not in str(raised.value)
    assert fake.requests == []


@pytest.mark.parametrize("written", [f'"{TOKEN}"', f"'{TOKEN}'", f"{OTHER_TOKEN},\u201c{TOKEN}\u201d"])
def test_a_token_in_quotes_is_refused_before_any_request(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    """An .env file or a secret written from a shell may keep the quotes, which GitHub reads as part of the token."""
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT", raising=False)
    monkeypatch.setenv("GITHUB_API_URL", fake.base_url)
    monkeypatch.setenv("GITHUB_TOKEN", written)

    with pytest.raises(ConfigurationError, match=r"^GITHUB_TOKEN holds a token in quotes") as raised:
        GitHubHook(settings=FAST).get_conn()

    assert TOKEN not in str(raised.value) and OTHER_TOKEN not in str(raised.value)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("password", "extra_tokens", "said"),
    [
        # Copied from a web page: a zero-width space, which is not whitespace, so it stays inside the token.
        (f"{TOKEN[:9]}\u200b{TOKEN[9:]}", [], "U+200B ZERO WIDTH SPACE, at position 10 of token 1 of 1"),
        # A secret file an editor saved with a byte-order mark.
        (f"\ufeff{TOKEN}", [], "U+FEFF ZERO WIDTH NO-BREAK SPACE, at position 1 of token 1 of 1"),
        (None, [OTHER_TOKEN, f"{TOKEN}\x7f"], "U+007F without a name, at position 31 of token 2 of 2"),
    ],
)
def test_a_token_with_a_character_no_header_can_carry_is_refused_before_any_request(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, password: str | None, extra_tokens: list[str], said: str
) -> None:
    """Sent, such a token fails in the HTTP library, as if the network had, on every retry, its header quoted."""
    connection = {"conn_type": "http", "host": fake.base_url, "password": password, "extra": {"tokens": extra_tokens}}
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps(connection))

    with pytest.raises(ConfigurationError) as raised:
        GitHubHook(settings=FAST).get_conn()

    assert said in str(raised.value) and "type or paste the token again" in str(raised.value)
    assert TOKEN[4:] not in str(raised.value) and OTHER_TOKEN[4:] not in str(raised.value)
    assert fake.requests == []


def test_tokens_of_the_extras_list_are_read_as_the_passwords_are(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tokens written on two lines of one entry (a YAML block string) are two tokens, as in the password."""
    connection = {"conn_type": "http", "host": fake.base_url, "extra": {"tokens": [f"{TOKEN}\n{OTHER_TOKEN}\n"]}}
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps(connection))

    client = GitHubHook(settings=FAST).get_conn()
    for _ in range(4):
        assert client.get("/repositories", {"since": 0}).status == 200

    assert {request.token_fingerprint for request in fake.requests} >= {
        FakeGitHub.fingerprint(TOKEN),
        FakeGitHub.fingerprint(OTHER_TOKEN),
    }
