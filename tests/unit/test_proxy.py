"""GitHub through a company HTTP proxy: tunnels for https, NO_PROXY, proxy credentials, a proxy down or
refusing, a TLS-inspecting proxy's CA, and the proxy's password kept out of every message.

A real proxy (tests/fixtures/proxy.py) and the fake GitHub over TLS with a company CA, on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from github_etl.errors import FINAL_ERRORS, ConfigurationError, GitHubError, GitHubUnavailableError
from github_etl.github.app_auth import GitHubApp, app_credentials
from github_etl.github.client import GitHubClient
from github_etl.hooks.github import GitHubHook
from github_etl.settings import ClientSettings, QuotaReserve
from tests.fake_github import FakeGitHub
from tests.fake_github.apps import generate_app_key
from tests.fixtures.proxy import HttpProxy
from tests.fixtures.tls import CorpCertificates, make_certificates
from tests.ports import closed_port
from tests.unit.test_github_enterprise import TLS_AND_PROXY_VARIABLES

TOKEN = "ghp_proxy_test_token_0123"
USER = "svc-airflow"
PASSWORD = "Pr0xy-S3cret"
FAST = ClientSettings(
    connect_timeout=2,
    read_timeout=5,
    max_retries=2,
    backoff_base=0.01,
    backoff_max=0.02,
    max_inline_wait=10,
    reset_jitter=0.01,
    quota_reserve=QuotaReserve(default=0.0),
)


@pytest.fixture(autouse=True)
def _no_inherited_trust_or_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TLS_AND_PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def corp_ca(tmp_path_factory: pytest.TempPathFactory) -> CorpCertificates:
    return make_certificates(tmp_path_factory.mktemp("corp-ca"))


@pytest.fixture(scope="module")
def inspection_ca(tmp_path_factory: pytest.TempPathFactory) -> CorpCertificates:
    return make_certificates(tmp_path_factory.mktemp("inspection-ca"), common_name="Corp TLS Inspection CA")


@pytest.fixture
def ghes(corp_ca: CorpCertificates, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A GitHub Enterprise Server over https with the company's CA, which the environment trusts."""
    fake = FakeGitHub(repo_count=60, seed=5, enterprise_version="3.12.0", rate_limiting=False)
    fake.start(ssl_context=corp_ca.server_context())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(corp_ca.ca_file))
    yield fake
    fake.stop()


@pytest.fixture
def proxies() -> Iterator[list[HttpProxy]]:
    started: list[HttpProxy] = []
    yield started
    for proxy in started:
        proxy.stop()


def _proxy(proxies: list[HttpProxy], **kwargs) -> HttpProxy:
    proxy = HttpProxy(**kwargs).start()
    proxies.append(proxy)
    return proxy


def _client(fake: FakeGitHub, waits: list[float] | None = None) -> GitHubClient:
    sleep = waits.append if waits is not None else (lambda seconds: None)
    return GitHubClient(fake.base_url, [TOKEN], settings=FAST, conn_id="github_default", sleep=sleep)


def _assert_secret_kept(message: str, caplog: pytest.LogCaptureFixture) -> None:
    assert PASSWORD not in message
    assert PASSWORD not in caplog.text


# -- the proxy is used, and NO_PROXY honoured ------------------------------------------------------


def test_rest_and_graphql_go_through_the_proxy_with_its_credentials_and_no_proxy_hosts_bypass_it(
    monkeypatch, ghes: FakeGitHub, proxies
) -> None:
    proxy = _proxy(proxies, user=USER, password=PASSWORD)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url(user=USER, password=PASSWORD))
    client = _client(ghes)
    assert client.get("/repositories").status == 200
    assert client.graphql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": []}) is not None
    host = ghes.base_url.split("://")[1].split("/")[0]
    assert {(r.method, r.target) for r in proxy.requests} == {("CONNECT", host)}
    assert all(r.authorization and r.authorization.startswith("Basic ") for r in proxy.requests)
    # The GitHub token travels inside the tunnel, never to the proxy.
    assert all(TOKEN not in (r.authorization or "") for r in proxy.requests)

    seen = len(proxy.requests)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert _client(ghes).get("/repositories").status == 200
    assert len(proxy.requests) == seen


