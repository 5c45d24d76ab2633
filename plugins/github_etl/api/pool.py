"""A small pool of warehouse connections for the API's request threads.

Opening a PostgreSQL connection forks a server process: several milliseconds of CPU per request on both
sides. The pool keeps up to ``pool_size`` :class:`~github_etl.hooks.warehouse.DatabaseConnection` objects
open, each prepared once for autocommit work; each statement the API begins outside a transaction runs as a
read-only transaction under the statement timeout (see :func:`_read_only_cursor`).

The routes go through :meth:`WarehousePool.read`: a request waits for a connection on the event loop and its
work runs on at most ``pool_size`` threads of the pool's own, never on the thread pool that every sync route of
Airflow's API server shares (its REST API, the UI's, the health check, the execution API of the workers), which a
slow or unreachable warehouse would otherwise fill.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from github_etl.api.config import ApiSettings
from github_etl.errors import WarehouseBusyError, WarehouseUnavailableError
from github_etl.hooks.warehouse import DatabaseConnection
from github_etl.settings import WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

log = logging.getLogger(__name__)

T = TypeVar("T")

APPLICATION_NAME = "github_etl_api"
# Errors by which psycopg2 reports a connection that is gone (server restart, network, idle timeout).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)
# Seconds past the statement timeout after which a request's work on a connection is taken for stalled: the
# server answers a statement it cancelled at once, so only a warehouse that stopped answering takes longer.
STALL_MARGIN = 2.0


class WarehouseStalledError(WarehouseUnavailableError):
    """The warehouse stopped answering in the middle of a request: its connection was broken and discarded."""


class WarehousePool:
    """Up to ``settings.pool_size`` warehouse connections shared by the threads of one process.

    :param settings: pool size, timeouts.
    :param dsn: connection string; the Airflow connection ``postgres_default`` when omitted.
    """

    def __init__(self, settings: ApiSettings, *, dsn: str | None = None) -> None:
        self._settings = settings
        self._dsn = dsn
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        # For read(): waiting there costs no thread, and the threads are the pool's own (see the module's doc).
        self._waiting = anyio.Semaphore(settings.pool_size)
        self._threads = anyio.CapacityLimiter(settings.pool_size)
        self._idle: list[_PooledConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._watchdog = _Watchdog()

    async def read(self, work: Callable[[DatabaseConnection], T]) -> T:
        """:meth:`run` ``work`` from a coroutine, in one of the pool's own threads (see the module's doc).

        :raises WarehouseBusyError: every connection stayed busy for the acquire timeout.
        """
        return await self.in_thread(self.run, work)

    async def in_thread(self, func: Callable[..., T], *args: Any) -> T:
        """Call ``func``, which uses at most one connection at a time, in one of the pool's own threads once a
        connection is free.

        :raises WarehouseBusyError: every connection stayed busy for the acquire timeout.
        """
        try:
            self._waiting.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.move_on_after(self._settings.acquire_timeout) as waited:
                await self._waiting.acquire()
            if waited.cancelled_caught:
                raise self._busy() from None
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self._threads)
        finally:
            self._waiting.release()

    def run(self, work: Callable[[DatabaseConnection], T]) -> T:
        """Run read-only ``work`` on a pooled connection.

        A pooled connection may have died while idle; that surfaces as a connection error on its first
        statement, and the work (a read) runs once more on a fresh connection.

        :param work: called with the connection; must only read.
        :raises WarehouseUnavailableError: no connection could be had, or it broke during the work.
        """
        if not self._slots.acquire(timeout=self._settings.acquire_timeout):
            raise self._busy()
        try:
            pooled = self._take()
            try:
                return pooled.run(work)
            finally:
                self._give_back(pooled)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for pooled in idle:
            pooled.close()
        self._watchdog.stop()

    def _busy(self) -> WarehouseBusyError:
        return WarehouseBusyError(
            f"all {self._settings.pool_size} connections stayed busy for {self._settings.acquire_timeout:g} s"
        )

    def _take(self) -> _PooledConnection:
        with self._lock:
            if self._idle:
                # Last in, first out: the most recently used connection is the one most likely alive.
                return self._idle.pop()
        db = DatabaseConnection(
            self._dsn,
            conn_id=WAREHOUSE_CONN_ID,
            connect_retries=0,
            connect_timeout=self._settings.connect_timeout,
            application_name=APPLICATION_NAME,
        )
        return _PooledConnection(
            db,
            statement_timeout_ms=round(self._settings.statement_timeout * 1000),
            watchdog=self._watchdog,
            deadline=self._settings.statement_timeout + STALL_MARGIN,
        )

    def _give_back(self, pooled: _PooledConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(pooled)
                return
        pooled.close()


class _PooledConnection:
    """A DatabaseConnection plus the psycopg2 connection it last prepared (autocommit, read-only, statement timeout,
    UTC).

    Each statement is its own transaction: a request's two statements may see two states of the warehouse,
    which a read of the latest load tolerates (paging by key is built for a list that changes).
    """

    def __init__(
        self, db: DatabaseConnection, *, statement_timeout_ms: int, watchdog: _Watchdog, deadline: float
    ) -> None:
        self._db = db
        self._statement_timeout_ms = statement_timeout_ms
        self._watchdog = watchdog
        self._deadline = deadline
        self._prepared: PgConnection | None = None

    def run(self, work: Callable[[DatabaseConnection], T]) -> T:
        for attempt in (1, 2):
            previous = self._prepared
            # Connects when needed, within connect_timeout; raises WarehouseUnavailableError when it cannot, or
            # when the connection is not defined.
            conn = self._db.connection
            # The statement timeout is the server's: a server, pooler or network path that stops answering
            # (its kernel still acknowledging, so keepalives see nothing) would leave libpq waiting for ever.
            watch = self._watchdog.arm(conn, self._deadline)
            try:
                self._prepare(conn)
                return work(self._db)
            except CONNECTION_ERRORS as exc:
                if self._watchdog.disarm(watch):
                    raise WarehouseStalledError(f"no answer within {self._deadline:g} s: {_first_line(exc)}") from exc
                if not conn.closed:
                    # The connection is fine, the statement failed (e.g. statement timeout): not retried.
                    raise WarehouseUnavailableError(_first_line(exc)) from exc
                self.close()
                if attempt == 1 and conn is previous:
                    log.info("Pooled warehouse connection was lost, retrying on a new one: %s", _first_line(exc))
                    continue
                raise WarehouseUnavailableError(f"the connection was lost: {_first_line(exc)}") from exc
            finally:
                if self._watchdog.disarm(watch):
                    # Broken by the watchdog: never given back to the pool as a live connection.
                    self.close()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def close(self) -> None:
        self._db.close()
        self._prepared = None

    def _prepare(self, conn: PgConnection) -> None:
        if conn is not self._prepared:
            # Autocommit: one round trip per statement, no BEGIN and no ROLLBACK around reads, and no
            # transaction left open between requests to hold back vacuum. UTC: every timestamp an answer
            # carries ends in Z, whatever the server's time zone.
            conn.autocommit = True
            # Read-only and the timeout are the transaction's own, never the session's: behind a transaction
            # pooler (PgBouncer) a session setting stays on the server connection, which the pooler hands
            # to the next client, a load of the same role included. TimeZone is one PgBouncer carries.
            conn.cursor_factory = _read_only_cursor(self._statement_timeout_ms)
            with conn.cursor() as cur:
                cur.execute("SET TimeZone = 'UTC'")
            self._prepared = conn


class _Watch:
    """A connection's socket (a duplicate of its descriptor) and the moment past which its work is stalled."""

    __slots__ = ("deadline", "fd", "fired")

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd = fd
        self.deadline = deadline
        self.fired = False


