"""A cheap closed-loop HTTP/1.1 load generator: asyncio, raw sockets, keep-alive, one request in flight per connection.

The benchmarks share their machine with the server under test, so every CPU cycle the load generator
spends is taken from the server. ``requests`` in threads costs about a millisecond of CPU per request;
this client writes request bytes built once, reads the status line and headers, skips the body by its
``Content-Length`` (or its chunks), and takes a timestamp before and after: a few microseconds per
request, under uvloop when it is installed.

``path`` may be a sequence of paths: the requests then take them in turn, across all connections, so a
long enough sequence makes every request a different one (what a cache of answers cannot help with).

Connections open one after another, each once the previous one has its first answer, as clients arrive
at a server that is already working. Opened in one burst, they would all be accepted by whichever worker
process of a multi-process server (``airflow api-server --workers``) woke up first, leaving the others idle.

Each of ``connections`` connections sends its next request as soon as the previous answer is complete
(a closed loop: the offered load adapts to the server, and by Little's law requests/s * mean latency =
connections). A non-2xx answer counts as an error, and the first such body is kept for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Latencies are kept whole for exact percentiles: 8 bytes a request, a few MB for a long run.
MAX_ERROR_BODY = 2_000
CONNECT_TIMEOUT = 10.0


@dataclass
class LoadResult:
    """What a run measured.

    :param latencies: seconds per successful or failed request, in completion order.
    :param errors: non-2xx answers plus requests lost to a broken connection.
    :param elapsed: seconds from the start of the measuring window to the last request's completion.
    :param first_error: status line and start of the body of the first error, or the exception's text.
    """

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    first_error: str | None = None

    def summary(self) -> dict[str, Any]:
        """``{"requests", "errors", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "first_error"}``."""
        samples = sorted(self.latencies)
        return {
            "requests": len(samples),
            "errors": self.errors,
            "rps": round(len(samples) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": percentile_ms(samples, 50),
            "p95_ms": percentile_ms(samples, 95),
            "p99_ms": percentile_ms(samples, 99),
            "max_ms": round(samples[-1] * 1000, 2) if samples else None,
            "first_error": self.first_error,
        }


def percentile_ms(sorted_samples: list[float], percent: float) -> float | None:
    """The ``percent`` percentile (nearest rank) of sorted seconds, in milliseconds.

    :param sorted_samples: latencies in seconds, ascending.
    :param percent: 0 to 100.
    """
    if not sorted_samples:
        return None
    index = min(len(sorted_samples) - 1, round(percent / 100 * (len(sorted_samples) - 1)))
    return round(sorted_samples[index] * 1000, 2)


def build_request(host: str, port: int, path: str, headers: Mapping[str, str] | None = None) -> bytes:
    """The bytes of a keep-alive ``GET path``, sent as they are for every request.

    :param host: server host, for the Host header.
    :param port: server port.
    :param path: path and query string.
    :param headers: extra headers, e.g. ``Authorization``.
    """
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Discard:
    """A list that keeps nothing: where warm-up latencies go."""

    def append(self, _value: float) -> None:
        pass


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 this client understands."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response; its status, its body (only kept when not 2xx) and whether the server keeps the connection.

    :param reader: the connection's stream.
    :raises asyncio.IncompleteReadError: the server closed the connection mid-answer.
    :raises ProtocolError: neither Content-Length nor chunked framing.
    """
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    try:
        status = int(status_line.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise ProtocolError(f"bad status line {status_line[:100]!r}") from None
    length = None
    chunked = False
    keep_alive = not status_line.startswith(b"HTTP/1.0")
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = b"close" not in value.lower()
    keep = not 200 <= status < 300
    if chunked:
        body = await _read_chunked(reader, keep)
    elif length is not None:
        body = await reader.readexactly(length)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        raise ProtocolError("response without Content-Length or chunked encoding")
    return status, body if keep else b"", keep_alive


async def _read_chunked(reader: asyncio.StreamReader, keep: bool) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            # Trailers, if any, end with an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        chunk = await reader.readexactly(size + 2)
        if keep:
            parts.append(chunk[:-2])


def _request_source(
    host: str, port: int, path: str | Sequence[str], headers: Mapping[str, str] | None
) -> Callable[[], bytes]:
    """The bytes of each next request: the same prebuilt bytes for one path, the next path's otherwise."""
    if isinstance(path, str):
        request = build_request(host, port, path, headers)
        return lambda: request
    paths = path
    if not paths:
        raise ValueError("no path to request")
    counter = iter(range(2**63))

    def next_request() -> bytes:
        return build_request(host, port, paths[next(counter) % len(paths)], headers)

    return next_request


async def _connection_loop(
    host: str,
    port: int,
    next_request: Callable[[], bytes],
    window: tuple[float, float],
    turn: tuple[asyncio.Event, asyncio.Event],
    result: LoadResult,
) -> None:
    perf_counter = time.perf_counter
    measure_from, stop_at = window
    latencies = result.latencies
    warm = _Discard()
    reader = writer = None
    # Opened once the previous connection has its first answer, and opening the next one after its own.
    my_turn, next_turn = turn
    await my_turn.wait()
    try:
        while perf_counter() < stop_at:
            if writer is None:
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
                except (OSError, TimeoutError) as exc:
                    # Nothing to measure on this connection; the others go on.
                    result.errors += 1
                    result.first_error = result.first_error or f"cannot connect: {type(exc).__name__}: {exc}"
                    return
            request = next_request()
            began = perf_counter()
            # Requests begun during the warm-up are made but not counted.
            target = latencies if began >= measure_from else warm
            try:
                writer.write(request)
                status, body, keep_alive = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ProtocolError, asyncio.LimitOverrunError) as exc:
                target.append(perf_counter() - began)
                result.errors += target is latencies
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                writer.close()
                reader = writer = None
                continue
            target.append(perf_counter() - began)
            next_turn.set()
            if not 200 <= status < 300:
                result.errors += target is latencies
                if result.first_error is None:
                    result.first_error = f"HTTP {status}: {body[:MAX_ERROR_BODY].decode('utf-8', 'replace')}"
            if not keep_alive:
                writer.close()
                reader = writer = None
    finally:
        next_turn.set()  # also when this connection could not connect or the run ended before its answer
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


