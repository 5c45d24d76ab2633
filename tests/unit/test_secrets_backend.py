"""Connections kept only in a secrets backend (``[secrets] backend``), never in ``AIRFLOW_CONN_*`` variables.

Airflow's LocalFilesystemBackend (a connections file) and the amazon provider's SecretsManagerBackend against moto
stand in for a company's vault. Airflow reports a backend entry it cannot read as not defined; these tests hold
that the pipeline says what is wrong with it instead of going on without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.s3 import FAKE_AWS_KEY, STAGING_BUCKET, moto_client

LOCAL_FILESYSTEM_BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
TOKEN = "ghp_backendtoken0123456789"


@pytest.fixture(autouse=True)
def fresh_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow builds its secrets backends once per process: each test's configuration gets its own."""
    monkeypatch.setattr("airflow.sdk.configuration._secrets_backend_cache", {})
    monkeypatch.setattr("airflow.sdk.io.store._STORE_CACHE", {})


def use_backend(monkeypatch: pytest.MonkeyPatch, backend: str, **kwargs: Any) -> None:
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", backend)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps(kwargs))


def connections_file(monkeypatch: pytest.MonkeyPatch, path: Path, content: str) -> Path:
    path.write_text(content)
    use_backend(monkeypatch, LOCAL_FILESYSTEM_BACKEND, connections_file_path=str(path))
    return path


def aws_connection(endpoint: str) -> dict[str, Any]:
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    return {"conn_type": "aws", "login": FAKE_AWS_KEY, "password": FAKE_AWS_KEY, "extra": extra}


def test_connections_only_in_the_backend_reach_github_the_warehouse_and_s3(
    monkeypatch, tmp_path, pg_url: str, s3_endpoint: str
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from github_etl.hooks.github import GitHubHook
    from github_etl.hooks.warehouse import DatabaseConnection
    from github_etl.staging import check_staging_root

    connections = {
        "github_default": {"conn_type": "http", "host": "http://127.0.0.1:8765", "password": TOKEN},
        "postgres_default": pg_url,
        "aws_default": aws_connection(s3_endpoint),
    }
    connections_file(monkeypatch, tmp_path / "connections.json", json.dumps(connections))

    hook = GitHubHook()
    assert (hook.api_base_url(), hook.has_credentials()) == ("http://127.0.0.1:8765", True)
    assert not hook.from_environment
    with DatabaseConnection(connect_retries=0) as db, db.cursor() as cur:
        cur.execute("SELECT 1")
    check_staging_root(f"s3://aws_default@{STAGING_BUCKET}/backend")
    # A backend's connection is masked in logs as an AIRFLOW_CONN_* variable's is.
    assert TOKEN not in redact(f"token {TOKEN}") and FAKE_AWS_KEY not in redact(f"key {FAKE_AWS_KEY}")


def test_one_unreadable_entry_does_not_send_the_run_to_api_github_com_without_a_token(monkeypatch, tmp_path) -> None:
    """Airflow reads the file whole: a typo in aws_default hid github_default, and the hook went anonymous."""
    from github_etl.errors import ConfigurationError
    from github_etl.hooks.github import GitHubHook

    connections = {
        "github_default": {"conn_type": "http", "host": "http://127.0.0.1:8765", "password": TOKEN},
        "aws_default": {"conn_type": "aws", "password": "wJalrSecret", "extras": {"region_name": "eu-west-1"}},
    }
    path = connections_file(monkeypatch, tmp_path / "connections.json", json.dumps(connections))

    with pytest.raises(ConfigurationError) as refused:
        GitHubHook().api_base_url()
    message = str(refused.value)
    assert f"connection 'aws_default' in the connections file {path}" in message
    assert "a connection has no 'extras'" in message and "'github_default' among them" in message
    assert TOKEN not in message and "wJalrSecret" not in message


def test_a_connections_file_that_does_not_parse_is_named_with_its_line(monkeypatch, tmp_path) -> None:
    from github_etl.errors import WarehouseNotConfiguredError
    from github_etl.hooks.warehouse import DatabaseConnection

    path = connections_file(
        monkeypatch, tmp_path / "connections.yaml", "postgres_default: postgresql://etl:pw@db/warehouse\n  bad: [\n"
    )
    with pytest.raises(WarehouseNotConfiguredError, match=rf"cannot parse the connections file {path} .*\(line 2\)"):
        DatabaseConnection(connect_retries=0).connect()


def test_a_uri_entry_airflow_cannot_read_is_named_without_quoting_it(monkeypatch, tmp_path) -> None:
    from github_etl.errors import WarehouseNotConfiguredError
    from github_etl.hooks.warehouse import DatabaseConnection

    connections_file(monkeypatch, tmp_path / "connections.env", "postgres_default=postgresql://etl:pa/ss@db:5432/wh\n")
    with pytest.raises(WarehouseNotConfiguredError, match="'postgres_default' in the connections file") as refused:
        DatabaseConnection(connect_retries=0).connect()
    assert "%2F" in str(refused.value) and "pa/ss" not in str(refused.value)


def test_an_undefined_warehouse_says_where_the_backend_keeps_it(monkeypatch, tmp_path) -> None:
    from github_etl.errors import WarehouseNotConfiguredError
    from github_etl.hooks.warehouse import DatabaseConnection

    path = connections_file(monkeypatch, tmp_path / "connections.json", "{}")
    with pytest.raises(WarehouseNotConfiguredError, match=f"store it in the connections file {path} of the secrets"):
        DatabaseConnection(connect_retries=0).connect()


def test_an_unreadable_aws_default_is_refused_not_replaced_by_the_machines_credentials(monkeypatch, tmp_path) -> None:
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root
    from tests.ports import closed_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    connections_file(monkeypatch, tmp_path / "connections.json", json.dumps({"aws_default": ["a", "b"]}))
    with pytest.raises(ConfigurationError, match="cannot read the connection 'aws_default'"):
        check_staging_root(f"s3://{STAGING_BUCKET}/runs")


def test_make_run_does_not_replace_an_unreadable_warehouse_with_an_embedded_one(monkeypatch, tmp_path, capsys) -> None:
    from tools.warehouse_preflight import UNDEFINED, main

    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    connections_file(monkeypatch, tmp_path / "connections.json", '{"postgres_default": {"conn_type": "postgres",}}')
    assert main(["--defined"]) == 1
    assert "cannot parse the connections file" in capsys.readouterr().err

    connections_file(monkeypatch, tmp_path / "connections.json", "{}")
    assert main(["--defined"]) == UNDEFINED


def test_a_secrets_manager_secret_that_is_not_json_is_named_not_quoted(monkeypatch, s3_endpoint: str) -> None:
    from github_etl.errors import ConfigurationError
    from github_etl.hooks.github import GitHubHook

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_AWS_KEY)
    prefix = f"etl-{id(monkeypatch)}/connections"
    client = moto_client("secretsmanager", s3_endpoint)
    client.create_secret(Name=f"{prefix}/github_default", SecretString='{"conn_type": "http", "password": "' + TOKEN)
    use_backend(
        monkeypatch,
        SECRETS_MANAGER_BACKEND,
        connections_prefix=prefix,
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
    )
    with pytest.raises(
        ConfigurationError, match=rf"secret '{prefix}/github_default' of SecretsManagerBackend .*not valid"
    ):
        GitHubHook().api_base_url()