# -- the proxy refusing ----------------------------------------------------------------------------


@pytest.mark.parametrize("given", [None, "wrong-password"])
def test_a_proxy_asking_for_credentials_fails_at_once_naming_it_and_the_variable_never_the_password(
    monkeypatch, ghes: FakeGitHub, proxies, caplog, given: str | None
) -> None:
    proxy = _proxy(proxies, user=USER, password="the-right-one")
    # A password the proxy refuses is a secret all the same.
    url = proxy.url(user=USER, password=PASSWORD) if given else proxy.url()
    monkeypatch.setenv("HTTPS_PROXY", url)
    waits: list[float] = []
    with caplog.at_level(logging.DEBUG), pytest.raises(GitHubError) as raised:
        _client(ghes, waits).get("/repositories")
    message = str(raised.value)
    assert isinstance(raised.value, FINAL_ERRORS)
    assert waits == [] and len(proxy.requests) == 1
    assert f"127.0.0.1:{proxy.port}" in message and "HTTPS_PROXY" in message and "407" in message
    _assert_secret_kept(message, caplog)


@pytest.mark.parametrize("answer", ["down", "502 Bad Gateway", "503 Service Unavailable"])
def test_a_proxy_down_or_refusing_the_tunnel_is_retried_and_named_not_github(
    monkeypatch, ghes: FakeGitHub, proxies, caplog, answer: str
) -> None:
    if answer == "down":
        address = f"127.0.0.1:{closed_port()}"
    else:
        address = f"127.0.0.1:{_proxy(proxies, refuse_connect=answer).port}"
    monkeypatch.setenv("HTTPS_PROXY", f"http://{USER}:{PASSWORD}@{address}")
    waits: list[float] = []
    with caplog.at_level(logging.DEBUG), pytest.raises(GitHubUnavailableError) as raised:
        _client(ghes, waits).get("/repositories")
    message = str(raised.value)
    assert not isinstance(raised.value, FINAL_ERRORS)
    assert len(waits) == FAST.max_retries
    assert f"proxy http://{USER}:***@{address}" in message and "HTTPS_PROXY" in message
    assert "Check the host of connection" not in message
    _assert_secret_kept(message, caplog)


def test_a_plain_http_github_behind_a_proxy_asking_for_credentials_names_the_proxy(
    monkeypatch, fake_github: FakeGitHub, proxies, caplog
) -> None:
    proxy = _proxy(proxies, user=USER, password="the-right-one")
    monkeypatch.setenv("HTTP_PROXY", proxy.url(user=USER, password=PASSWORD))
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as raised:
        _client(fake_github).get("/repositories")
    message = str(raised.value)
    assert f"127.0.0.1:{proxy.port}" in message and "HTTP_PROXY" in message and "407" in message
    assert not fake_github.requests
    _assert_secret_kept(message, caplog)


# -- a TLS-inspecting proxy ------------------------------------------------------------------------


def _inspecting_proxy(proxies, inspection_ca: CorpCertificates) -> tuple[HttpProxy, FakeGitHub]:
    """A proxy that answers every tunnel itself, with a certificate of the inspection CA."""
    interceptor = FakeGitHub(repo_count=60, seed=5, enterprise_version="3.12.0", rate_limiting=False)
    interceptor.start(ssl_context=inspection_ca.server_context())
    port = int(interceptor.base_url.split(":")[2].split("/")[0])
    return _proxy(proxies, tunnel_to=("127.0.0.1", port)), interceptor


def test_a_tls_inspecting_proxy_fails_at_once_naming_the_proxy_and_the_ca_setting_until_its_ca_is_trusted(
    monkeypatch, ghes: FakeGitHub, proxies, corp_ca: CorpCertificates, inspection_ca: CorpCertificates, tmp_path: Path
) -> None:
    proxy, interceptor = _inspecting_proxy(proxies, inspection_ca)
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url(user=USER, password=PASSWORD))
        waits: list[float] = []
        with pytest.raises(GitHubError) as raised:
            _client(ghes, waits).get("/repositories")
        message = str(raised.value)
        assert isinstance(raised.value, FINAL_ERRORS) and waits == []
        assert f"REQUESTS_CA_BUNDLE={corp_ca.ca_file}" in message
        assert f"127.0.0.1:{proxy.port}" in message and "HTTPS_PROXY" in message and "inspect" in message
        assert PASSWORD not in message
        # One bundle with both CAs, the usual fix: the inspection CA for the tunnel, the company's beside it.
        bundle = tmp_path / "corp-bundle.pem"
        bundle.write_bytes(corp_ca.ca_file.read_bytes() + inspection_ca.ca_file.read_bytes())
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        assert _client(ghes).get("/repositories").status == 200
    finally:
        interceptor.stop()


