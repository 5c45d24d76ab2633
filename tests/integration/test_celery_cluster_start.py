"""Starting a CeleryExecutor cluster: a broker that does not answer is refused at once, naming the broker; a secrets
backend of the user's own is kept."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tools.airflow_processes import free_port
from tools.celery_cluster import CeleryCluster, ClusterError, main, without_password

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# A cold start of the processes alone takes longer: the broker is asked before any of them starts.
REFUSED_WITHIN_SECONDS = 15


def _database_exists(server_url: str, database: str) -> bool:
    import psycopg2

    connection = psycopg2.connect(server_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            return cursor.fetchone() is not None
    finally:
        connection.close()


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_broker_that_does_not_answer_stops_the_start_before_anything_runs(pg_server_url: str, scheme: str) -> None:
    broker = f"{scheme}://guest:secret@127.0.0.1:{free_port()}/0"
    database = f"airflow_celery_{uuid.uuid4().hex[:8]}"
    # Dropped on stop only in case the start got as far as creating it.
    cluster = CeleryCluster(
        pg_server_url, broker_url=broker, workers=1, database=database, drop_database_on_stop=True, stop_timeout=1
    )
    started = time.monotonic()
    try:
        with pytest.raises(ClusterError, match=r"Celery broker at .*127\.0\.0\.1:\d+/0 cannot be reached") as raised:
            cluster.start()
        assert time.monotonic() - started < REFUSED_WITHIN_SECONDS
        assert not _database_exists(pg_server_url, database), "a metadata database for a cluster that cannot start"
        assert cluster.processes._processes == []
    finally:
        cluster.stop()
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("amqp://guest:p@ss/s3cret@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        ("redis://:ab/s3cret#x@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_a_printed_broker_url_never_shows_its_password(url: str, shown: str) -> None:
    """A password holding '/' as typed hides from a URL parser, which would hand the URL back whole."""
    assert without_password(url) == shown


def test_the_help_names_the_broker_of_the_environment_without_its_password(monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://:s3cret%2Fpass@cache:6379/1")
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "redis://:***@cache:6379/1" in shown and "s3cret" not in shown


@pytest.mark.parametrize("option", ["--workers", "--concurrency"])
def test_a_cluster_of_no_worker_or_slot_is_refused_with_a_usage_message(option: str, capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["up", option, "0"])
    assert refused.value.code == 2
    assert f"argument {option}: 0 is fewer than 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("backend", "kwargs"),
    [
        ("airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend", '{"connections_prefix": "etl"}'),
        ("airflow.secrets.local_filesystem.LocalFilesystemBackend", '{"connections_file_path": "/etc/etl/conns.json"}'),
    ],
)
def test_a_secrets_backend_of_the_users_own_is_kept(tmp_path, backend: str, kwargs: str) -> None:
    """Its connections are the cluster's: the start neither refuses it nor puts an empty file in its place."""
    import psycopg2

    broker = os.environ.get("GITHUB_ETL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    # A database server that does not answer ends the start after the home is prepared, before Airflow runs.
    cluster = CeleryCluster(
        f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        broker_url=broker,
        workers=1,
        home=tmp_path / "home",
        env={"AIRFLOW__SECRETS__BACKEND": backend, "AIRFLOW__SECRETS__BACKEND_KWARGS": kwargs},
        stop_timeout=1,
    )
    try:
        with pytest.raises(psycopg2.OperationalError):
            cluster.start()
    finally:
        cluster.stop()
    assert (cluster.env["AIRFLOW__SECRETS__BACKEND"], cluster.env["AIRFLOW__SECRETS__BACKEND_KWARGS"]) == (
        backend,
        kwargs,
    )
    with pytest.raises(ClusterError, match="a secrets backend of their own"):
        cluster.set_connections({})
