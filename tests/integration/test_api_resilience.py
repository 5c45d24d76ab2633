"""The repository API when the warehouse around it misbehaves: slow to connect, stalled mid-request, refusing
the login; through Airflow's real API server app, whose other routes must keep answering."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio.to_thread
import psycopg2
import pytest
from psycopg2 import sql

from github_etl.api.config import ApiSettings
from tests.integration import test_api as api_tests
from tests.integration.test_api import PREFIX, _client, _insert, _plugin_app, _repo
from tools.waiting import poll

# The API tests' fixtures: the same Airflow app and login.
airflow_app, credentials, token = api_tests.airflow_app, api_tests.credentials, api_tests.token

pytestmark = pytest.mark.integration

# anyio's default number of worker threads per event loop, which Starlette's run_in_threadpool and every sync
# route of Airflow's API server (its REST API, its UI's API, the execution API of the workers) share.
ANYIO_THREADS = 40


class SilentWarehouse:
    """A TCP listener that accepts connections and never answers: libpq waits for its startup reply until
    connect_timeout, like a warehouse whose host is overloaded or a pooler whose server side is stuck."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._cond = threading.Condition()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._cond:
                if self._closed:
                    conn.close()
                    return
                self._accepted.append(conn)
                self._cond.notify_all()

    def wait_for(self, connections: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._accepted) >= connections, timeout)

    def close(self) -> None:
        """Closes every connection: the waits for the warehouse end at once."""
        with self._cond:
            self._closed = True
            accepted, self._accepted = self._accepted, []
        self._listener.close()
        for conn in accepted:
            conn.close()


class FreezableProxy:
    """A TCP proxy to the test's PostgreSQL that can stop relaying while its sockets stay open (a host frozen, a
    pooler stuck, a network path that stops delivering while the peer's kernel still acknowledges)."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._relaying = threading.Event()
        self._relaying.set()
        self._stop = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target_port))
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._stop.is_set():
                if not self._relaying.is_set():
                    # Frozen: bytes stay in the kernel's buffers, the sockets stay open.
                    self._relaying.wait(0.05)
                    continue
                ready, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def freeze(self) -> None:
        self._relaying.clear()

    def close(self) -> None:
        self._stop.set()
        self._relaying.set()
        self._listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _via_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Runs ``call`` in a thread of its own: a request that may hang must not hang the test."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.fixture
def api_settings(airflow_app: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[ApiSettings], None]:
    """Sets the API's settings as GITHUB_ETL_API_* would at the API server's start (read by the lifespan)."""
    state = _plugin_app(airflow_app).state
    return lambda settings: monkeypatch.setattr(state, "settings", settings)


def test_waiting_for_the_warehouse_leaves_airflow_s_own_routes_their_threads(
    airflow_app, token, api_settings, monkeypatch
):
    """Waits for a connection (acquire timeout) or for libpq's connect (connect timeout) on anyio's worker
    threads, which every sync route of Airflow's API server shares, would let forty requests to a slow warehouse
    freeze all of it: its REST API, the UI, the health check, the execution API the workers heartbeat through."""
    warehouse = SilentWarehouse()
    # Longer than the defaults only so that the test need not race them.
    api_settings(ApiSettings(pool_size=10, acquire_timeout=60, connect_timeout=60))
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", f"postgresql://reader:pw@127.0.0.1:{warehouse.port}/warehouse")
    try:
        with _client(airflow_app, token) as client:
            requests = [_in_thread(lambda: client.get(f"{PREFIX}/runs")) for _ in range(ANYIO_THREADS + 5)]
            assert warehouse.wait_for(10, timeout=30), "the pool never connected"

            async def borrowed() -> float:
                return anyio.to_thread.current_default_thread_limiter().borrowed_tokens

            # Every one of anyio's threads taken by the requests, or none.
            poll(
                lambda: client.portal.call(borrowed) in (0, ANYIO_THREADS),
                timeout=30,
                what="the requests to settle",
            )
            # Airflow's own health check: a sync route that touches no warehouse.
            health, outcome = _in_thread(lambda: client.get("/api/v2/monitor/health"))
            health.join(timeout=5)
            answered = not health.is_alive()

            warehouse.close()
            health.join(timeout=60)
            for thread, _ in requests:
                thread.join(timeout=60)
    finally:
        warehouse.close()

    assert answered, "/api/v2/monitor/health got no answer while the repository API waited for the warehouse"
    assert outcome[0].status_code == 200
    assert {response.status_code for _, [response] in requests} == {503}


def test_a_warehouse_that_stalls_mid_request_is_503_soon_after_the_statement_timeout(
    airflow_app, token, api_settings, pg_url, warehouse, monkeypatch
):
    """The statement timeout is the server's: a server or path that stops answering while the peer's kernel still
    acknowledges would leave the request waiting without limit, holding a connection and a thread."""
    _insert(warehouse, "repositories", _repo(1))
    proxy = FreezableProxy(urlsplit(pg_url).port or 5432)
    api_settings(ApiSettings(pool_size=2, acquire_timeout=1, connect_timeout=2, statement_timeout=1))
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", _via_port(pg_url, proxy.port))
    try:
        with _client(airflow_app, token) as client:
            assert client.get(f"{PREFIX}/runs").status_code == 200  # the pool holds a live connection

            proxy.freeze()
            request, outcome = _in_thread(lambda: client.get(f"{PREFIX}/runs"))
            # The statement timeout (1 s), the API's margin past it (2 s), and room to spare.
            request.join(timeout=10)
            finished = not request.is_alive()

            proxy.close()  # ends a request still hanging, so that the test does not
            request.join(timeout=60)
    finally:
        proxy.close()

    assert finished, "the request was still waiting 10 s after the warehouse stalled"
    assert outcome[0].status_code == 503
    assert outcome[0].json()["detail"] == (
        "The warehouse is unavailable: it stopped answering. The API server's log says why."
    )


def test_a_role_without_connect_on_the_database_is_a_refused_login(
    airflow_app, token, pg_url, warehouse, monkeypatch, caplog
):
    """A DBA who revoked CONNECT from PUBLIC and left out the reader's grant gets 'permission denied for database':
    a refusal that no retry mends, not a warehouse that cannot be reached."""
    database = urlsplit(pg_url).path.lstrip("/")
    role = f"reader_{database[-12:]}"
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            cur.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        parts = urlsplit(pg_url)
        reader_url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", reader_url)
        with _client(airflow_app, token) as client:
            response = client.get(f"{PREFIX}/runs")
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO PUBLIC").format(sql.Identifier(database)))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()

    assert response.status_code == 503
    assert response.json()["detail"] == (
        "The warehouse is unavailable: it refused the API server's login. The API server's log says why."
    )
    # The log says what to grant.
    assert f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"' in caplog.text
