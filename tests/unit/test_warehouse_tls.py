"""The warehouse as a managed PostgreSQL is reached: over TLS, through a unix socket, with IAM authentication.

The TLS server is a real PostgreSQL of this test module's own, started from binaries built with OpenSSL (the
embedded ones are not), whose pg_hba.conf accepts TCP logins over TLS only, as RDS with rds.force_ssl does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg2
import psycopg2.extensions
import pytest

from github_etl.errors import ConfigurationError, GitHubEtlError, WarehouseRejectedError
from github_etl.hooks.warehouse import DatabaseConnection
from tests.fixtures.tls import make_certificates

PASSWORD = "Hunter2-TopSecret"
# A role the server accepts only with a client certificate its CA signed (Cloud SQL's "trusted client
# certificate required").
CERT_ROLE = "github_etl_cert_only"


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca_file: Path
    other_ca_file: Path
    # The certificate and key of CERT_ROLE, which the server's CA signed.
    client_cert_file: Path
    client_key_file: Path
    # A certificate and key another CA signed: one the server does not trust as a client's.
    untrusted_cert_file: Path
    untrusted_key_file: Path
    socket_dir: Path


def _binaries_with_ssl() -> Path | None:
    """The folder of a PostgreSQL server built with OpenSSL: the one ``pg_config`` on PATH names, or Debian's."""
    candidates = []
    if pg_config := shutil.which("pg_config"):
        candidates.append(Path(pg_config).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if not (folder / "postgres").exists() or not (folder / "pg_config").exists():
            continue
        configured = subprocess.run([folder / "pg_config", "--configure"], capture_output=True, text=True).stdout
        if "openssl" in configured:
            return folder
    return None


def _install(source: Path, target: Path, owner: os.stat_result) -> None:
    """Copy a file where the server reads it, as its account's own (it refuses a key others may read)."""
    shutil.copyfile(source, target)
    target.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(target, owner.st_uid, owner.st_gid)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    from tools.embedded_postgres import EmbeddedPostgres

    binaries = _binaries_with_ssl()
    if binaries is None:
        pytest.skip("no PostgreSQL server built with OpenSSL here (the embedded binaries are built without SSL)")
    # Not pytest's tmp_path: run as root, the server runs as another account that must traverse the parent.
    parent = Path(tempfile.mkdtemp(prefix="github-etl-pg-tls-"))
    server = EmbeddedPostgres(parent / "pgdata", binaries=binaries)
    try:
        url = server.start()
        certificates = make_certificates(parent / "ca", common_name="Managed PostgreSQL CA", client_name=CERT_ROLE)
        other = make_certificates(parent / "other-ca", common_name="Another CA")
        # libpq refuses a client key that others may read.
        other.server_key_file.chmod(0o600)
        data_dir = server.data_dir
        owner = data_dir.stat()
        _install(certificates.server_cert_file, data_dir / "server.crt", owner)
        _install(certificates.server_key_file, data_dir / "server.key", owner)
        _install(certificates.ca_file, data_dir / "root.crt", owner)
        socket_dir = parent / "socket"
        socket_dir.mkdir()
        if os.geteuid() == 0:
            os.chown(socket_dir, owner.st_uid, owner.st_gid)
        # postgresql.auto.conf is read last, after the embedded tool's own settings (which open no socket).
        (data_dir / "postgresql.auto.conf").write_text(
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'root.crt'\n"
            f"unix_socket_directories = '{socket_dir}'\n"
        )
        (data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"hostssl all {CERT_ROLE} 127.0.0.1/32 trust clientcert=verify-ca\n"
            "hostssl all all 127.0.0.1/32 trust\n"
        )
        # A socket directory is read at start only.
        server.stop()
        server.start()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with psycopg2.connect(host=str(socket_dir), port=port, user="postgres", dbname="postgres") as admin:
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(f"CREATE ROLE {CERT_ROLE} LOGIN")
        admin.close()
        yield TlsServer(
            port=port,
            ca_file=certificates.ca_file,
            other_ca_file=other.ca_file,
            client_cert_file=certificates.client_cert_file,
            client_key_file=certificates.client_key_file,
            untrusted_cert_file=other.server_cert_file,
            untrusted_key_file=other.server_key_file,
            socket_dir=socket_dir,
        )
    finally:
        server.stop()
        shutil.rmtree(parent, ignore_errors=True)


def _warehouse(monkeypatch: pytest.MonkeyPatch, connection: str | dict) -> DatabaseConnection:
    """The warehouse as the DAG's tasks and the API reach it: through the Airflow connection postgres_default."""
    value = connection if isinstance(connection, str) else json.dumps(connection)
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", value)
    return DatabaseConnection(connect_retries=3, retry_delay=0.001)


def _session_ssl(db: DatabaseConnection) -> bool:
    with db.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        return cur.fetchone()[0]


@pytest.mark.parametrize("form", ["uri", "json", "json-client-certificate"])
def test_verify_full_reaches_the_warehouse_over_tls(tls_server, monkeypatch, form):
    """As RDS, Cloud SQL and Azure document it: sslmode=verify-full and the provider's CA file (and the client
    certificate a server may require)."""
    if form == "json-client-certificate":
        connection = {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": tls_server.port,
            "login": CERT_ROLE,
            "schema": "postgres",
            "extra": {
                "sslmode": "verify-full",
                "sslrootcert": str(tls_server.ca_file),
                "sslcert": str(tls_server.client_cert_file),
                "sslkey": str(tls_server.client_key_file),
            },
        }
    elif form == "uri":
        connection = (
            f"postgresql://postgres:{PASSWORD}@127.0.0.1:{tls_server.port}/postgres"
            f"?sslmode=verify-full&sslrootcert={quote(str(tls_server.ca_file))}"
        )
    else:
        connection = {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": tls_server.port,
            "login": "postgres",
            "password": PASSWORD,
            "schema": "postgres",
            "extra": {"sslmode": "verify-full", "sslrootcert": str(tls_server.ca_file)},
        }

    with _warehouse(monkeypatch, connection) as db:
        assert _session_ssl(db) is True


@pytest.mark.parametrize(
    ("settings", "login", "said", "setting"),
    [
        pytest.param(
            {"sslmode": "verify-full", "sslrootcert": "other_ca"},
            "postgres",
            "certificate verify failed",
            "sslrootcert",
            id="untrusted-ca",
        ),
        pytest.param(
            # The host a certificate must name; hostaddr says where to connect without a DNS name.
            {"sslmode": "verify-full", "sslrootcert": "ca", "host": "db.other.example", "hostaddr": "127.0.0.1"},
            "postgres",
            "does not match host name",
            "a host that certificate names",
            id="other-host-name",
        ),
        pytest.param(
            {"sslmode": "verify-full", "sslrootcert": "ca"},
            CERT_ROLE,
            "client certificate",
            "sslcert",
            id="client-certificate-missing",
        ),
        pytest.param(
            {"sslmode": "verify-full", "sslrootcert": "ca", "sslcert": "untrusted_cert", "sslkey": "untrusted_key"},
            CERT_ROLE,
            "unknown ca",
            "sslcert",
            id="client-certificate-untrusted",
        ),
        pytest.param({"sslmode": "disable"}, "postgres", "no encryption", "sslmode=verify-full", id="tls-required"),
    ],
)
def test_tls_a_connection_cannot_have_fails_at_once_naming_the_setting(
    tls_server, monkeypatch, caplog, settings, login, said, setting
):
    files = {
        "ca": tls_server.ca_file,
        "other_ca": tls_server.other_ca_file,
        "untrusted_cert": tls_server.untrusted_cert_file,
        "untrusted_key": tls_server.untrusted_key_file,
    }
    extra = {key: str(files.get(value, value)) for key, value in settings.items()}
    connection = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": tls_server.port,
        "login": login,
        "password": PASSWORD,
        "schema": "postgres",
        "extra": extra,
    }

    with caplog.at_level(logging.WARNING), pytest.raises(WarehouseRejectedError) as raised:
        _warehouse(monkeypatch, connection).connect()

    message = str(raised.value)
    assert isinstance(raised.value, ConfigurationError), "no retry of the task can help"
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    assert said in message.lower()
    assert "the Airflow connection 'postgres_default'" in message
    assert setting in message
    assert "(database, user, password)" not in message, "the login is not what to fix"
    assert PASSWORD not in message + caplog.text


