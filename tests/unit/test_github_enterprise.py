"""The GitHub client and hook against a GitHub Enterprise Server: its API root in every form users type,
rate limiting disabled, its own certificate authority, GraphQL fields an older version lacks, App login.

The fake GitHub serves as GHES (REST under ``/api/v3``, GraphQL at ``/api/graphql``), over real HTTP or
HTTPS with a CA made in the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from github_etl.errors import FINAL_ERRORS, ConfigurationError, GitHubError, GitHubEtlError
from github_etl.extract.enrich import enrich
from github_etl.github.app_auth import GitHubApp, app_credentials
from github_etl.github.client import GitHubClient, next_link
from github_etl.hooks.github import GitHubHook
from github_etl.settings import ClientSettings, QuotaReserve
from tests.fake_github import FakeGitHub
from tests.fake_github.apps import generate_app_key
from tests.fixtures.tls import CorpCertificates, make_certificates
from tests.ports import closed_port
from tests.unit.test_shared_budget import prefix, redis_client  # noqa: F401 (fixtures)

TOKEN = "ghp_enterprise_test_token_0123"
VERSION = "3.9.0"
FAST = ClientSettings(
    connect_timeout=2,
    read_timeout=5,
    max_retries=3,
    backoff_base=0.01,
    backoff_max=0.02,
    max_inline_wait=10,
    reset_jitter=0.01,
    quota_reserve=QuotaReserve(default=0.0),
)
# Variables that change what requests trusts or where it connects: each test sets its own.
TLS_AND_PROXY_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "no_proxy",
    "NETRC",
)


@pytest.fixture(autouse=True)
def _no_inherited_trust_or_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TLS_AND_PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CorpCertificates:
    return make_certificates(tmp_path_factory.mktemp("corp-ca"))


@pytest.fixture
def ghes(fake_github_factory: Callable[..., FakeGitHub]) -> FakeGitHub:
    """A GHES over plain http, rate limiting disabled."""
    return fake_github_factory(repo_count=150, seed=3, enterprise_version=VERSION, rate_limiting=False)


@pytest.fixture
def ghes_over_tls(certificates: CorpCertificates) -> FakeGitHub:
    fake = FakeGitHub(repo_count=150, seed=3, enterprise_version=VERSION, rate_limiting=False)
    fake.start(ssl_context=certificates.server_context())
    yield fake
    fake.stop()


def _client(fake: FakeGitHub, **kwargs) -> GitHubClient:
    return GitHubClient(
        fake.base_url, [TOKEN], settings=kwargs.pop("settings", FAST), conn_id="github_default", **kwargs
    )


# -- the API root ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("https://ghe.corp/api/v3", "https://ghe.corp/api/v3"),
        ("https://ghe.corp/api/v3/", "https://ghe.corp/api/v3"),
        ("https://ghe.corp", "https://ghe.corp/api/v3"),
        ("https://ghe.corp/", "https://ghe.corp/api/v3"),
        ("ghe.corp", "https://ghe.corp/api/v3"),
        ("ghe.corp/", "https://ghe.corp/api/v3"),
        ("ghe.corp/api/v3/", "https://ghe.corp/api/v3"),
        ("https://ghe.corp:8443", "https://ghe.corp:8443/api/v3"),
        # GitHub.com and GHE.com (data residency) serve their APIs at the root of their api. host.
        ("https://github.com", "https://api.github.com"),
        ("api.github.com", "https://api.github.com"),
        ("https://octocorp.ghe.com", "https://api.octocorp.ghe.com"),
        ("https://api.octocorp.ghe.com/", "https://api.octocorp.ghe.com"),
        # A host named api.* is an API host of its own (a company proxy in front of api.github.com, say).
        ("https://api.github-proxy.corp", "https://api.github-proxy.corp"),
        # This machine (the fake GitHub, a tunnel) serves whatever root it is given.
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        # The GraphQL endpoint the same docs name, pasted for the root: the root beside it.
        ("https://ghe.corp/api/graphql", "https://ghe.corp/api/v3"),
        ("https://ghe.corp/api/graphql/", "https://ghe.corp/api/v3"),
        ("https://api.github.com/graphql", "https://api.github.com"),
        ("http://127.0.0.1:8765/api/graphql", "http://127.0.0.1:8765/api/v3"),
        # A scheme typed in capitals.
        ("HTTPS://ghe.corp", "https://ghe.corp/api/v3"),
        # This machine with a port in the Host field is http too.
        ("localhost:8765", "http://localhost:8765"),
        ("[::1]:8765", "http://[::1]:8765"),
    ],
)
def test_the_api_root_is_found_in_every_form_a_user_types(monkeypatch, host: str, base_url: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": host}))
    assert GitHubHook().api_base_url() == base_url
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT")
    monkeypatch.setenv("GITHUB_API_URL", host)
    assert GitHubHook().get_conn().base_url == base_url


# Airflow's HTTP form shows a Host and a Port field: a user may give the port in either, or in both, and a path
# in Host. The port goes after the host name, once.
@pytest.mark.parametrize(
    ("fields", "base_url"),
    [
        ({"host": "ghe.corp", "port": 8443}, "https://ghe.corp:8443/api/v3"),
        ({"host": "ghe.corp/api/v3", "port": 8443}, "https://ghe.corp:8443/api/v3"),
        ({"host": "ghe.corp:8443", "port": 8443}, "https://ghe.corp:8443/api/v3"),
        ({"host": "https://ghe.corp/api/v3", "port": 8443}, "https://ghe.corp:8443/api/v3"),
        ({"host": "https://ghe.corp:8443", "port": 8443}, "https://ghe.corp:8443/api/v3"),
    ],
)
def test_the_port_field_joins_the_host_in_every_form(monkeypatch, fields: dict[str, Any], base_url: str) -> None:
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", **fields}))
    assert GitHubHook().api_base_url() == base_url


@pytest.mark.parametrize(
    "host",
    [
        "https://x-access-token:ghp_s3cretInTheUrl@api.github.com",
        "x-access-token:ghp_s3cretInTheUrl@ghe.corp",
        "https://ghp_s3cretInTheUrl@ghe.corp/api/v3",
    ],
)
def test_a_token_written_into_the_api_url_is_refused_without_quoting_it(monkeypatch, caplog, host: str) -> None:
    """Sent to no one (the token goes in a header, the URL's own credentials are dropped) but shown everywhere the
    API root is: the hook's log line, errors, OpenLineage's dataset namespace."""
    from github_etl.errors import ConfigurationError

    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": host}))
    with pytest.raises(ConfigurationError, match="password") as refused:
        GitHubHook().get_conn()
    assert "s3cretInTheUrl" not in str(refused.value) + caplog.text
    monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT")
    monkeypatch.setenv("GITHUB_API_URL", host)
    with pytest.raises(ConfigurationError, match="GITHUB_TOKEN"):
        GitHubHook().api_base_url()


def test_a_connection_holding_only_the_token_goes_where_github_api_url_points_not_to_github_com(
    monkeypatch, ghes: FakeGitHub
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "password": TOKEN}))
    monkeypatch.setenv("GITHUB_API_URL", ghes.base_url)
    client = GitHubHook(settings=FAST).get_conn()
    assert client.base_url == ghes.base_url
    assert client.get("/repositories").status == 200
    assert [r.token_fingerprint for r in ghes.requests] == [FakeGitHub.fingerprint(TOKEN)]
    monkeypatch.delenv("GITHUB_API_URL")
    assert GitHubHook().api_base_url() == "https://api.github.com"


def test_a_listing_graphql_and_links_stay_on_the_enterprise_host(ghes: FakeGitHub) -> None:
    client = _client(ghes)
    page = client.get("/repositories")
    link = next_link(page.headers.get("Link"))
    assert link is not None and link.startswith(ghes.base_url + "/repositories?since=")
    assert client.get(link).status == 200
    batch = enrich(client, page.data[:5])
    assert [item["databaseId"] for item in batch.items] == [r["id"] for r in page.data[:5]]
    assert {request.path for request in ghes.requests} == {"/repositories", "/graphql"}


# -- rate limiting disabled ------------------------------------------------------------------------


def test_rate_limiting_disabled_leaves_no_budget_to_judge_and_requests_go_on(ghes: FakeGitHub, caplog) -> None:
    client = _client(ghes, settings=ClientSettings(**{**vars(FAST), "quota_reserve": QuotaReserve(default=0.1)}))
    assert client.budgets() == {}
    assert "Rate limiting is not enabled" in caplog.text
    for _ in range(3):
        assert client.get("/repositories").status == 200


def test_two_workers_sharing_a_redis_store_go_on_when_rate_limiting_is_disabled(
    ghes: FakeGitHub,
    prefix: str,  # noqa: F811 (the fixture imported above)
) -> None:
    from tests.unit.test_shared_budget import REDIS_URL, RedisBudgetStore

    settings = ClientSettings(**{**vars(FAST), "quota_reserve": QuotaReserve(default=0.1)})
    workers = [_client(ghes, settings=settings, budget_store=RedisBudgetStore(REDIS_URL, prefix=prefix)) for _ in "ab"]
    for worker in workers:
        assert worker.budgets() == {}
        assert [worker.get("/repositories").status for _ in range(3)] == [200] * 3


def test_limits_an_administrator_set_are_read_not_assumed(fake_github_factory: Callable[..., FakeGitHub]) -> None:
    fake = fake_github_factory(repo_count=50, enterprise_version=VERSION, rate_limit=15_000, graphql_rate_limit=500)
    budgets = _client(fake, settings=ClientSettings(**{**vars(FAST), "quota_reserve": QuotaReserve(default=0.1)}))
    spendable = budgets.budgets()
    assert [(b.limit, b.remaining) for b in spendable["core"]] == [(13_500, 13_500)]
    assert [(b.limit, b.remaining) for b in spendable["graphql"]] == [(450, 450)]


def test_the_connection_test_passes_when_rate_limiting_is_disabled(monkeypatch, ghes: FakeGitHub) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": ghes.base_url, "password": TOKEN})
    )
    ok, message = GitHubHook().test_connection()
    assert ok, message
    assert f"GitHub Enterprise Server {VERSION}" in message and "rate limiting is not enabled" in message


# -- the company's certificate authority -----------------------------------------------------------


def test_a_certificate_of_an_untrusted_authority_fails_at_once_naming_the_host_and_the_fix(
    ghes_over_tls: FakeGitHub,
) -> None:
    waits: list[float] = []
    client = _client(ghes_over_tls, sleep=waits.append)
    with pytest.raises(GitHubError) as raised:
        client.get("/repositories")
    message = str(raised.value)
    assert ghes_over_tls.base_url.removesuffix("/api/v3") in message
    assert "REQUESTS_CA_BUNDLE" in message and "certificate" in message
    assert isinstance(raised.value, FINAL_ERRORS)
    assert waits == [] and client.calls["failed"] == 1


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_the_companys_ca_named_in_the_environment_is_trusted(
    monkeypatch, ghes_over_tls: FakeGitHub, certificates: CorpCertificates, variable: str
) -> None:
    monkeypatch.setenv(variable, str(certificates.ca_file))
    client = _client(ghes_over_tls)
    assert client.get("/repositories").status == 200
    assert client.graphql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": []}) is not None


def test_a_ca_file_that_does_not_exist_fails_at_once_naming_the_variable(
    monkeypatch, ghes_over_tls: FakeGitHub, tmp_path: Path
) -> None:
    from tools.github_preflight import unreachable_reason

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "corp-ca.pem"))
    with pytest.raises(GitHubEtlError) as raised:
        _client(ghes_over_tls).get("/repositories")
    assert f"REQUESTS_CA_BUNDLE={tmp_path / 'corp-ca.pem'}" in str(raised.value)
    assert isinstance(raised.value, FINAL_ERRORS)
    with pytest.raises(ConfigurationError, match="REQUESTS_CA_BUNDLE="):
        unreachable_reason(ghes_over_tls.base_url)


@pytest.mark.parametrize("content", [b"", b"this is not a PEM certificate\n"], ids=["empty", "not-pem"])
def test_a_ca_file_holding_no_certificate_fails_at_once_naming_the_variable(
    monkeypatch, ghes_over_tls: FakeGitHub, tmp_path: Path, content: bytes
) -> None:
    """An empty file, a DER file or the wrong secret mounted: not a network fault to retry."""
    ca = tmp_path / "corp-ca.pem"
    ca.write_bytes(content)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))

    with pytest.raises(FINAL_ERRORS, match=r"REQUESTS_CA_BUNDLE=.*holds no CA certificate"):
        _client(ghes_over_tls).get("/repositories")

    assert ghes_over_tls.requests == []


def test_a_proxy_named_in_the_environment_is_used_and_no_proxy_honoured(monkeypatch, ghes: FakeGitHub) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(GitHubError, match="ProxyError"):
        _client(ghes).get("/repositories")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _client(ghes).get("/repositories").status == 200


def test_a_netrc_entry_for_the_host_does_not_replace_the_connections_token(
    monkeypatch, ghes: FakeGitHub, tmp_path: Path
) -> None:
    # git users keep the appliance's credentials in ~/.netrc; requests would put them in the token's place.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password their-git-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert _client(ghes).get("/repositories").status == 200
    # requests reads the entry again on every redirect it follows: a renamed repository's 301.
    renamed = ghes.ids[3]
    former = ghes.repository(renamed)["full_name"]
    ghes.rename_repository(renamed, "octocat/renamed-meanwhile")
    assert _client(ghes).get(f"/repos/{former}").data["id"] == renamed
    assert [(r.status, r.token_fingerprint) for r in ghes.requests] == [
        (200, FakeGitHub.fingerprint(TOKEN)),
        (301, FakeGitHub.fingerprint(TOKEN)),
        (200, FakeGitHub.fingerprint(TOKEN)),
    ]


# -- GraphQL of an older GHES ----------------------------------------------------------------------


def test_a_graphql_field_an_older_enterprise_lacks_fails_at_once_naming_it_and_the_version(
    fake_github_factory: Callable[..., FakeGitHub],
) -> None:
    fake = fake_github_factory(repo_count=150, enterprise_version="3.4.0", graphql_missing_fields=["isTemplate"])
    client = _client(fake)
    listed = client.get("/repositories").data[:3]
    with pytest.raises(GitHubError) as raised:
        enrich(client, listed)
    message = str(raised.value)
    assert "isTemplate" in message and "GitHub Enterprise Server 3.4.0" in message
    assert isinstance(raised.value, FINAL_ERRORS)
    assert fake.count(path_prefix="/graphql") == 1


# -- GitHub App login ------------------------------------------------------------------------------


def test_a_github_app_logs_in_at_the_enterprise_root(fake_github_factory: Callable[..., FakeGitHub]) -> None:
    private_key, public_key = generate_app_key()
    fake = fake_github_factory(
        repo_count=150, enterprise_version=VERSION, rate_limiting=False, apps={77: public_key}, installations={88: 77}
    )
    app = GitHubApp(app_id="77", installation_ids=(), private_key=private_key)
    credentials = app_credentials(fake.base_url, app, settings=FAST, store=None, on_mint=lambda token: None)
    client = GitHubClient(fake.base_url, credentials, settings=FAST)
    assert client.get("/repositories").status == 200
    assert [request.path for request in fake.requests][:2] == [
        "/app/installations",
        "/app/installations/88/access_tokens",
    ]


# -- private mode ----------------------------------------------------------------------------------


def test_an_enterprise_server_in_private_mode_asks_for_a_token_not_for_a_valid_one(
    fake_github_factory: Callable[..., FakeGitHub], monkeypatch
) -> None:
    fake = fake_github_factory(repo_count=50, enterprise_version=VERSION, anonymous_access=False)
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": fake.base_url}))
    with pytest.raises(GitHubError) as raised:
        GitHubHook(settings=FAST).get_conn().get("/repositories")
    message = str(raised.value)
    assert "Must authenticate to access this API" in message
    assert "no token" in message and "set one as the connection's password" in message
    assert "rejected" not in message and "go unauthenticated" not in message
    assert len(fake.requests) == 1


def test_a_github_app_told_of_a_ca_file_that_does_not_exist_fails_at_once_naming_it(
    certificates: CorpCertificates, monkeypatch, tmp_path: Path
) -> None:
    private_key, public_key = generate_app_key()
    fake = FakeGitHub(repo_count=10, enterprise_version=VERSION, apps={77: public_key}, installations={88: 77})
    fake.start(ssl_context=certificates.server_context())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    app = GitHubApp(app_id="77", installation_ids=(), private_key=private_key)
    try:
        with pytest.raises(ConfigurationError, match="SSL_CERT_FILE="):
            app_credentials(fake.base_url, app, settings=FAST, store=None, on_mint=lambda token: None)
    finally:
        fake.stop()


def test_a_github_app_refused_the_certificate_fails_at_once_naming_the_host(certificates: CorpCertificates) -> None:
    private_key, public_key = generate_app_key()
    fake = FakeGitHub(repo_count=10, enterprise_version=VERSION, apps={77: public_key}, installations={88: 77})
    fake.start(ssl_context=certificates.server_context())
    app = GitHubApp(app_id="77", installation_ids=(), private_key=private_key)
    try:
        with pytest.raises(GitHubError, match="is not trusted here") as raised:
            app_credentials(fake.base_url, app, settings=FAST, store=None, on_mint=lambda token: None)
        assert fake.base_url.removesuffix("/api/v3") in str(raised.value)
        assert isinstance(raised.value, FINAL_ERRORS)
    finally:
        fake.stop()
