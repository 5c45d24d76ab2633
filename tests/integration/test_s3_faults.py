"""S3 staging as S3 fails: moto in server mode behind a proxy on 127.0.0.1 that answers chosen requests with S3's
errors (moto injects none)."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures.s3 import FAKE_AWS_KEY, STAGING_BUCKET, moto_client


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    size: int = 0


# A fault: (status, S3 error code, message) or None to forward the request to moto.
Fault = Callable[[Seen], "tuple[int, str, str] | None"]


@dataclass
class FaultyS3:
    """A reverse proxy in front of moto that answers chosen requests with an S3 error instead."""

    upstream: str
    fault: Fault | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self
        up = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), len(body))
                proxy.seen.append(seen)
                fault = proxy.fault(seen) if proxy.fault else None
                if fault is not None:
                    status, code, message = fault
                    payload = (
                        b""
                        if self.command == "HEAD"
                        else (
                            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                            f"<Message>{message}</Message><RequestId>faults</RequestId></Error>"
                        ).encode()
                    )
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")
                }
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(key, value)
                length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def faulty(s3_endpoint: str) -> Iterator[FaultyS3]:
    proxy = FaultyS3(s3_endpoint)
    yield proxy
    proxy.stop()


def _staging_url(endpoint: str, monkeypatch: pytest.MonkeyPatch, **extra) -> str:
    """A staging URL under a connection of its own (no cached file system of another test serves it)."""
    conn_id = f"aws_faults_{uuid.uuid4().hex[:8]}"
    connection = {
        "conn_type": "aws",
        "login": FAKE_AWS_KEY,
        "password": FAKE_AWS_KEY,
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1", **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return f"s3://{conn_id}@{STAGING_BUCKET}/faults-{uuid.uuid4().hex[:8]}"


def _key(url: str, *parts: str) -> str:
    return "/".join([urlsplit(url).path.lstrip("/"), *parts])


# -- expired credentials -----------------------------------------------------------------------------


def test_prepare_fails_at_once_naming_the_connection_when_its_session_token_has_expired(
    faulty: FaultyS3, monkeypatch
) -> None:
    """Temporary credentials (aws_session_token in the connection) past their expiry: S3 answers every request
    400 ExpiredToken, and a HEAD (the probe's first step, "look a file up") with no body, so botocore sees only
    "400 Bad Request", which s3fs made a bare ``OSError: [Errno 22] Bad Request``, retried, naming neither the
    store nor the connection."""
    from github_etl.errors import ConfigurationError
    from github_etl.staging import check_staging_root

    url = _staging_url(faulty.endpoint, monkeypatch, aws_session_token="FQoGZXIvYXdzEXAMPLE")
    conn_id = urlsplit(url).username
    faulty.fault = lambda seen: (400, "ExpiredToken", "The provided token has expired.")
    with pytest.raises(ConfigurationError, match=rf"staging store at .*{conn_id}") as refused:
        check_staging_root(url)
    assert "refused to look a file up as a bad request" in str(refused.value)
    assert "aws_session_token" in str(refused.value)


def test_a_task_whose_session_token_expired_fails_at_once_naming_the_connection(faulty: FaultyS3, monkeypatch) -> None:
    """The same past prepare: a task asking whether a checkpoint exists."""
    from github_etl.errors import FINAL_ERRORS, ConfigurationError
    from github_etl.staging import RunStaging, staged_files_of

    url = _staging_url(faulty.endpoint, monkeypatch, aws_session_token="FQoGZXIvYXdzEXAMPLE")
    staging = RunStaging("d", "r", root=url)
    faulty.fault = lambda seen: (400, "ExpiredToken", "The provided token has expired.")
    with pytest.raises(ConfigurationError, match=urlsplit(url).username) as refused, staged_files_of(staging):
        staging.exists("plan.json")
    assert isinstance(refused.value, FINAL_ERRORS)


# -- interrupted multipart upload ------------------------------------------------------------------


def test_an_upload_that_fails_mid_way_leaves_no_partial_object(faulty: FaultyS3, monkeypatch) -> None:
    """Every staged file appears whole or not at all. A file larger than s3fs's block size goes up in parts; when
    one part fails (500 InternalError until botocore's retries run out), the write raised, but closing the file
    completed the multipart upload with the parts sent so far, publishing a truncated object under its name.

    The block size is lowered to 5 MiB here to keep the file small; at the default 50 MiB the same happens to
    any file over ~112 MiB (a big shard's rows/<shard>.tsv)."""
    from github_etl.staging import RunStaging

    url = _staging_url(faulty.endpoint, monkeypatch)
    staging = RunStaging("d", "r", root=url)
    monkeypatch.setattr(staging.base.fs, "default_block_size", 5 * 2**20)
    attempts = {"n": 0}

    def fault(seen: Seen):
        if seen.method == "PUT" and seen.query.get("partNumber") == ["2"] and attempts["n"] < 5:
            attempts["n"] += 1
            return (500, "InternalError", "We encountered an internal error. Please try again.")
        return None

    faulty.fault = fault
    line = b"x" * 1023 + b"\n"
    whole = 20 * 2**20
    with contextlib.suppress(OSError), staging.writer("rows", "big.tsv", mode="wb") as out:
        for _ in range(whole // len(line)):
            out.write(line)
    s3 = moto_client("s3", faulty.upstream)
    listed = s3.list_objects_v2(Bucket=STAGING_BUCKET, Prefix=_key(url))
    sizes = [o["Size"] for o in listed.get("Contents", [])]
    assert sizes in ([], [whole]), f"a partial object was published: {sizes} bytes of {whole}"
