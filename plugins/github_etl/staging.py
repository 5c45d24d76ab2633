"""Where a run's files live in object storage, how they are named, and how they are written safely.

Layout under the staging root (``GITHUB_ETL_STAGING_URL``, e.g. ``s3://aws_default@bucket/prefix`` or a
local folder)::

    dag_id=<dag>/run_id=<run>/
        plan.json                         the shards the run was split into
        params.json                       the params they were planned for
        raw/<shard>/listing-<n>.json.gz   listing pages, exactly as GitHub sent them (gzip)
        raw/<shard>/repos-<n>.json.gz     full repository objects (REST) or GraphQL nodes (gzip)
        raw/<shard>/done.json             the shard's counts; its presence means the shard is complete
        rows/<shard>.tsv                  typed rows, PostgreSQL COPY text format
        rejected/<shard>.jsonl            quarantined records with their reason

GitHub's pages are most of a run's files, and their JSON repeats the same URLs for every repository:
gzip stores them in about a tenth of the bytes for a millisecond of CPU per page. A name ending in
``.gz`` is what makes :meth:`RunStaging.write_json` and :func:`read_json_uri` compress.

Every file appears whole or not at all (write to a temporary name, then rename; S3 objects appear only
when their upload completes), so a file that exists is a checkpoint a retried task can trust.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import logging
import os
import re
import shutil
import ssl
import tempfile
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from github_etl.errors import (
    ConfigurationError,
    StagedFileDamagedError,
    StagedFileGoneError,
    StagingCollisionError,
    StagingFullError,
    StagingUnavailableError,
)
from github_etl.hooks.env_connection import unreadable_connection, where_to_define
from github_etl.settings import staging_url

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

# The amazon provider's hooks and operators take this connection when none is named.
DEFAULT_AWS_CONN_ID = "aws_default"
S3_SCHEMES = ("s3", "s3a", "s3n")
# What each step of the staging probe asks of S3, for the error when it is refused.
S3_PERMISSIONS = {
    "look a file up": "s3:ListBucket on the bucket",
    "write a file": "s3:PutObject under the prefix, and a bucket policy that does not demand an encryption header",
    "read a file": "s3:GetObject under the prefix",
}
# Upload buffer: large enough for throughput, small enough to keep memory flat.
COPY_CHUNK = 8 * 1024 * 1024
GZIP_SUFFIX = ".gz"
# Level 1 compresses GitHub's pages within a few percent of level 9's size at a fifth of its CPU.
RAW_COMPRESSLEVEL = 1
# Write errors of a disk that a retry succeeds on once someone frees space or remounts it, and how to say so.
_DISK_STATES = {errno.ENOSPC: "full", errno.EDQUOT: "over its quota", errno.EROFS: "read-only"}
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]+")


def safe_key(value: str) -> str:
    """Turn a run id like ``manual__2026-11-01T00:00:00+00:00`` into a portable object-key segment."""
    # Leading dots go too, so no segment can read as "." or "..".
    return _UNSAFE_KEY_CHARS.sub("_", value).strip("._") or "_"


def storage_path(uri: str) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    if urlsplit(uri).scheme in S3_SCHEMES:
        _mask_secrets(tuple(os.environ.get(name, "").strip() for name in AWS_ENVIRONMENT_SECRETS))
    return ObjectStoragePath(uri)


# The S3 credentials boto3 takes from the environment (an aws_default without keys): Airflow masks a connection's
# only, and botocore's DEBUG lines quote the session token of every request.
AWS_ENVIRONMENT_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@cache
def _mask_secrets(values: tuple[str, ...]) -> None:
    """Tell the log masker of each value, once per process and set of values."""
    from airflow.sdk.log import mask_secret

    for value in filter(None, values):
        mask_secret(value)


class RunStaging:
    """The staging folder of one DAG run.

    :param dag_id: the DAG's id.
    :param run_id: the run's id; sanitised into a key segment.
    :param root: staging root URI; ``GITHUB_ETL_STAGING_URL`` or the project's ``.staging`` folder by default.
    """

    def __init__(self, dag_id: str, run_id: str, root: str | None = None) -> None:
        self.run_id = run_id
        self.root_uri = staging_root(root)
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
        """Stage ``obj`` as JSON, gzip-compressed when the file's name ends in ``.gz``; returns its URI."""
        compressed = parts[-1].endswith(GZIP_SUFFIX)
        with self.writer(*parts, mode="wb" if compressed else "w") as handle:
            # One write: json.dump's many small writes are slow through an object-storage file handle.
            text = staged_json(obj)
            handle.write(gzip.compress(text.encode("ascii"), RAW_COMPRESSLEVEL, mtime=0) if compressed else text)
        return self.uri(*parts)

    def read_json(self, *parts: str) -> Any:
        return read_json_uri(self.uri(*parts))