class _Watchdog:
    """One thread per pool that breaks the connection of work that outlived its deadline.

    Shutting the socket down from another thread ends libpq's wait at once in a connection error;
    ``connection.cancel()`` would itself wait for the peer that stopped answering. The socket is a duplicate of
    the connection's descriptor, closed when disarmed: the descriptor cannot be closed and reused for another
    socket under the watchdog.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[_Watch] = set()
        self._thread: threading.Thread | None = None
        self._wakes_at = float("inf")
        self._stopped = False

    def arm(self, conn: PgConnection, seconds: float) -> _Watch:
        watch = _Watch(os.dup(conn.fileno()), time.monotonic() + seconds)
        with self._cond:
            self._armed.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="github-etl-api-watchdog", daemon=True)
                self._thread.start()
            elif watch.deadline < self._wakes_at:
                self._cond.notify()
        return watch

    def disarm(self, watch: _Watch) -> bool:
        """Stop watching (again: a no-op); whether the deadline passed and the connection was broken."""
        with self._cond:
            if watch in self._armed:
                self._armed.discard(watch)
                os.close(watch.fd)
            return watch.fired

    def stop(self) -> None:
        """End the thread once the work it watches has ended."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _watch(self) -> None:
        with self._cond:
            while self._armed or not self._stopped:
                now = time.monotonic()
                for watch in [watch for watch in self._armed if watch.deadline <= now]:
                    self._armed.discard(watch)
                    watch.fired = True
                    log.warning("Breaking a warehouse connection that gave no answer in time")
                    with contextlib.suppress(OSError), socket.socket(fileno=watch.fd) as sock:
                        sock.shutdown(socket.SHUT_RDWR)
                self._wakes_at = min((watch.deadline for watch in self._armed), default=float("inf"))
                self._cond.wait(None if self._wakes_at == float("inf") else self._wakes_at - now)
            self._thread = None


@cache
def _read_only_cursor(statement_timeout_ms: int) -> type[psycopg2.extensions.cursor]:
    """A cursor class that runs each statement begun outside a transaction as a read-only transaction under
    the statement timeout, in the same round trip: the statements of one query string are one transaction,
    which the settings end with. An explicit transaction (``START TRANSACTION``) takes them from its first
    statement; the statements within it, its ``COMMIT`` or ``ROLLBACK`` included, are sent as they are.
    """
    prefix = f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}; SET TRANSACTION READ ONLY; "

    class ReadOnlyCursor(psycopg2.extensions.cursor):
        def execute(self, query: Any, vars: Any = None) -> None:
            if self.connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                text = query.as_string(self) if isinstance(query, sql.Composable) else query
                query = prefix + text if isinstance(text, str) else prefix.encode() + text
            super().execute(query, vars)

    return ReadOnlyCursor


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
