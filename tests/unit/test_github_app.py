"""Logging in as a GitHub App installation, against the fake's token exchange over real HTTP."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from github_etl.errors import (
    BadCredentialsError,
    ConfigurationError,
    GitHubError,
    GitHubUnavailableError,
    RateLimitWaitTooLong,
)
from github_etl.github.app_auth import GitHubApp, InstallationCredential, find_installation
from github_etl.github.client import GitHubClient
from github_etl.hooks.github import GitHubHook
from github_etl.settings import ClientSettings, QuotaReserve
from tests.fake_github import FakeGitHub
from tests.fake_github.apps import client_id_of, generate_app_key

REDIS_URL = os.environ.get("GITHUB_ETL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
APP_ID = 424242
INSTALLATION = 1001
OTHER_INSTALLATION = 1002
FAST = ClientSettings(
    connect_timeout=1,
    read_timeout=2,
    max_retries=2,
    backoff_base=0.01,
    backoff_max=0.02,
    secondary_min_wait=0.02,
    max_inline_wait=10,
    reset_jitter=0.01,
    quota_reserve=QuotaReserve(default=0.0),
)


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return generate_app_key()


@pytest.fixture
def app_fake(fake_github_factory: Callable[..., FakeGitHub], app_key: tuple[str, str]) -> Callable[..., FakeGitHub]:
    def start(**overrides) -> FakeGitHub:
        settings = {
            "repo_count": 60,
            "seed": 4,
            "apps": {APP_ID: app_key[1]},
            "installations": {INSTALLATION: APP_ID, OTHER_INSTALLATION: APP_ID},
        }
        settings.update(overrides)
        return fake_github_factory(**settings)

    return start


def _app(private_key: str, *installations: int) -> GitHubApp:
    return GitHubApp(str(APP_ID), installations or (INSTALLATION,), private_key)


def _credentials(fake: FakeGitHub, app: GitHubApp, store=None, minted: list[str] | None = None):
    return [
        InstallationCredential(
            fake.base_url,
            app,
            installation,
            settings=FAST,
            store=store,
            on_mint=(minted.append if minted is not None else lambda _: None),
        )
        for installation in app.installation_ids
    ]


def test_requests_carry_installation_tokens_renewed_before_they_expire(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    """Tokens live 2.5 s and requests go on for longer: each one is sent with a token that is still valid.

    The fake states expiry to the second, as GitHub does, so the client sees between 1.5 and 2.5 s of life
    and renews with a quarter of that left: room for a request's way to the fake on a busy machine.
    """
    fake = app_fake(installation_token_ttl_s=2.5, latency_ms=60)
    client = GitHubClient(fake.base_url, _credentials(fake, _app(app_key[0])), settings=FAST)

    statuses = [client.get("/repositories", {"since": 0}).status for _ in range(60)]

    assert statuses == [200] * 60
    exchanges = [r for r in fake.requests if r.path.startswith("/app/")]
    assert [r.status for r in exchanges] == [201] * len(exchanges)
    assert len(exchanges) >= 2, "the requests outlasted no token: nothing was renewed"
    assert [r for r in fake.requests if r.fault == "expired_token" or r.status == 401] == []
    # One installation is one budget, whichever of its tokens spent it.
    assert {r.resource for r in fake.requests if r.counted} == {"core"}
    assert fake.limiter.peek(f"installation:{INSTALLATION}", "core", True).used == 60


def test_several_installations_are_several_budgets(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    fake = app_fake(rate_limit=3)
    client = GitHubClient(
        fake.base_url, _credentials(fake, _app(app_key[0], INSTALLATION, OTHER_INSTALLATION)), settings=FAST
    )

    for _ in range(6):
        client.get("/repositories", {"since": 0})

    assert [r for r in fake.requests if r.fault == "rate_limited"] == []
    for installation in (INSTALLATION, OTHER_INSTALLATION):
        assert fake.limiter.peek(f"installation:{installation}", "core", True).used == 3


def test_a_key_that_is_not_the_apps_fails_at_once(app_fake: Callable[..., FakeGitHub]) -> None:
    fake = app_fake()
    stranger, _ = generate_app_key()
    client = GitHubClient(fake.base_url, _credentials(fake, _app(stranger)), settings=FAST, conn_id="github_default")

    with pytest.raises(BadCredentialsError, match="refused the App's JWT") as raised:
        client.get("/repositories", {"since": 0})

    assert "PRIVATE KEY" not in str(raised.value) and "This machine's clock" not in str(raised.value)
    assert [(r.path, r.status) for r in fake.requests] == [(f"/app/installations/{INSTALLATION}/access_tokens", 401)]


def test_an_installation_of_another_app_fails_at_once(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    fake = app_fake()
    client = GitHubClient(fake.base_url, _credentials(fake, _app(app_key[0], 999)), settings=FAST)

    with pytest.raises(BadCredentialsError, match="no such installation"):
        client.get("/repositories", {"since": 0})


def test_a_failed_exchange_gives_back_the_request_it_reserved(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    """The first token is minted while the client learns its budget (to keep a reserve): a refusal there too."""
    from github_etl.github.ratelimit import BudgetStore

    fake = app_fake()
    stranger, _ = generate_app_key()
    store = BudgetStore()
    settings = replace(FAST, quota_reserve=QuotaReserve(default=0.1))
    client = GitHubClient(fake.base_url, _credentials(fake, _app(stranger)), settings=settings, budget_store=store)

    with pytest.raises(BadCredentialsError):
        client.get("/repositories", {"since": 0})

    assert store._in_flight == {(client.tokens.tokens[0].fingerprint, "core"): 0}


def test_a_token_exchange_github_keeps_failing_ends_after_the_retries_saying_which(
    scripted_github, app_key: tuple[str, str]
) -> None:
    route = scripted_github.route(
        "POST", f"/app/installations/{INSTALLATION}/access_tokens", lambda _: (503, {}, '{"message": "Unavailable"}')
    )
    credential = InstallationCredential(scripted_github.base_url, _app(app_key[0]), INSTALLATION, settings=FAST)

    with pytest.raises(GitHubUnavailableError) as raised:
        _ = credential.secret

    assert str(raised.value) == (
        f"GitHub at {scripted_github.base_url} did not mint a token for App {APP_ID} installation {INSTALLATION} "
        f"after {FAST.max_retries} retries (HTTP 503)"
    )
    assert route.call_count == FAST.max_retries + 1


def test_a_token_exchange_answer_trickling_in_is_given_up_at_the_deadline_and_tried_again(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    fake = app_fake()
    fake.faults.trickle_next = 1  # the exchange is the first request: its answer comes 64 bytes every 0.1 s
    settings = replace(FAST, answer_deadline=0.15)
    credential = InstallationCredential(fake.base_url, _app(app_key[0]), INSTALLATION, settings=settings)

    assert credential.secret.startswith("ghs_")
    # At least one try more: on a busy machine a whole answer may also outlast so short a deadline.
    assert fake.count(path_prefix=f"/app/installations/{INSTALLATION}/access_tokens") >= 2


SECONDARY_LIMIT = json.dumps(
    {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}
)
MINTED = '{"token": "ghs_minted", "expires_at": "2099-01-01T00:00:00Z"}'


@pytest.mark.parametrize(
    "limited",
    [
        lambda: (403, {"Retry-After": "0"}, SECONDARY_LIMIT),
        lambda: (429, {}, '{"message": "Too many requests"}'),
        # The reset as GitHub sends it: a second ahead of the answer.
        lambda: (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 1)},
            '{"message": "API rate limit exceeded"}',
        ),
    ],
    ids=["secondary", "429", "primary"],
)
def test_a_rate_limited_token_exchange_is_waited_out_not_taken_for_a_suspension(
    scripted_github, app_key: tuple[str, str], limited
) -> None:
    answers = iter([limited, lambda: (201, {}, MINTED)])
    route = scripted_github.route("POST", f"/app/installations/{INSTALLATION}/access_tokens", lambda _: next(answers)())
    credential = InstallationCredential(scripted_github.base_url, _app(app_key[0]), INSTALLATION, settings=FAST)

    assert credential.secret == "ghs_minted"
    assert route.call_count == 2


def test_a_token_exchange_limited_for_longer_than_a_task_may_wait_defers_it(
    scripted_github, app_key: tuple[str, str]
) -> None:
    route = scripted_github.route(
        "POST",
        f"/app/installations/{INSTALLATION}/access_tokens",
        lambda _: (403, {"Retry-After": "3600"}, SECONDARY_LIMIT),
    )
    credential = InstallationCredential(scripted_github.base_url, _app(app_key[0]), INSTALLATION, settings=FAST)

    began = time.time()
    with pytest.raises(RateLimitWaitTooLong) as raised:
        _ = credential.secret

    assert began + 3590 < raised.value.resume_at.timestamp() < time.time() + 3610
    assert route.call_count == 1


def test_the_client_id_logs_in_as_the_app_id_does(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    """GitHub now recommends the App's client id as the JWT's issuer; the numeric id still works."""
    fake = app_fake()
    app = GitHubApp(client_id_of(APP_ID), (INSTALLATION,), app_key[0])
    client = GitHubClient(fake.base_url, _credentials(fake, app), settings=FAST)

    assert client.get("/repositories", {"since": 0}).status == 200
    assert fake.count(path_prefix="/app/", status=201) == 1


def test_a_worker_clock_running_fast_is_not_refused(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    """The JWT is issued a minute in the past, as GitHub advises: GitHub refuses one issued in its future."""
    fake = app_fake()
    credential = InstallationCredential(
        fake.base_url, _app(app_key[0]), INSTALLATION, settings=FAST, clock=lambda: time.time() + 45
    )

    assert credential.secret.startswith("ghs_")


@pytest.mark.parametrize(("skew", "told"), [(150, "ahead of"), (-900, "behind")])
def test_a_clock_too_far_off_is_named_with_how_far(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str], skew: int, told: str
) -> None:
    fake = app_fake()
    credential = InstallationCredential(
        fake.base_url, _app(app_key[0]), INSTALLATION, settings=FAST, clock=lambda: time.time() + skew
    )

    with pytest.raises(BadCredentialsError, match=rf"clock is \d+ s {told} GitHub's") as raised:
        _ = credential.secret

    # GitHub's Date header is to the second.
    told_seconds = int(re.search(r"clock is (\d+) s", str(raised.value)).group(1))
    assert abs(skew) - 1 <= told_seconds <= abs(skew) + 2
    assert "claim" in str(raised.value)  # GitHub's own message stays


def test_a_suspended_installation_fails_at_once_saying_so(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    fake = app_fake()
    fake.apps.suspend(INSTALLATION)
    client = GitHubClient(fake.base_url, _credentials(fake, _app(app_key[0])), settings=FAST)

    with pytest.raises(BadCredentialsError, match="suspended") as raised:
        client.get("/repositories", {"since": 0})

    # Not the hint for a wrong key or App id: those are right, the installation's account suspended it.
    assert "JWT" not in str(raised.value) and "private key" not in str(raised.value)
    assert [(r.path, r.status) for r in fake.requests] == [(f"/app/installations/{INSTALLATION}/access_tokens", 403)]


def test_a_revoked_token_is_replaced_once(app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]) -> None:
    fake = app_fake(installation_token_ttl_s=3600)
    minted: list[str] = []
    client = GitHubClient(fake.base_url, _credentials(fake, _app(app_key[0]), minted=minted), settings=FAST)
    client.get("/repositories", {"since": 0})
    # GitHub forgets the token (revoked): the next request is refused once, then goes with a new token.
    fake.apps.revoke(minted[0])

    assert client.get("/repositories", {"since": 0}).status == 200
    assert len(set(minted)) == 2
    assert [r.status for r in fake.requests if not r.path.startswith("/app/")] == [200, 401, 200]


def test_a_token_github_does_not_know_yet_is_waited_for_not_replaced(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    """GitHub's replicas learn of a new token within about a second and answer 401 until then."""
    fake = app_fake()
    fake.apps.replication_lag_s = 0.6
    client = GitHubClient(fake.base_url, _credentials(fake, _app(app_key[0])), settings=FAST)

    # The plan asks every token's budget first (GET /rate_limit), then the run requests.
    assert client.budgets()["core"][0].remaining == 5000
    assert client.get("/repositories", {"since": 0}).status == 200
    assert fake.count(path_prefix="/app/", status=201) == 1
    assert {r.fault for r in fake.requests if r.status == 401} == {"replication_lag"}


