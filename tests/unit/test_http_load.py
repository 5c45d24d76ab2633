"""The benchmarks' HTTP load generator against a tiny local HTTP/1.1 server: framing, errors, keep-alive."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.http_load import build_request, percentile_ms, run_load

SECONDS = 0.3


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests_seen: list[tuple[str, str | None]] = []
    # (accepted at, first answer begun at) per connection.
    connections_seen: list[tuple[float, float]] = []
    lock = threading.Lock()

    def setup(self) -> None:
        self.accepted_at = time.perf_counter()
        self.answered = False
        super().setup()

    def do_GET(self) -> None:
        with self.lock:
            self.requests_seen.append((self.path, self.headers.get("Authorization")))
            if not self.answered:
                self.answered = True
                self.connections_seen.append((self.accepted_at, time.perf_counter()))
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"a":', b" 1}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        status, body = (500, b'{"detail": "boom"}') if self.path == "/fail" else (200, b'{"count": 3}')
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    _Handler.requests_seen = []
    _Handler.connections_seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("path", ["/count", "/chunked", "/close"])
def test_measures_successful_requests_with_the_headers_given(server, path):
    result = run_load("127.0.0.1", server, path, connections=3, seconds=SECONDS, headers={"Authorization": "Bearer t"})

    summary = result.summary()
    assert summary["errors"] == 0, summary["first_error"]
    assert summary["requests"] >= 3
    assert summary["requests"] == len(_Handler.requests_seen)
    assert set(_Handler.requests_seen) == {(path, "Bearer t")}
    assert summary["rps"] > 0
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] <= summary["max_ms"]


def test_non_2xx_answers_are_errors_and_the_first_body_is_kept(server):
    summary = run_load("127.0.0.1", server, "/fail", connections=2, seconds=SECONDS).summary()

    assert summary["requests"] >= 2
    assert summary["errors"] == summary["requests"]
    assert summary["first_error"] == 'HTTP 500: {"detail": "boom"}'


def test_a_server_that_is_not_listening_is_an_error_not_a_crash():
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]
    summary = run_load("127.0.0.1", port, "/", connections=2, seconds=SECONDS).summary()

    assert summary["requests"] == 0
    assert summary["errors"] == 2
    assert summary["first_error"].startswith("cannot connect")


def test_request_bytes_are_a_keep_alive_get_with_the_extra_headers():
    request = build_request("127.0.0.1", 8080, "/a?b=1", {"Authorization": "Bearer x"})

    assert request == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\nConnection: keep-alive\r\n"
        b"Authorization: Bearer x\r\n\r\n"
    )


def test_percentiles_are_nearest_rank():
    samples = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms

    assert percentile_ms(samples, 50) == 51.0
    assert percentile_ms(samples, 95) == 95.0
    assert percentile_ms(samples, 100) == 100.0
    assert percentile_ms([], 50) is None


def test_requests_of_the_warm_up_are_made_but_not_counted(server):
    summary = run_load("127.0.0.1", server, "/count", connections=2, seconds=SECONDS, warmup=SECONDS).summary()

    assert summary["errors"] == 0, summary["first_error"]
    assert 0 < summary["requests"] < len(_Handler.requests_seen)


def test_a_sequence_of_paths_is_requested_in_turn_across_connections(server):
    paths = [f"/count?page={i}" for i in range(100_000)]

    result = run_load("127.0.0.1", server, paths, connections=3, seconds=SECONDS)

    seen = [path for path, _ in _Handler.requests_seen]
    assert result.errors == 0
    assert len(seen) == len(set(seen)) > 3  # every request a different one
    assert sorted(seen, key=lambda p: int(p.split("=")[1])) == paths[: len(seen)]


def test_an_empty_sequence_of_paths_is_refused(server):
    with pytest.raises(ValueError, match="no path"):
        run_load("127.0.0.1", server, [], connections=1, seconds=SECONDS)


def test_each_connection_opens_once_the_previous_one_has_its_first_answer(server):
    # Opened in one burst, every connection would be accepted before the first answer.
    run_load("127.0.0.1", server, "/count", connections=5, seconds=SECONDS)

    connections = sorted(_Handler.connections_seen)
    assert len(connections) == 5
    for (_, previous_answered), (accepted, _) in itertools.pairwise(connections):
        assert accepted > previous_answered