def staging_root(root: str | None = None) -> str:
    """The staging root URI: ``root`` or ``GITHUB_ETL_STAGING_URL``, an ``s3://`` one without a connection given
    ``aws_default``.

    An ``ObjectStoragePath`` without a connection uses boto3's own chain alone and ignores the connection that
    holds the endpoint of an S3-compatible store; the amazon provider's hooks take ``aws_default`` when none is
    named, and fall back to boto3's chain (environment, ``AWS_PROFILE``, an instance role) when it is not defined.
    """
    uri = (root or staging_url()).rstrip("/")
    parts = urlsplit(uri)
    if parts.scheme == "file":
        # file:///srv/my%20staging names /srv/my staging, as a URL does; the store would keep the escapes in the name.
        return f"file://{unquote(parts.path)}"
    if parts.scheme in S3_SCHEMES and "@" not in parts.netloc:
        return parts._replace(netloc=f"{DEFAULT_AWS_CONN_ID}@{parts.netloc}").geturl()
    return uri


def check_staging_root(root: str | None = None) -> None:
    """Check that the staging root takes a run's files: look a probe file up, write it, read it and remove it.

    A connection that is not defined, a bucket that does not exist, credentials the store rejects or a missing
    permission cannot be fixed by a retry, so they fail the run at once (before any GitHub request), naming the
    URL, its connection and what was refused. A store that does not answer raises
    :class:`~github_etl.errors.StagingUnavailableError`, which the task's retries repeat.
    """
    from botocore.exceptions import (
        EndpointConnectionError,
        ParamValidationError,
        ProfileNotFound,
        ProxyConnectionError,
        SSLError,
    )

    from github_etl.github.session import untrusted_certificate

    root_uri = staging_root(root)
    conn_id = urlsplit(root_uri).username
    if conn_id:
        _check_connection(conn_id)
    fix = "check GITHUB_ETL_STAGING_URL" + (f" and the connection {conn_id!r}" if conn_id else "")
    probe = storage_path(root_uri) / f".github-etl-probe-{uuid.uuid4().hex}"
    step = "look a file up"
    try:
        # Tasks ask whether each checkpoint exists: without s3:ListBucket, S3 answers that with a refusal.
        probe.exists()
        step = "write a file"
        with contextmanager(_atomic_open)(probe, "wb") as handle:
            handle.write(b"")
        step = "read a file"
        probe.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(f"The staging store at {root_uri} does not exist ({exc}): {fix}.") from exc
    except PermissionError as exc:
        why = f"refused to {step} ({exc})"
        if probe.protocol in S3_SCHEMES:
            why += f"; this needs {S3_PERMISSIONS[step]}"
            if getattr(probe.fs, "anon", False):
                why += (
                    "; no credentials were found (none in the connection, nor AWS_ACCESS_KEY_ID, AWS_PROFILE "
                    "or an instance role for boto3), so the request was anonymous"
                )
        raise ConfigurationError(f"The staging store at {root_uri} {why}: {fix}.") from exc
    except SSLError as exc:
        if (refused := untrusted_certificate(exc)) is None:
            raise
        raise ConfigurationError(_untrusted_store(root_uri, probe, refused)) from exc
    except ProxyConnectionError as exc:
        # botocore's message shows the proxy's URL with its credentials as ***.
        proxy = _proxy_of(probe) or "the proxy"
        raise StagingUnavailableError(
            f"The staging store at {root_uri} could not be reached through {proxy} ({exc}): check that "
            "the proxy is up, or add the store's host to NO_PROXY if it is reached directly (a VPC endpoint)."
        ) from exc
    except OSError as exc:
        if _bad_request(exc):
            raise ConfigurationError(f"The staging store at {root_uri} {_refused_as_bad(step, exc)}: {fix}.") from exc
        # s3fs turns a proxy's 407 into an OSError quoting it; only the proxy's URL can answer it.
        if "(407)" not in str(exc):
            raise
        raise ConfigurationError(
            f"The staging store at {root_uri} cannot be reached: {_proxy_of(probe) or 'the proxy'} answered 407 Proxy "
            "Authentication Required. Put the proxy's user and password in that variable wherever the tasks run, "
            "as http://USER:PASSWORD@PROXY:PORT (characters such as @ : / # percent-encoded), or add the store's "
            "host to NO_PROXY if it is reached directly."
        ) from exc
    except EndpointConnectionError as exc:
        where = f"the endpoint_url of the connection {conn_id!r}" if conn_id else "GITHUB_ETL_STAGING_URL"
        raise StagingUnavailableError(
            f"The staging store at {root_uri} did not answer ({exc}): check {where}, and that the store is up "
            "and reachable from here."
        ) from exc
    except ParamValidationError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigurationError(f"The staging store at {root_uri} cannot be named so ({reason}): {fix}.") from exc
    except ProfileNotFound as exc:
        raise ConfigurationError(
            f"The staging store at {root_uri} cannot be reached: {exc} (AWS_PROFILE, or 'profile_name' in the "
            f"extra of the connection {conn_id!r}, names a profile that is not in the AWS config files)."
        ) from exc
    _remove_probe(probe)