def test_a_ca_file_that_is_not_there_fails_at_once_naming_sslrootcert(pg_url, caplog):
    """Whether or not the server offers TLS, a client told to check its certificate against no CA stops."""
    dsn = psycopg2.extensions.make_dsn(
        pg_url, password=PASSWORD, sslmode="verify-full", sslrootcert="/nonexistent/root.crt"
    )

    with caplog.at_level(logging.WARNING), pytest.raises(WarehouseRejectedError) as raised:
        DatabaseConnection(dsn, connect_retries=3, retry_delay=0.001).connect()

    message = str(raised.value)
    # libpq says the file is missing, or first that the server offers no TLS: the same settings fix either.
    assert "Check in the connection string: sslmode" in message and "sslrootcert (" in message
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    assert PASSWORD not in message + caplog.text


# -- IAM authentication ------------------------------------------------------------------------------
# The Postgres provider's "iam": true has boto3 sign a token (generate_db_auth_token, locally, no request) and
# uses it as the password. The test warehouse trusts every login, so the token's signature is never checked:
# what is checked is that the hook's connection carries it.


@pytest.fixture
def aws_environment(monkeypatch, tmp_path):
    """Credentials boto3 finds first in the environment (fake: nothing is asked of AWS), and nothing else."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    # No profile, config file or instance metadata service to fall back on.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _iam_connection(pg_url: str, **extra: object) -> dict:
    parts = urlsplit(pg_url)
    return {
        "conn_type": "postgres",
        "host": parts.hostname,
        "port": parts.port,
        "login": extra.pop("login", parts.username),
        "schema": parts.path.lstrip("/"),
        "extra": {"iam": True, "aws_conn_id": "aws_default", **extra},
    }


@pytest.mark.parametrize("redshift", [None, False])
def test_iam_authentication_connects_with_the_providers_token(pg_url, aws_environment, monkeypatch, redshift):
    extra = {} if redshift is None else {"redshift": redshift}

    with _warehouse(monkeypatch, _iam_connection(pg_url, **extra)) as db, db.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == urlsplit(pg_url).username
        token = db.connection.info.password
    assert "Action=connect" in token and "X-Amz-Signature=" in token, "the password is the provider's IAM token"


def test_an_iam_token_is_in_no_message_of_a_refused_login(pg_url, aws_environment, monkeypatch, caplog):
    connection = _iam_connection(pg_url, login="github_etl_no_such_role")

    with caplog.at_level(logging.DEBUG), pytest.raises(WarehouseRejectedError) as raised:
        _warehouse(monkeypatch, connection).connect()

    assert 'role "github_etl_no_such_role" does not exist' in str(raised.value)
    assert "X-Amz-Signature" not in str(raised.value) + caplog.text


@pytest.mark.parametrize(
    ("removed", "said", "setting"),
    [
        pytest.param(("AWS_DEFAULT_REGION",), "no AWS region", "region_name", id="no-region"),
        pytest.param(
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "no AWS credentials", "rds-db:connect", id="no-credentials"
        ),
    ],
)
def test_iam_authentication_boto3_cannot_sign_fails_at_once_naming_the_connections(
    pg_url, aws_environment, monkeypatch, removed, said, setting
):
    for name in removed:
        monkeypatch.delenv(name)

    with pytest.raises(ConfigurationError) as raised:
        _warehouse(monkeypatch, _iam_connection(pg_url)).connect()

    message = str(raised.value)
    assert "the Airflow connection 'postgres_default' asks for IAM authentication" in message
    assert said in message
    assert setting in message and "the AWS connection 'aws_default'" in message


@pytest.mark.parametrize(("code", "final"), [("AccessDenied", True), ("Throttling", False)])
def test_iam_authentication_aws_refuses_fails_at_once_naming_the_aws_connection(
    pg_url, aws_environment, monkeypatch, code, final
):
    """STS refusing the role the AWS connection assumes (role_arn) is the connection's to fix; throttling is not."""
    from botocore.exceptions import ClientError

    from github_etl.errors import FINAL_ERRORS

    def refused(self, conn):
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "AssumeRole")

    monkeypatch.setattr("airflow.providers.postgres.hooks.postgres.PostgresHook.get_iam_token", refused)

    with pytest.raises(GitHubEtlError) as raised:
        _warehouse(monkeypatch, _iam_connection(pg_url)).connect()

    assert isinstance(raised.value, FINAL_ERRORS) is final
    assert ("the AWS connection 'aws_default'" in str(raised.value)) is final