# -- the GitHub App's token exchange ---------------------------------------------------------------


def test_a_github_app_behind_a_proxy_asking_for_credentials_fails_at_once_naming_it(
    monkeypatch, corp_ca: CorpCertificates, proxies, caplog
) -> None:
    private_key, public_key = generate_app_key()
    fake = FakeGitHub(repo_count=10, enterprise_version="3.12.0", apps={77: public_key}, installations={88: 77})
    fake.start(ssl_context=corp_ca.server_context())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(corp_ca.ca_file))
    proxy = _proxy(proxies, user=USER, password="the-right-one")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url(user=USER, password=PASSWORD))
    app = GitHubApp(app_id="77", installation_ids=(), private_key=private_key)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as raised:
            app_credentials(fake.base_url, app, settings=FAST, store=None, on_mint=lambda token: None)
        message = str(raised.value)
        assert f"127.0.0.1:{proxy.port}" in message and "HTTPS_PROXY" in message and "407" in message
        assert len(proxy.requests) == 1
        _assert_secret_kept(message, caplog)
    finally:
        fake.stop()


# -- the hook masks the proxy's password -----------------------------------------------------------


def test_the_hook_registers_the_proxys_password_with_the_secrets_masker(monkeypatch, ghes: FakeGitHub) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": ghes.base_url}))
    # Percent-encoded in the URL, as a password with an @ must be; both spellings are masked.
    monkeypatch.setenv("https_proxy", f"http://{USER}:{PASSWORD}%40x@127.0.0.1:{closed_port()}")
    # requests takes a proxy without a scheme as http://.
    monkeypatch.setenv("ALL_PROXY", f"{USER}:Other-Secret-9@127.0.0.1:{closed_port()}")
    GitHubHook(settings=FAST).get_conn()
    shown = redact(f"url http://{USER}:{PASSWORD}%40x@proxy and {PASSWORD}@x, Other-Secret-9")
    assert PASSWORD not in shown and "Other-Secret-9" not in shown


# -- make run's preflight --------------------------------------------------------------------------


def test_the_preflight_names_the_proxy_that_asks_for_credentials_or_is_down(
    monkeypatch, ghes: FakeGitHub, fake_github: FakeGitHub, proxies
) -> None:
    from tools.github_preflight import unreachable_reason

    proxy = _proxy(proxies, user=USER, password="the-right-one")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url(user=USER, password=PASSWORD))
    monkeypatch.setenv("HTTP_PROXY", proxy.url(user=USER, password=PASSWORD))
    for base_url in (ghes.base_url, fake_github.base_url):
        reason = unreachable_reason(base_url)
        assert reason is not None and "407" in reason and f"127.0.0.1:{proxy.port}" in reason, base_url
        assert PASSWORD not in reason
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HTTPS_PROXY", f"http://{USER}:{PASSWORD}@{address}")
    reason = unreachable_reason(ghes.base_url)
    assert reason is not None and f"proxy http://{USER}:***@{address}" in reason and PASSWORD not in reason
    monkeypatch.setenv("HTTPS_PROXY", proxy.url(user=USER, password="the-right-one"))
    assert unreachable_reason(ghes.base_url) is None


# -- S3 staging through the same proxy -------------------------------------------------------------