def test_a_secrets_manager_that_cannot_be_reached_is_not_taken_for_no_connection(monkeypatch) -> None:
    from github_etl.errors import ConfigurationError, SecretsBackendUnavailableError
    from github_etl.staging import check_staging_root
    from tests.ports import closed_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_AWS_KEY)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = f"http://127.0.0.1:{closed_port()}"
    use_backend(
        monkeypatch, SECRETS_MANAGER_BACKEND, connections_prefix="etl", endpoint_url=endpoint, region_name="us-east-1"
    )
    with pytest.raises(SecretsBackendUnavailableError, match="could not read the secret 'etl/aws_default'") as failed:
        check_staging_root(f"s3://{STAGING_BUCKET}/runs")
    # Retried by Airflow: the vault may answer again.
    assert not isinstance(failed.value, ConfigurationError)


def test_a_github_app_with_its_key_in_the_backend_logs_in_and_its_secrets_are_masked(
    monkeypatch, tmp_path, fake_github_factory
) -> None:
    """The key as a YAML block, as a vault's file template writes it; the key and the minted tokens are masked."""
    import textwrap

    from airflow.sdk._shared.secrets_masker import redact

    from github_etl.hooks.github import GitHubHook
    from tests.fake_github.apps import generate_app_key

    private_key, public_key = generate_app_key()
    fake = fake_github_factory(repo_count=10, seed=4, apps={424242: public_key}, installations={1001: 424242})
    key_block = textwrap.indent(private_key, " " * 8)
    connections_file(
        monkeypatch,
        tmp_path / "connections.yaml",
        f"github_default:\n  conn_type: http\n  host: {fake.base_url}\n  extra:\n    app_id: 424242\n"
        f"    installation_id: 1001\n    private_key: |\n{key_block}",
    )
    hook = GitHubHook()
    ok, message = hook.test_connection()
    assert ok, message
    (token,) = fake.apps.issued_tokens()
    shown = redact(f"key {private_key} token {token}")
    assert private_key.splitlines()[1] not in shown and token not in shown
