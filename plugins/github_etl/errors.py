"""Errors the pipeline raises on purpose, each saying what the user can do about it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime


class GitHubEtlError(Exception):
    """Base class of every error this package raises deliberately."""


class ConfigurationError(GitHubEtlError):
    """A connection, variable or parameter is missing or malformed."""


class GitHubError(GitHubEtlError):
    """GitHub answered with an error that retrying will not fix."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class BadCredentialsError(GitHubError):
    """401: the token is wrong, expired or revoked. Never retried."""


class ForbiddenError(GitHubError):
    """403 that is not a rate limit: the token lacks a permission. Never retried."""


class UntrustedCertificateError(GitHubError, ConfigurationError):
    """GitHub's TLS certificate is not one this machine trusts (a company's own CA not configured). Never retried."""


class ProxyAuthenticationError(GitHubError, ConfigurationError):
    """407: the HTTP proxy the environment names wants other credentials than its URL holds. Never retried."""


class LinkOutsideRootError(GitHubError, ConfigurationError):
    """GitHub (or a proxy in front of it) named a next page or redirect outside the API root; another try is
    handed the same link."""


class GraphQLSchemaError(GitHubError):
    """GitHub's GraphQL schema refused the query (a field an older GitHub Enterprise Server lacks). Never retried."""


class GitHubUnavailableError(GitHubError):
    """The API could not be reached or kept failing after the bounded retries."""


class RateLimitWaitTooLong(GitHubEtlError):
    """Every token is exhausted until ``resume_at``, later than the task may block a worker slot.

    Operators turn this into a deferral, so the wait happens in the triggerer instead of a worker.
    """

    def __init__(self, resume_at: datetime, resource: str) -> None:
        super().__init__(f"GitHub {resource} budget exhausted until {resume_at.isoformat()}")
        self.resume_at = resume_at
        self.resource = resource


class BudgetStoreUnavailableError(GitHubEtlError):
    """The shared budget store (``GITHUB_ETL_RATE_LIMIT_STORE``) did not answer; the task's retries may find it back."""


class SecretsBackendUnavailableError(GitHubEtlError):
    """The secrets backend could not be asked for a connection (unreachable, refused); the task's retries may find
    it back."""


class WarehouseError(GitHubEtlError):
    """Base class of warehouse errors."""


class WarehouseUnavailableError(WarehouseError):
    """The warehouse could not be reached after the bounded retries."""


class WarehouseBusyError(WarehouseUnavailableError):
    """Every pooled connection of the repository API stayed busy for the acquire timeout."""


class WarehouseRejectedError(WarehouseUnavailableError, ConfigurationError):
    """The warehouse answered and refused the connection for a reason only its configuration can change.

    A database or role that does not exist, a wrong password, no ``pg_hba.conf`` entry: no retry helps.
    """


class WarehouseNotConfiguredError(WarehouseUnavailableError, ConfigurationError):
    """The warehouse's Airflow connection is not defined in this Airflow, or cannot be read: no retry helps until
    someone fixes it."""


class WarehouseSqlNotFoundError(WarehouseError, ConfigurationError):
    """A warehouse SQL file is not in the folder ``GITHUB_ETL_SQL_DIR`` names (or the project's ``include/sql``)."""


class WarehouseSchemaError(WarehouseError, ConfigurationError):
    """The warehouse cannot hold what the DAG writes (a column its tables lack, a database not in UTF8): no
    retry helps until someone changes it."""


class WarehousePrivilegeError(WarehouseError, ConfigurationError):
    """The warehouse's role lacks a privilege the DAG needs: no retry helps until a DBA grants it."""


class DataQualityError(WarehouseError):
    """A data-quality check failed after a load: the committed data answer the same on every try."""


class StagingUnavailableError(GitHubEtlError):
    """The staging store did not answer (endpoint down or wrong, network): the task's retries may find it back."""


class StagingFullError(StagingUnavailableError):
    """A staged file could not be written: the disk under the staging folder (or the local temporary folder
    an upload, or the merge's changed line numbers, are spooled in) is full, over quota or read-only. Retried:
    files staged before stay checkpoints."""


class StagedFileGoneError(GitHubEtlError):
    """A staged file a task reads is not in the staging store: a lifecycle rule expired it, or it was deleted.

    Retrying the task cannot bring it back; only running again the tasks that write it can.
    """


class StagingCollisionError(ConfigurationError):
    """Another run of the same id (another Airflow with the same staging URL) staged its plan or shards in this
    run's folder: loading them as this run's would mix two plans."""


class StagedFileDamagedError(GitHubEtlError):
    """A staged file cannot be read (cut short, or changed after it was staged); another try reads the same bytes."""


class StagedFileFormatError(GitHubEtlError):
    """A staged row file has other columns than this version stages: another version of the transform wrote it."""


class WarehouseConnectionLostError(WarehouseUnavailableError):
    """The warehouse connection broke in the middle of a task (server restarted, session terminated, network
    cut): the server rolled back what was not committed; the task's retry runs it again."""


class DeletionGuardError(WarehouseError):
    """A run would mark more of the repositories it checked as deleted than the configured share.

    An outage or a token that lost access looks like mass deletion; nothing is marked, and the run
    fails for a person to look.
    """


class IncompleteRunError(GitHubEtlError):
    """A task was handed less of the run than it needs because a task before it was marked success or skipped
    without running: the load fewer shards than the run planned, or the report no committed load. Retrying gets
    the same; clearing the task that handed nothing on, with its downstream tasks, runs it."""


class StaleShardError(GitHubEtlError):
    """A run's shards were fetched further apart than a run may take (``GITHUB_ETL_RUN_DEADLINE_HOURS``).

    A run's observations are stored under one time, its earliest shard's start, so a shard fetched days after the
    others (its extract cleared, or the DAG unpaused, that late) would store that day's counts as seen on the first.
    No retry changes the staged times; fetching the earlier shards again does.
    """


# Errors that another try cannot fix: the task fails at once instead of burning its retries.
FINAL_ERRORS = (
    BadCredentialsError,
    ForbiddenError,
    GraphQLSchemaError,
    ConfigurationError,
    DataQualityError,
    DeletionGuardError,
    StagedFileGoneError,
    StagedFileDamagedError,
    StagedFileFormatError,
    IncompleteRunError,
    StaleShardError,
)


@contextmanager
def fail_fast_on_final_errors() -> Iterator[None]:
    """Turn a final error into Airflow's "fail without retrying", keeping the message and the cause."""
    try:
        yield
    except FINAL_ERRORS as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc
