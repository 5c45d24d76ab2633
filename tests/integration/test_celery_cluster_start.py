"""Starting a CeleryExecutor cluster whose broker does not answer: refused at once, naming the broker."""

from __future__ import annotations

import time
import uuid

import pytest

from tools.airflow_processes import free_port
from tools.celery_cluster import CeleryCluster, ClusterError

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