def test_iam_authentication_the_database_refuses_fails_at_once_saying_what_iam_needs(
    aws_environment, monkeypatch, caplog
):
    """RDS refuses an IAM token it cannot accept (no rds_iam grant, no rds-db:connect, signed for another
    region) as PAM authentication: no retry can change it, and the login's password is not what to check."""
    from tests.fixtures.postgres import server_refusing_logins

    with server_refusing_logins('PAM authentication failed for user "github_etl"') as port:
        connection = _iam_connection(f"postgresql://github_etl@127.0.0.1:{port}/warehouse")
        with caplog.at_level(logging.WARNING), pytest.raises(WarehouseRejectedError) as raised:
            _warehouse(monkeypatch, connection).connect()

    message = str(raised.value)
    assert 'PAM authentication failed for user "github_etl"' in message
    assert "rds_iam" in message and "rds-db:connect" in message and "the AWS connection 'aws_default'" in message
    assert "(database, user, password)" not in message
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    assert "X-Amz-Signature" not in message + caplog.text


# -- a unix socket --------------------------------------------------------------------------------------
# Cloud SQL's Auth Proxy (and a sidecar or a local server) listens on a socket in a directory, which the
# connection names as its host: /cloudsql/PROJECT:REGION:INSTANCE.


@pytest.fixture
def short_tmp_path() -> Iterator[Path]:
    """A folder of the test's own whose path leaves room for a socket's (at most 107 bytes); pytest's is longer."""
    folder = Path(tempfile.mkdtemp(prefix="ge-sock-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cloud_sql_socket(tls_server, short_tmp_path) -> Path:
    """A directory named as Cloud SQL's Auth Proxy names its sockets, where the server's socket is found."""
    directory = short_tmp_path / "cloudsql" / "my-project:europe-west1:warehouse"
    directory.mkdir(parents=True)
    name = f".s.PGSQL.{tls_server.port}"
    (directory / name).symlink_to(tls_server.socket_dir / name)
    return directory


@pytest.mark.parametrize("form", ["json", "uri", "uri-query"])
def test_a_socket_directory_as_the_host_reaches_the_warehouse_and_names_it(
    tls_server, cloud_sql_socket, monkeypatch, form
):
    connection = {
        "json": {"conn_type": "postgres", "host": str(cloud_sql_socket), "port": tls_server.port, "login": "postgres"},
        # The whole directory percent-encoded as the URI's host, or given in its query.
        "uri": f"postgresql://postgres@{quote(str(cloud_sql_socket), safe='')}:{tls_server.port}/postgres",
        "uri-query": f"postgresql://postgres@/postgres?host={quote(str(cloud_sql_socket))}&port={tls_server.port}",
    }[form]

    with _warehouse(monkeypatch, connection) as db, db.cursor() as cur:
        cur.execute("SELECT inet_server_addr()")
        assert cur.fetchone()[0] is None, "a unix socket has no server address"
        assert db.where == f"{cloud_sql_socket}/.s.PGSQL.{tls_server.port} (database postgres)"


def test_a_socket_directory_without_a_server_is_named_as_a_socket(short_tmp_path, caplog):
    """The proxy not started yet: retried, as a server restarting is, and said as the socket it is."""
    from github_etl.errors import WarehouseUnavailableError

    directory = short_tmp_path / "cloudsql" / "my-project:europe-west1:warehouse"
    directory.mkdir(parents=True)
    db = DatabaseConnection(f"host={directory} dbname=warehouse user=github_etl", connect_retries=1, retry_delay=0.001)

    with caplog.at_level(logging.WARNING), pytest.raises(WarehouseUnavailableError) as raised:
        db.connect()

    assert f"the warehouse at {directory}/.s.PGSQL.5432 (database warehouse) after 2 attempts" in str(raised.value)
    assert "retrying" in caplog.text


def test_a_socket_path_too_long_for_the_system_fails_at_once(tmp_path, caplog):
    """A long instance name under a long folder: no retry makes the path shorter."""
    directory = tmp_path / "cloudsql" / ("my-project:europe-west1:" + "w" * 60)
    db = DatabaseConnection(f"host={directory} dbname=warehouse user=github_etl", connect_retries=3, retry_delay=0.001)

    with caplog.at_level(logging.WARNING), pytest.raises(WarehouseRejectedError) as raised:
        db.connect()

    message = str(raised.value)
    assert "is too long (maximum 107 bytes)" in message
    assert "Check the connection string: a shorter socket directory" in message
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_a_socket_directory_left_unencoded_in_a_uri_is_said_so(monkeypatch):
    """Its colons end the URI's host: Airflow cannot read it, and the password is not what to fix."""
    from github_etl.errors import WarehouseNotConfiguredError

    connection = "postgresql://github_etl@%2Fcloudsql%2Fmy-project:europe-west1:warehouse:5432/warehouse"

    with pytest.raises(WarehouseNotConfiguredError) as raised:
        _warehouse(monkeypatch, connection).connect()

    message = str(raised.value)
    assert "AIRFLOW_CONN_POSTGRES_DEFAULT" in message
    assert "socket directory" in message and "%3A" in message and "?host=" in message
