"""Where a run's files live in object storage, how they are named, and how they are written safely.

Layout under the staging root (``GITHUB_ETL_STAGING_URL``, e.g. ``s3://aws_default@bucket/prefix`` or a
local folder)::

    dag_id=<dag>/run_id=<run>/
        plan.json                         the shards the run was split into
        raw/<shard>/listing-<n>.json      listing pages, exactly as GitHub sent them
        raw/<shard>/repos-<n>.jsonl       full repository objects (REST) or GraphQL nodes
        raw/<shard>/done.json             the shard's counts; its presence means the shard is complete
        rows/<shard>.tsv                  typed rows, PostgreSQL COPY text format
        rejected/<shard>.jsonl            quarantined records with their reason

Every file appears whole or not at all (write to a temporary name, then rename; S3 objects appear only
when their upload completes), so a file that exists is a checkpoint a retried task can trust.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from github_etl.errors import ConfigurationError
from github_etl.settings import staging_url

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

# Upload buffer: large enough for throughput, small enough to keep memory flat.
COPY_CHUNK = 8 * 1024 * 1024
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]+")


def safe_key(value: str) -> str:
    """Turn a run id like ``manual__2026-11-01T00:00:00+00:00`` into a portable object-key segment."""
    # Leading dots go too, so no segment can read as "." or "..".
    return _UNSAFE_KEY_CHARS.sub("_", value).strip("._") or "_"


def storage_path(uri: str) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri)


class RunStaging:
    """The staging folder of one DAG run.

    :param dag_id: the DAG's id.
    :param run_id: the run's id; sanitised into a key segment.
    :param root: staging root URI; ``GITHUB_ETL_STAGING_URL`` or the project's ``.staging`` folder by default.
    """

    def __init__(self, dag_id: str, run_id: str, root: str | None = None) -> None:
        self.root_uri = (root or staging_url()).rstrip("/")
        self.base = storage_path(self.root_uri) / f"dag_id={safe_key(dag_id)}" / f"run_id={safe_key(run_id)}"

    def path(self, *parts: str) -> ObjectStoragePath:
        return self.base.joinpath(*parts)

    def uri(self, *parts: str) -> str:
        return str(self.path(*parts))

    def exists(self, *parts: str) -> bool:
        return self.path(*parts).exists()

    @contextmanager
    def writer(self, *parts: str, mode: str = "w") -> Iterator[IO[Any]]:
        """Open a file for writing that only appears under its name once closed without error."""
        target = self.path(*parts)
        yield from _atomic_open(target, mode)

    def write_json(self, obj: Any, *parts: str) -> str:
        with self.writer(*parts) as handle:
            # One write: json.dump's many small writes are slow through an object-storage file handle.
            handle.write(staged_json(obj))
        return self.uri(*parts)

    def read_json(self, *parts: str) -> Any:
        return read_json_uri(self.uri(*parts))


def check_staging_root(root: str | None = None) -> None:
    """Write and remove a probe file under the staging root; a store that refuses it is a configuration error.

    A bucket that does not exist, credentials the store rejects or a missing permission cannot be fixed by
    a retry, so they fail the run at once (before any GitHub request), naming the URL and its connection.
    A store that does not answer raises its own error and is retried like any transient fault.
    """
    root_uri = (root or staging_url()).rstrip("/")
    probe = storage_path(root_uri) / f".github-etl-probe-{uuid.uuid4().hex}"
    try:
        with contextmanager(_atomic_open)(probe, "wb") as handle:
            handle.write(b"")
        probe.unlink()
    except (FileNotFoundError, PermissionError) as exc:
        reason = "does not exist" if isinstance(exc, FileNotFoundError) else "refused access"
        conn_id = urlsplit(root_uri).username
        fix = "check GITHUB_ETL_STAGING_URL" + (f" and the connection {conn_id!r}" if conn_id else "")
        raise ConfigurationError(f"The staging store at {root_uri} {reason} ({exc}): {fix}.") from exc


def _is_local(target: ObjectStoragePath) -> bool:
    return target.protocol in ("file", "local", "")


def _atomic_open(target: ObjectStoragePath, mode: str) -> Iterator[IO[Any]]:
    text = "b" not in mode
    if not _is_local(target):
        # No mkdir: an object store has no folders, and making one under a bucket that does not exist
        # would create the bucket (s3fs), silently staging to a misspelt name.
        # An object store publishes whatever an interrupted upload had written so far, so the file is
        # written to a local temporary file first and uploaded only once it is complete.
        with tempfile.TemporaryFile(mode="w+b") as spool:
            handle = io.TextIOWrapper(spool, encoding="utf-8", newline="") if text else spool
            yield handle
            handle.flush()
            spool.seek(0)
            with target.open("wb") as upload:
                shutil.copyfileobj(spool, upload, COPY_CHUNK)
            if text:
                handle.detach()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # A local file is written with the operating system's own file object (each write through an
    # ObjectStoragePath handle costs microseconds of path bookkeeping), then renamed into place.
    final = Path(target.path)
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open(mode, encoding="utf-8") if text else temporary.open(mode) as handle:
            yield handle
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def staged_json(value: Any) -> str:
    """JSON as every staged file holds it: compact and ASCII only.

    ASCII escapes keep what GitHub sent byte-exact, lone surrogates included (not valid UTF-8).
    """
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def read_json_uri(uri: str) -> Any:
    with storage_path(uri).open("r", encoding="utf-8") as handle:
        return json.load(handle)


def iter_jsonl_uri(uri: str) -> Iterator[Any]:
    """Stream a JSON-lines file record by record, never holding the whole file."""
    with storage_path(uri).open("r", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