def _untrusted_store(root_uri: str, probe: ObjectStoragePath, refused: ssl.CertificateError) -> str:
    """Why the store's certificate was refused and the variable to fix: botocore's, not the GitHub requests' one."""
    trusted = f"AWS_CA_BUNDLE={os.environ['AWS_CA_BUNDLE']}" if os.environ.get("AWS_CA_BUNDLE") else "certifi's bundle"
    reason = getattr(refused, "verify_message", None) or refused
    message = (
        f"The TLS certificate of the staging store at {root_uri} is not trusted here ({reason}; trusting "
        f"{trusted}). S3 staging trusts the PEM file AWS_CA_BUNDLE names (REQUESTS_CA_BUNDLE only without a "
        "proxy, SSL_CERT_FILE never): set it to the company CA's file wherever the tasks run."
    )
    if proxy := _proxy_of(probe):
        message += (
            f" Requests to it go through {proxy}: a proxy that inspects TLS presents certificates of its own CA, "
            "which that file needs too."
        )
    return message + " Retrying cannot fix this."


def _proxy_of(probe: ObjectStoragePath) -> str | None:
    """The proxy (and its variable) botocore goes through to the store of ``probe``, its password as ``***``;
    None when the environment names none for it."""
    from github_etl.github.session import proxy_of

    fs = probe.fs
    endpoint = getattr(fs, "endpoint_url", None) or (getattr(fs, "client_kwargs", None) or {}).get("endpoint_url")
    return proxy_of(endpoint or "https://s3.amazonaws.com")


def _check_connection(conn_id: str) -> None:
    """Fail when the staging URL names a connection Airflow does not have, or one whose endpoint the amazon
    provider would ignore, instead of reaching AWS's S3 without it."""
    from airflow.sdk import BaseHook

    from github_etl.airflow_version import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        unreadable = unreadable_connection(conn_id)
        if unreadable is not None:
            raise unreadable from None
        if conn_id != DEFAULT_AWS_CONN_ID:
            raise ConfigurationError(
                f"The connection {conn_id!r} that GITHUB_ETL_STAGING_URL names is not defined: define it "
                f"({where_to_define(conn_id)}, type aws) or name {DEFAULT_AWS_CONN_ID!r}."
            ) from None
        return
    extra = connection.extra_dejson or {}
    s3_config = (extra.get("service_config") or {}).get("s3") or {}
    # An aws connection's host is never read (aws://KEY:SECRET@minio:9000 looks as if it named the store).
    if connection.host and not (extra.get("endpoint_url") or s3_config.get("endpoint_url")):
        raise ConfigurationError(
            f"The connection {conn_id!r} has the host {connection.host!r}, which the amazon provider ignores: "
            'put the S3-compatible store\'s address in its extra as "endpoint_url" (http://host:port) and leave '
            "the host empty."
        )


