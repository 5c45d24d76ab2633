"""A real HTTP server on 127.0.0.1 whose answers a test scripts, for replies the fake GitHub never gives.

The fake GitHub (:mod:`tests.fake_github`) speaks the API as GitHub does, faults included; a test of what a
broken proxy or a misbehaving GitHub could send (a page of the wrong shape, a ``Link`` back to an earlier
page) scripts those answers here instead, over a real socket, so the client's whole transport runs::

    server.get("/orgs/acme/repos", json=[...], headers={"Link": "..."})
    server.route("POST", "/graphql", callback)   # callback(request) -> (status, headers, body text)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass(frozen=True)
class ScriptedRequest:
    """What the server received: ``url`` as the client asked for it, ``params`` its query, ``body`` its text."""

    method: str
    url: str
    params: dict[str, str]
    body: str
    headers: dict[str, str]


Reply = tuple[int, dict[str, str], str]


@dataclass
class _Route:
    method: str
    path: re.Pattern[str]
    answer: Callable[[ScriptedRequest], Reply]
    calls: list[ScriptedRequest] = field(default_factory=list)

    @property
    def call_count(self) -> int:
        return len(self.calls)


class ScriptedServer:
    """Routes (method and a path, or a compiled pattern of one) to scripted answers; 404 for the rest."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                request = ScriptedRequest(
                    method, server.base_url + self.path, dict(parse_qsl(parts.query)), body, dict(self.headers)
                )
                status, headers, text = server._reply(method, parts.path, request)
                payload = text.encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                """Quiet: the test asserts on calls, not on access logs."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def route(self, method: str, path: str | re.Pattern[str], answer: Callable[[ScriptedRequest], Reply]) -> _Route:
        pattern = path if isinstance(path, re.Pattern) else re.compile(re.escape(path))
        route = _Route(method, pattern, answer)
        self._routes.append(route)
        return route

    def get(self, path: str | re.Pattern[str], *, json: Any, headers: dict[str, str] | None = None) -> _Route:
        return self.route("GET", path, _fixed(json, headers))

    def post(self, path: str | re.Pattern[str], *, json: Any, headers: dict[str, str] | None = None) -> _Route:
        return self.route("POST", path, _fixed(json, headers))

    def _reply(self, method: str, path: str, request: ScriptedRequest) -> Reply:
        for route in self._routes:
            if route.method == method and route.path.fullmatch(path):
                route.calls.append(request)
                return route.answer(request)
        return 404, {}, '{"message": "Not Found"}'

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _fixed(body: Any, headers: dict[str, str] | None) -> Callable[[ScriptedRequest], Reply]:
    text = json.dumps(body)
    return lambda _request: (200, dict(headers or {}), text)


def _serving() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def scripted_github() -> Iterator[ScriptedServer]:
    yield from _serving()


@pytest.fixture
def other_host() -> Iterator[ScriptedServer]:
    """A second server: another origin (its port differs) that must never receive the client's token."""
    yield from _serving()