def test_minted_tokens_refused_again_fail_naming_the_installation_not_a_password(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    fake = app_fake()
    fake.faults.bad_credentials = True  # GitHub refuses every token, a freshly minted one too
    client = GitHubClient(fake.base_url, _credentials(fake, _app(app_key[0])), settings=FAST, conn_id="github_default")

    with pytest.raises(BadCredentialsError) as raised:
        client.get("/repositories", {"since": 0})

    message = str(raised.value)
    assert f"GitHub App {APP_ID}" in message and f"installation {INSTALLATION}" in message
    assert "password" not in message
    # A token refused while GitHub may still be learning of it is tried again a few times, then one fresh token.
    assert [r.status for r in fake.requests] == [201, 401, 401, 401, 401, 201, 401]
    assert not [t for t in fake.apps.issued_tokens() if t in message]


@pytest.fixture
def redis_store() -> Iterator:
    redis = pytest.importorskip("redis")
    from github_etl.github.shared_budget import RedisBudgetStore

    prefix = f"github_etl_test:{uuid.uuid4().hex[:12]}:"
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is unreachable; set GITHUB_ETL_TEST_REDIS_URL")
    yield lambda: RedisBudgetStore(REDIS_URL, prefix=prefix)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_workers_share_one_minted_token_and_redis_never_sees_it(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str], redis_store
) -> None:
    fake = app_fake()
    workers = [_credentials(fake, _app(app_key[0]), store=redis_store())[0] for _ in range(3)]

    secrets = {worker.secret for worker in workers}

    assert len(secrets) == 1
    assert fake.count(path_prefix="/app/") == 1
    stored = workers[0]._store.redis
    values = [stored.get(key) for key in stored.scan_iter(f"{workers[0]._store.prefix}secret:*")]
    assert len(values) == 1 and secrets.pop() not in values[0]