def _remove_probe(probe: ObjectStoragePath) -> None:
    try:
        # One delete of one file: s3fs's bulk delete, behind unlink(), does not report a refusal.
        probe.fs.rm_file(probe.path)
    except PermissionError as exc:
        log.warning(
            "The staging store refused to delete the probe file %s (%s): it stays; runs delete no other file.",
            probe,
            exc,
        )


@contextmanager
def staged_files_of(staging: RunStaging) -> Iterator[None]:
    """Turn a staged file that is not there into a final error saying why it may be gone and how to stage the
    run's files again: no retry of the task that reads it brings it back."""
    try:
        yield
    except FileNotFoundError as exc:
        if _is_local(staging.base):
            why = (
                "it was deleted, or the task that staged it ran on another machine, whose folder this is not "
                "(workers on several machines need a shared GITHUB_ETL_STAGING_URL, such as s3://bucket/prefix)"
            )
        else:
            why = "a lifecycle rule on GITHUB_ETL_STAGING_URL expired it, or it was deleted"
        raise StagedFileGoneError(
            f"A staged file of run {staging.run_id} is not in the staging store ({exc}): {why}. Retrying this "
            f"task cannot bring it back: {stage_again(staging)}"
        ) from exc
    except StagedFileDamagedError as exc:
        raise StagedFileDamagedError(
            f"{exc}. Retrying this task reads it again as it is: {stage_again(staging)}"
        ) from exc
    except PermissionError as exc:
        # prepare's probe passed on its worker: this one's user, credentials or role differ, or a policy changed.
        if _is_local(staging.base):
            fix = "check that this worker's user may read and write that folder"
        else:
            conn_id = urlsplit(str(staging.base)).username
            fix = (
                f"check the credentials this worker uses for GITHUB_ETL_STAGING_URL"
                f"{f' (the connection {conn_id!r})' if conn_id else ''}: a run's tasks list, read and write its "
                "files (s3:ListBucket, s3:GetObject, s3:PutObject)"
            )
        raise ConfigurationError(
            f"The staging store refused this task at {run_folder(staging)} ({exc}): {fix}"
        ) from exc
    except OSError as exc:
        if not _bad_request(exc):
            raise
        conn_id = urlsplit(str(staging.base)).username
        whose = f" (the connection {conn_id!r})" if conn_id else ""
        raise ConfigurationError(
            f"The staging store at {run_folder(staging)} {_refused_as_bad('look a file up', exc)}: renew the "
            f"credentials this worker uses for GITHUB_ETL_STAGING_URL{whose}"
        ) from exc


def _bad_request(exc: OSError) -> bool:
    """Whether S3 answered 400: s3fs makes an ``EINVAL`` of a HEAD's bare 400 (no body, so no error code) and of
    ``InvalidToken``. No retry sends a request S3 takes."""
    response = getattr(exc.__cause__, "response", None) or {}
    return exc.errno == errno.EINVAL and response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 400


def _refused_as_bad(step: str, exc: OSError) -> str:
    return (
        f"refused to {step} as a bad request ({exc}): temporary credentials past their expiry (an "
        "aws_session_token or AWS_SESSION_TOKEN) are answered so, as is a request signed for another region"
    )


def stage_again(staging: RunStaging) -> str:
    """How to stage a run again whose files are partly gone."""
    return (
        f"delete what is left of the run's folder {run_folder(staging)} (a cleared run reuses every file still "
        "there, the plan and the summary of a shard whose pages are gone too), then clear the run's plan task with "
        "its downstream tasks (the run then fetches from GitHub again, dated the day it does); or trigger a new run."
    )


def collision(staging: RunStaging, what: str) -> StagingCollisionError:
    """The error of a run that finds another run of its id staging in its folder: what it found, why, the fix."""
    return StagingCollisionError(
        f"Run {staging.run_id} found another run of the same id staging in its folder {run_folder(staging)}: "
        f"{what}. Two Airflows run this DAG with the same GITHUB_ETL_STAGING_URL (blue/green deployments, or a "
        "development Airflow pointed at this store), and each would load the other's files as its own. Give each "
        "Airflow its own GITHUB_ETL_STAGING_URL (s3://bucket/blue, s3://bucket/green), or pause the DAG in all but "
        "one; then clear this run's plan task with its downstream tasks "
        "(docs/deploy-kubernetes.md#two-airflows-one-staging-store)."
    )