@pytest.fixture
def s3_through(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """A staging URL on moto under a connection of its own, so no file system cached by another test serves it."""
    from tests.fixtures.s3 import FAKE_AWS_KEY, STAGING_BUCKET

    def staging_url() -> str:
        conn_id = f"aws_proxied_{uuid.uuid4().hex[:8]}"
        extra = {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}
        connection = {"conn_type": "aws", "login": FAKE_AWS_KEY, "password": FAKE_AWS_KEY, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return f"s3://{conn_id}@{STAGING_BUCKET}/runs-{uuid.uuid4().hex[:8]}"

    # One attempt: botocore would retry a refused connection a few times before giving up.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return staging_url


def test_staging_on_s3_goes_through_the_proxy_and_bypasses_it_for_no_proxy(monkeypatch, s3_through, proxies) -> None:
    from github_etl.staging import check_staging_root

    proxy = _proxy(proxies, user=USER, password=PASSWORD)
    monkeypatch.setenv("HTTP_PROXY", proxy.url(user=USER, password=PASSWORD))
    check_staging_root(s3_through())
    assert proxy.requests and all(r.target.startswith("http://127.0.0.1:") for r in proxy.requests)
    seen = len(proxy.requests)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    check_staging_root(s3_through())
    assert len(proxy.requests) == seen


def test_staging_behind_a_proxy_asking_for_credentials_fails_at_once_naming_it(
    monkeypatch, s3_through, proxies, caplog
) -> None:
    from github_etl.staging import check_staging_root

    proxy = _proxy(proxies, user=USER, password="the-right-one")
    monkeypatch.setenv("HTTP_PROXY", proxy.url(user=USER, password=PASSWORD))
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as raised:
        check_staging_root(s3_through())
    message = str(raised.value)
    assert f"127.0.0.1:{proxy.port}" in message and "HTTP_PROXY" in message and "407" in message
    _assert_secret_kept(message, caplog)


def test_staging_behind_a_proxy_that_is_down_is_left_to_the_retries_naming_the_proxy(
    monkeypatch, s3_through, caplog
) -> None:
    from github_etl.errors import StagingUnavailableError
    from github_etl.staging import check_staging_root

    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HTTP_PROXY", f"http://{USER}:{PASSWORD}@{address}")
    with caplog.at_level(logging.DEBUG), pytest.raises(StagingUnavailableError) as raised:
        check_staging_root(s3_through())
    message = str(raised.value)
    assert not isinstance(raised.value, FINAL_ERRORS)
    assert f"proxy http://{USER}:***@{address}" in message and "HTTP_PROXY" in message
    _assert_secret_kept(message, caplog)


# -- HttpHook's session options in the connection's extra ------------------------------------------


@pytest.mark.parametrize(
    ("extra", "named", "variable"),
    [
        ({"verify": "/etc/ssl/corp-ca.pem"}, "verify", "REQUESTS_CA_BUNDLE"),
        ({"verify_ssl": False}, "verify_ssl", "REQUESTS_CA_BUNDLE"),
        ({"proxies": {"https": f"http://{USER}:{PASSWORD}@proxy.corp:3128"}}, "proxies", "HTTPS_PROXY"),
        ({"proxy": f"http://{USER}:{PASSWORD}@proxy.corp:3128"}, "proxy", "HTTPS_PROXY"),
        ({"trust_env": False}, "trust_env", "NO_PROXY"),
    ],
)
def test_session_options_an_http_connection_takes_elsewhere_are_refused_naming_the_variable_to_set(
    monkeypatch, ghes: FakeGitHub, extra: dict, named: str, variable: str
) -> None:
    # Airflow's HttpHook reads these from an http connection's extra; this hook would go on without them.
    connection = {"conn_type": "http", "host": ghes.base_url, "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps(connection))
    with pytest.raises(ConfigurationError) as raised:
        GitHubHook(settings=FAST).get_conn()
    message = str(raised.value)
    assert f"'{named}'" in message and variable in message and "github_default" in message
    assert PASSWORD not in message


def test_verify_true_in_the_extra_changes_nothing_and_is_accepted(monkeypatch, ghes: FakeGitHub) -> None:
    connection = {"conn_type": "http", "host": ghes.base_url, "password": TOKEN, "extra": {"verify": True}}
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps(connection))
    assert GitHubHook(settings=FAST).get_conn().get("/repositories").status == 200


# -- make airflow / make run on a machine with a proxy set -----------------------------------------


def test_airflow_commands_reach_their_own_api_server_directly_whatever_proxy_is_set() -> None:
    from tools.airflow_processes import airflow_env

    # Airflow's task client (httpx) and urllib proxy loopback addresses too, unless NO_PROXY names them.
    env = airflow_env({"HTTP_PROXY": "http://proxy.corp:3128", "no_proxy": "ghe.corp,.internal"})
    for name in ("NO_PROXY", "no_proxy"):
        hosts = env[name].split(",")
        assert {"localhost", "127.0.0.1", "ghe.corp", ".internal"} <= set(hosts), name
    assert "NO_PROXY" not in airflow_env({"PATH": "/usr/bin"})


def test_the_api_servers_health_is_asked_directly_not_through_the_proxy(monkeypatch, fake_github, proxies) -> None:
    from tools.airflow_processes import api_health

    proxy = _proxy(proxies, refuse_connect="503 Service Unavailable")
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setattr("tools.airflow_processes.HEALTH_PATH", "/rate_limit")
    assert api_health(fake_github.base_url) is not None
    assert proxy.requests == []


def test_staging_behind_a_tls_inspecting_proxy_fails_at_once_naming_the_ca_variable_s3_reads(
    monkeypatch, proxies, inspection_ca: CorpCertificates, caplog
) -> None:
    from github_etl.staging import check_staging_root
    from tests.fixtures.s3 import FAKE_AWS_KEY

    proxy, interceptor = _inspecting_proxy(proxies, inspection_ca)
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url(user=USER, password=PASSWORD))
        # What the GitHub requests trust; botocore does not read it for the object-storage path.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(inspection_ca.ca_file))
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        extra = {"endpoint_url": "https://s3.corp.test", "region_name": "us-east-1"}
        connection = {"conn_type": "aws", "login": FAKE_AWS_KEY, "password": FAKE_AWS_KEY, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_INSPECTED", json.dumps(connection))
        with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as raised:
            check_staging_root("s3://aws_inspected@github-etl-staging/runs")
        message = str(raised.value)
        assert "AWS_CA_BUNDLE" in message and "certificate" in message
        assert f"127.0.0.1:{proxy.port}" in message and "HTTPS_PROXY" in message
        _assert_secret_kept(message, caplog)
        # Trusted through AWS_CA_BUNDLE, the tunnel's TLS holds (the interceptor, no S3, then answers 501).
        monkeypatch.setenv("AWS_CA_BUNDLE", str(inspection_ca.ca_file))
        connection["extra"] = {"endpoint_url": "https://localhost", "region_name": "us-east-1"}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_INSPECTED_TRUSTED", json.dumps(connection))
        # Whatever a server that is no S3 answers becomes; not a certificate failure.
        with pytest.raises(Exception) as answered:
            check_staging_root("s3://aws_inspected_trusted@github-etl-staging/runs")
        assert "certificate" not in str(answered.value) and "Not Implemented" in str(answered.value)
    finally:
        interceptor.stop()


def test_a_proxy_that_never_answers_the_tunnel_is_named_beside_github(monkeypatch, caplog) -> None:
    import socket

    from tools import github_preflight

    # A proxy that takes the connection and never answers the CONNECT: a timeout, as GitHub's slowness would be.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("HTTPS_PROXY", f"http://{USER}:{PASSWORD}@{address}")
        quick = ClientSettings(
            connect_timeout=0.3, read_timeout=0.3, max_retries=1, backoff_base=0.01, backoff_max=0.02
        )
        client = GitHubClient("https://ghe.corp.test/api/v3", [TOKEN], settings=quick, sleep=lambda seconds: None)
        with caplog.at_level(logging.DEBUG), pytest.raises(GitHubUnavailableError) as raised:
            client.get("/repositories")
        message = str(raised.value)
        assert f"proxy http://{USER}:***@{address} (HTTPS_PROXY)" in message
        _assert_secret_kept(message, caplog)
        monkeypatch.setattr(github_preflight, "CONNECT_TIMEOUT", 0.3)
        monkeypatch.setattr(github_preflight, "READ_TIMEOUT", 0.3)
        reason = github_preflight.unreachable_reason("https://ghe.corp.test/api/v3")
        assert reason is not None and f"proxy http://{USER}:***@{address} (HTTPS_PROXY)" in reason