async def run_load_async(
    host: str,
    port: int,
    path: str | Sequence[str],
    *,
    connections: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    warmup: float = 0.0,
) -> LoadResult:
    """``connections`` closed-loop connections calling ``GET path`` for ``seconds``; see :func:`run_load`."""
    next_request = _request_source(host, port, path, headers)
    result = LoadResult()
    turns = [asyncio.Event() for _ in range(connections + 1)]
    began = time.perf_counter() + warmup
    window = (began, began + seconds)
    tasks = [
        asyncio.create_task(_connection_loop(host, port, next_request, window, (turns[i], turns[i + 1]), result))
        for i in range(connections)
    ]
    turns[0].set()
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    result.elapsed = time.perf_counter() - began
    return result


def run_load(
    host: str,
    port: int,
    path: str | Sequence[str],
    *,
    connections: int,
    seconds: float,
    headers: Mapping[str, str] | None = None,
    warmup: float = 0.0,
) -> LoadResult:
    """Measure ``GET path`` under ``connections`` closed-loop keep-alive connections for ``seconds``.

    Runs its own event loop (uvloop's when installed), so call it from synchronous code.

    :param host: server address.
    :param port: server port.
    :param path: path and query string, or a sequence of them taken in turn by successive requests.
    :param connections: concurrent connections, each with one request in flight.
    :param seconds: measuring window; requests in flight at its end complete and count.
    :param headers: extra request headers.
    :param warmup: seconds the same connections run before the window opens, uncounted: connections are
        open and the server's caches warm when measuring starts.
    """
    coroutine = run_load_async(
        host, port, path, connections=connections, seconds=seconds, headers=headers, warmup=warmup
    )
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)