def run_folder(staging: RunStaging) -> str:
    """Where a run's files are, as its store's own tools name it: a local path, or ``s3://bucket/...`` without
    the connection id that ``GITHUB_ETL_STAGING_URL`` may carry."""
    if _is_local(staging.base):
        return staging.base.path
    return staging.base.fs.unstrip_protocol(staging.base.path)


def _is_local(target: ObjectStoragePath) -> bool:
    return target.protocol in ("file", "local", "")


def _atomic_open(target: ObjectStoragePath, mode: str) -> Iterator[IO[Any]]:
    try:
        yield from _atomic_open_unchecked(target, mode)
    except OSError as exc:
        state = _DISK_STATES.get(exc.errno)
        if state is None:
            raise
        resumes = (
            "the task's retry (or clearing the task once its retries ran out) resumes from the files staged before; "
            "a file cut short is never used"
        )
        if not _is_local(target):
            raise temporary_folder_full(exc, f"Cannot stage {target}", "where uploads are spooled", resumes) from exc
        free = "Remount it read-write" if exc.errno == errno.EROFS else "Free space there"
        raise StagingFullError(
            f"Cannot stage {target}: the disk under the staging folder {Path(target.path).parent} is {state} "
            f"({exc.strerror}). {free}, or point GITHUB_ETL_STAGING_URL at a writable folder with room: {resumes}."
        ) from exc


def temporary_folder_full(exc: OSError, doing: str, why_there: str, then: str) -> StagingFullError:
    """The error of a full (or read-only) local temporary folder, naming it and ``TMPDIR``.

    :param doing: what could not be done, a sentence's start ("Cannot stage s3://...").
    :param why_there: what the task keeps in that folder.
    :param then: what the task's retry does once there is room.
    """
    free = "Remount it read-write" if exc.errno == errno.EROFS else "Free space there"
    return StagingFullError(
        f"{doing}: the local temporary folder {tempfile.gettempdir()}, {why_there}, is "
        f"{_DISK_STATES.get(exc.errno, 'unwritable')} ({exc.strerror}). {free}, or set TMPDIR to a writable folder "
        f"with room: {then}."
    )


def is_disk_full(exc: OSError) -> bool:
    """Whether ``exc`` says a disk is full, over its quota or read-only."""
    return exc.errno in _DISK_STATES


def _atomic_open_unchecked(target: ObjectStoragePath, mode: str) -> Iterator[IO[Any]]:
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
            # The file system's own file, not the path's lineage-tracking wrapper: only it can be abandoned.
            upload = target.fs.open(target.path, "wb")
            try:
                shutil.copyfileobj(spool, upload, COPY_CHUNK)
                upload.close()
            except BaseException:
                # Closing would publish what was sent so far: a multipart upload's parts, or a small file's buffer.
                with contextlib.suppress(Exception):
                    upload.discard()
                upload.closed = True
                raise
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
    """A staged JSON file's value (decompressed when its name ends in ``.gz``).

    :raises StagedFileDamagedError: the file is cut short or is not the JSON it was staged as.
    """
    try:
        if uri.endswith(GZIP_SUFFIX):
            with storage_path(uri).open("rb") as handle:
                return json.loads(gzip.decompress(handle.read()))
        with storage_path(uri).open("r", encoding="utf-8") as handle:
            return json.load(handle)
    except (EOFError, gzip.BadGzipFile, zlib.error, ValueError) as exc:
        raise _damaged(uri, exc) from exc


def iter_jsonl_uri(uri: str) -> Iterator[Any]:
    """Stream a JSON-lines file record by record, never holding the whole file.

    :raises StagedFileDamagedError: a line is cut short or is not JSON.
    """
    with storage_path(uri).open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise _damaged(f"{uri} (line {number})", exc) from exc


def _damaged(where: str, exc: Exception) -> StagedFileDamagedError:
    return StagedFileDamagedError(
        f"The staged file {where} cannot be read ({type(exc).__name__}: {str(exc)[:200]}): it was cut short or "
        "changed after it was staged"
    )