def test_a_revoked_token_shared_through_redis_is_replaced_once_and_shared_no_more(
    app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str], redis_store
) -> None:
    fake = app_fake(installation_token_ttl_s=3600)
    minted: list[str] = []
    store = redis_store()
    client = GitHubClient(
        fake.base_url,
        _credentials(fake, _app(app_key[0]), store=store, minted=minted),
        settings=FAST,
        budget_store=store,
    )
    client.get("/repositories", {"since": 0})
    fake.apps.revoke(minted[0])

    assert client.get("/repositories", {"since": 0}).status == 200
    assert fake.count(path_prefix="/app/", status=201) == 2
    # Another worker starting now takes the new token from Redis, not the revoked one.
    assert _credentials(fake, _app(app_key[0]), store=redis_store())[0].secret == minted[-1] != minted[0]


# -- the connection ---------------------------------------------------------------------------------------------


def _hook(monkeypatch: pytest.MonkeyPatch, fake: FakeGitHub, extra: dict) -> GitHubHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": fake.base_url, "extra": extra})
    )
    return GitHubHook(settings=FAST)


def _pkcs8(pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# The key as GitHub hands it out (PKCS#1), and as it reaches a connection after the usual handling.
KEY_FORMS: dict[str, Callable[[str], str]] = {
    "text": lambda pem: pem,
    "PKCS#8 text": _pkcs8,
    "one-line text": lambda pem: pem.replace("\n", "\\n"),
    "Windows text": lambda pem: pem.replace("\n", "\r\n"),
    "Windows one-line text": lambda pem: pem.replace("\n", "\\r\\n"),
    "text in whitespace": lambda pem: f"  \n{pem}\n ",
}


@pytest.mark.parametrize("key_in", [*KEY_FORMS, "path", "path in whitespace"])
def test_hook_logs_in_as_the_app(
    monkeypatch: pytest.MonkeyPatch,
    app_fake: Callable[..., FakeGitHub],
    app_key: tuple[str, str],
    tmp_path: Path,
    key_in: str,
) -> None:
    fake = app_fake()
    extra: dict = {"app_id": APP_ID, "installation_ids": [INSTALLATION, OTHER_INSTALLATION]}
    if key_in.startswith("path"):
        (tmp_path / "app.pem").write_text(app_key[0])
        path = str(tmp_path / "app.pem")
        # A path pasted with the line end of a copy or of `$(cat path.txt)` names the same file.
        extra["private_key_path"] = path if key_in == "path" else f" {path}\n"
    else:
        extra["private_key"] = KEY_FORMS[key_in](app_key[0])
    hook = _hook(monkeypatch, fake, extra)

    ok, message = hook.test_connection()

    assert ok, message
    assert hook.has_credentials()
    assert len(hook.client.tokens.tokens) == 2
    assert fake.count(path_prefix="/app/", status=201) == 1


@pytest.mark.parametrize("form", ["UTF-16", "DER"])
def test_a_key_file_that_is_not_pem_text_fails_at_once_naming_the_path(
    monkeypatch: pytest.MonkeyPatch, app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str], tmp_path, form
) -> None:
    # A .pem saved again by PowerShell 5 (`Get-Content app.pem > key.pem` writes UTF-16), or one converted to DER.
    from cryptography.hazmat.primitives import serialization

    fake = app_fake()
    path = tmp_path / "app.pem"
    if form == "DER":
        key = serialization.load_pem_private_key(app_key[0].encode(), password=None)
        der = serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        path.write_bytes(key.private_bytes(*der))
    else:
        path.write_bytes(app_key[0].encode("utf-16"))
    hook = _hook(monkeypatch, fake, {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key_path": str(path)})

    with pytest.raises(ConfigurationError, match=rf"'private_key_path' {re.escape(str(path))} is not PEM text"):
        hook.get_conn()
    assert fake.requests == []


@pytest.mark.parametrize("with_app", [True, False])
def test_a_private_key_in_the_password_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str], with_app: bool
) -> None:
    """The UI's Password field looks like the place for a secret: its lines would go to GitHub as tokens."""
    fake = app_fake()
    extra = {"app_id": APP_ID, "installation_id": INSTALLATION} if with_app else {}
    connection = {"conn_type": "http", "host": fake.base_url, "password": app_key[0], "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps(connection))

    with pytest.raises(ConfigurationError, match="'private_key'") as raised:
        GitHubHook(settings=FAST).get_conn()

    assert app_key[0].splitlines()[1] not in str(raised.value)
    assert fake.requests == []


def test_a_connection_airflow_cannot_read_fails_instead_of_going_anonymous(
    monkeypatch: pytest.MonkeyPatch, app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    """The .pem pasted as it is into the JSON: its line breaks make the JSON invalid, and Airflow ignores it."""
    fake = app_fake()
    extra = {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key": "KEY"}
    raw = json.dumps({"conn_type": "http", "host": fake.base_url, "extra": extra}).replace('"KEY"', f'"{app_key[0]}"')
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", raw)
    monkeypatch.setenv("GITHUB_API_URL", fake.base_url)
    hook = GitHubHook(settings=FAST)

    with pytest.raises(ConfigurationError, match="AIRFLOW_CONN_GITHUB_DEFAULT") as raised:
        hook.get_conn()

    assert "not valid JSON" in str(raised.value) and "\\n" in str(raised.value)
    assert app_key[0].splitlines()[1] not in str(raised.value)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("installations", "suspended", "found"),
    [
        ({INSTALLATION: APP_ID}, (), INSTALLATION),
        ({INSTALLATION: APP_ID, OTHER_INSTALLATION: 5}, (), INSTALLATION),  # another App's is not this App's
        ({INSTALLATION: APP_ID, OTHER_INSTALLATION: APP_ID}, (INSTALLATION,), OTHER_INSTALLATION),
        ({}, (), "is installed on no account"),
        ({INSTALLATION: APP_ID}, (INSTALLATION,), r"every installation is suspended \(acme suspended \(1001\)\)"),
        (
            {INSTALLATION: APP_ID, OTHER_INSTALLATION: APP_ID},
            (),
            r"installed on several accounts: acme \(1001\), octocat \(1002\)\. Set 'installation_ids'",
        ),
    ],
)
def test_an_app_without_an_installation_id_uses_its_one_installation(
    monkeypatch: pytest.MonkeyPatch,
    app_fake: Callable[..., FakeGitHub],
    app_key: tuple[str, str],
    installations: dict[int, int],
    suspended: tuple[int, ...],
    found: int | str,
) -> None:
    """GitHub's docs look the installation id up (GET /app/installations); the connection may leave it out."""
    fake = app_fake(
        installations=installations,
        installation_accounts={INSTALLATION: ("acme", "Organization"), OTHER_INSTALLATION: ("octocat", "User")},
    )
    for installation in suspended:
        fake.apps.suspend(installation)
    hook = _hook(monkeypatch, fake, {"app_id": client_id_of(APP_ID), "private_key": app_key[0]})

    if isinstance(found, int):
        assert hook.test_connection()[0]
        assert [c.installation_id for c in hook.client.tokens.tokens] == [found]
        assert fake.count(path_prefix=f"/app/installations/{found}/access_tokens", status=201) == 1
    else:
        with pytest.raises(ConfigurationError, match=found):
            hook.get_conn()
        assert [(r.path, r.status) for r in fake.requests] == [("/app/installations", 200)]


@pytest.mark.parametrize("field", ["app_id", "client_id"])
def test_the_extra_may_name_the_app_by_its_client_id(
    monkeypatch: pytest.MonkeyPatch, app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str], field: str
) -> None:
    fake = app_fake()
    extra = {field: client_id_of(APP_ID), "installation_id": INSTALLATION, "private_key": app_key[0]}

    ok, message = _hook(monkeypatch, fake, extra).test_connection()

    assert ok, message


def test_installation_id_and_installation_ids_both_count(
    monkeypatch: pytest.MonkeyPatch, app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    fake = app_fake()
    extra = {"app_id": APP_ID, "installation_id": INSTALLATION, "installation_ids": [OTHER_INSTALLATION]}
    hook = _hook(monkeypatch, fake, {**extra, "private_key": app_key[0]})

    assert [c.installation_id for c in hook.get_conn().tokens.tokens] == [INSTALLATION, OTHER_INSTALLATION]


def test_the_installation_is_looked_up_over_every_page(
    monkeypatch: pytest.MonkeyPatch, app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    monkeypatch.setattr("github_etl.github.app_auth.INSTALLATIONS_PER_PAGE", 1)
    fake = app_fake()
    fake.apps.suspend(INSTALLATION)
    hook = _hook(monkeypatch, fake, {"app_id": APP_ID, "private_key": app_key[0]})

    assert [c.installation_id for c in hook.get_conn().tokens.tokens] == [OTHER_INSTALLATION]
    assert fake.count(path_prefix="/app/installations", status=200) == 2


def test_the_installations_next_page_on_another_host_gets_no_jwt(
    scripted_github, other_host, app_key: tuple[str, str]
) -> None:
    scripted_github.get(
        "/app/installations",
        json=[{"id": 1, "account": {"login": "acme"}, "suspended_at": None}],
        headers={"Link": f'<{other_host.base_url}/app/installations?page=2>; rel="next"'},
    )
    elsewhere = other_host.get("/app/installations", json=[])
    session = requests.Session()

    with pytest.raises(GitHubError, match="Refusing to follow"):
        find_installation(scripted_github.base_url, _app(app_key[0]), settings=FAST, session=session)

    assert elsewhere.call_count == 0


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"installation_id": INSTALLATION, "private_key": "x"}, "needs 'app_id'"),
        ({"app_id": APP_ID, "installation_id": "one", "private_key": "KEY"}, "'installation_id'"),
        ({"app_id": APP_ID, "installation_id": True, "private_key": "KEY"}, "'installation_id'"),
        ({"app_id": APP_ID, "installation_ids": [INSTALLATION, 2.5], "private_key": "KEY"}, "'installation_id'"),
        ({"app_id": APP_ID, "installation_id": INSTALLATION}, "'private_key' must hold"),
        ({"app_id": APP_ID, "installation_id": INSTALLATION, "private_key_path": "/nonexistent.pem"}, "cannot read"),
        (
            {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key": "-----BEGIN RSA PRIVATE KEY-----\nno"},
            "not an unencrypted PEM key",
        ),
    ],
)
def test_hook_refuses_an_incomplete_app_before_any_request(
    monkeypatch: pytest.MonkeyPatch, app_fake: Callable[..., FakeGitHub], app_key: tuple[str, str], extra, error
) -> None:
    fake = app_fake()
    extra = {k: (app_key[0] if v == "KEY" else v) for k, v in extra.items()}
    hook = _hook(monkeypatch, fake, extra)

    with pytest.raises(ConfigurationError, match=error) as raised:
        hook.get_conn()

    assert "PRIVATE KEY-----\nMI" not in str(raised.value)
    assert fake.requests == []
