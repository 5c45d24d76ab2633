"""Runs through Airflow against a GitHub Enterprise Server: its API under /api/v3, TLS with the company's
own CA, rate limiting disabled, and an older release whose GraphQL lacks a field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest

from tests.e2e.test_pipeline import LOGICAL_DATE
from tests.fake_github import FakeGitHub
from tests.fixtures.tls import CorpCertificates, make_certificates

pytestmark = pytest.mark.e2e

VERSION = "3.9.0"


@pytest.fixture
def certificates(tmp_path: Path) -> CorpCertificates:
    return make_certificates(tmp_path / "corp-ca")


@pytest.fixture
def ghes(certificates: CorpCertificates) -> Iterator[FakeGitHub]:
    """A GHES over https with the company's CA, rate limiting disabled."""
    fake = FakeGitHub(
        repo_count=300,
        seed=17,
        # An appliance's ids are few: its own repositories only.
        max_id=20_000,
        vanished_ratio=0.02,
        owners={"platform-team": 30},
        enterprise_version=VERSION,
        rate_limiting=False,
    )
    fake.start(ssl_context=certificates.server_context())
    yield fake
    fake.stop()


def _count(pg_url: str, query: str) -> int:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone()[0]


def test_runs_harvest_an_enterprise_server_with_its_own_ca_and_no_rate_limits(
    ghes: FakeGitHub, certificates: CorpCertificates, pipeline_env, run_dag, pg_url: str, monkeypatch
) -> None:
    for name in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca_file))
    pipeline_env(ghes.base_url)

    assert run_dag({"mode": "sample", "sample_size": 40, "seed": 3, "shards": 2}, LOGICAL_DATE).state == "success"
    assert _count(pg_url, "SELECT count(*) FROM github.repositories") == 40
    assert run_dag({"mode": "owners", "owners": ["platform-team"]}, LOGICAL_DATE).state == "success"
    assert _count(pg_url, "SELECT count(*) FROM github.repositories WHERE owner_login = 'platform-team'") == 30

    search = {"mode": "search", "query": "created:2024-01-01..2024-12-31"}
    assert run_dag(search, LOGICAL_DATE).state == "success"
    assert ghes.count(path_prefix="/search/repositories") > 0

    # Every request went to the API's paths (none to the appliance's web pages), GraphQL enriched.
    assert [r.path for r in ghes.requests if r.fault == "web"] == []
    assert ghes.count(path_prefix="/graphql") > 0
    assert ghes.count(path_prefix="/rate_limit", status=404) > 0


def test_an_untrusted_certificate_fails_the_run_in_plan_at_once(
    ghes: FakeGitHub, pipeline_env, run_dag, monkeypatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    pipeline_env(ghes.base_url)
    result = run_dag({"mode": "sample", "sample_size": 10}, LOGICAL_DATE)
    assert result.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in result.get_task_instances()}
    assert states["plan"] == ("failed", 1)
    output = capfd.readouterr()
    assert "is not trusted here" in output.out + output.err
    assert ghes.requests == []


def test_an_older_enterprise_graphql_fails_the_extract_once_naming_the_field_and_version(
    fake_github_factory, pipeline_env, run_dag, capfd: pytest.CaptureFixture[str]
) -> None:
    fake = fake_github_factory(
        repo_count=200, seed=5, enterprise_version="3.4.0", rate_limiting=False, graphql_missing_fields=["isTemplate"]
    )
    pipeline_env(fake.base_url)
    result = run_dag({"mode": "sample", "sample_size": 10, "shards": 1}, LOGICAL_DATE)
    assert result.state == "failed"
    extract = [ti for ti in result.get_task_instances() if ti.task_id == "extract"]
    assert [(ti.state, ti.try_number) for ti in extract] == [("failed", 1)]
    output = capfd.readouterr()
    assert "Field 'isTemplate' doesn't exist on type 'Repository'" in output.out + output.err
    assert "GitHub Enterprise Server 3.4.0" in output.out + output.err
    assert fake.count(path_prefix="/graphql") == 1


def test_a_warehouse_of_github_com_refuses_the_enterprise_servers_run_in_plan_at_once(
    fake_github_factory, pipeline_env, run_dag, pg_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Both number their repositories from 1: the same id is another repository on each."""
    dotcom = fake_github_factory(repo_count=100, max_id=100, seed=8)
    ghes = fake_github_factory(repo_count=100, max_id=100, seed=9, enterprise_version=VERSION, rate_limiting=False)
    pipeline_env(dotcom.base_url)
    assert run_dag({"mode": "sample", "sample_size": 30, "shards": 1}, LOGICAL_DATE).state == "success"
    stored = _count(pg_url, "SELECT count(*) FROM github.repositories")
    names = _count(pg_url, "SELECT count(DISTINCT full_name) FROM github.repositories")
    capfd.readouterr()

    pipeline_env(ghes.base_url)
    result = run_dag({"mode": "sample", "sample_size": 30, "shards": 1}, LOGICAL_DATE + timedelta(days=1))

    assert result.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in result.get_task_instances()}
    assert states["plan"] == ("failed", 1)
    output = capfd.readouterr()
    assert f"holds the repositories of the GitHub at {dotcom.base_url}" in output.out + output.err
    assert f"this run harvests the GitHub at {ghes.base_url}" in output.out + output.err
    assert ghes.requests == []
    assert _count(pg_url, "SELECT count(*) FROM github.repositories") == stored
    assert _count(pg_url, "SELECT count(DISTINCT full_name) FROM github.repositories") == names
    assert _count(pg_url, "SELECT count(*) FROM github.load_runs") == 1
