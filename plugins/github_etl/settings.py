"""Every knob the pipeline reads from the environment, with its default, in one place.

The README's configuration table is generated from nothing: keep it in step with this module.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from github_etl.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DAG_ID = "github_repositories"
GITHUB_CONN_ID = "github_default"
WAREHOUSE_CONN_ID = "postgres_default"
GITHUB_API_POOL = "github_api"
POOL_DESCRIPTION = "Concurrent GitHub API tasks (github_etl)"
POOL_SLOTS_ENV = "GITHUB_ETL_POOL_SLOTS"
# Tasks calling GitHub at once across the whole Airflow: a token allows ~100 concurrent requests, but few is safest.
DEFAULT_POOL_SLOTS = 4
# The DAG's SQL files, in the folder named after it (include/sql/<dag_id>).
DEFAULT_SQL_DIR = PROJECT_ROOT / "include" / "sql" / DAG_ID
DEFAULT_API_URL = "https://api.github.com"
# Airflow's own version header value that pins the REST schema we parse.
GITHUB_API_VERSION = "2022-11-28"


def float_env(name: str, default: float, *, minimum: float = 0.0) -> float:
    """A number from the environment, ``default`` when unset or blank; a clear error when malformed."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    # float() reads "nan" and "inf" too; NaN compares false with everything, so it would pass every bound.
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def bool_env(name: str, default: bool) -> bool:
    """A flag from the environment (``true``/``false``, ``1``/``0``, ``yes``/``no``), ``default`` when unset."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def int_env(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number from the environment (``1e3`` too), ``default`` when unset or blank; ``2.5`` is refused."""
    value = float_env(name, default, minimum=minimum)
    if not float(value).is_integer():
        raise ConfigurationError(f"{name} must be a whole number, got {os.environ[name]!r}")
    return int(value)


# "false" leaves the DAG's late-run alert out (github_etl.alerts.late_run_alert).
DEADLINE_ALERT_ENV = "GITHUB_ETL_RUN_DEADLINE_ALERT"
# A century: the deadline must stay a date Airflow can store once added to a run's start.
MAX_RUN_DEADLINE_HOURS = 876_000


def run_deadline_hours() -> float:
    """How long a run may take, for the budget check in ``plan``: a daily run should end before the next starts."""
    hours = float_env("GITHUB_ETL_RUN_DEADLINE_HOURS", 24.0, minimum=0.01)
    if hours > MAX_RUN_DEADLINE_HOURS:
        # Airflow adds the deadline to a run's queued time: past year 9999 no run of the DAG could be created.
        raise ConfigurationError(
            f"GITHUB_ETL_RUN_DEADLINE_HOURS must be at most {MAX_RUN_DEADLINE_HOURS:,} (a century), got "
            f"{os.environ['GITHUB_ETL_RUN_DEADLINE_HOURS']!r}; for no late-run alert, set {DEADLINE_ALERT_ENV}=false"
        )
    return hours


def github_api_pool_slots() -> int:
    """Slots of the ``github_api`` pool that the local commands create (``make run``, ``make airflow``)."""
    return int_env(POOL_SLOTS_ENV, DEFAULT_POOL_SLOTS, minimum=1)


def max_deleted_share() -> float:
    """The largest share of the repositories a run checked that it may mark deleted (the deletion guard)."""
    share = float_env("GITHUB_ETL_MAX_DELETED_SHARE", 0.05)
    if share > 1:
        raise ConfigurationError(f"GITHUB_ETL_MAX_DELETED_SHARE is a share between 0 and 1, got {share}")
    return share


def check_settings() -> None:
    """Read every setting a run's tasks read, so that a malformed one fails the run's first task, before any
    GitHub request, instead of the task that reads it after the extract has spent its quota."""
    # Imported here: alerts builds on these settings. A notifier that cannot be built would otherwise surface
    # only when a run fails or is late, and that alert would be lost.
    from github_etl.alerts import configured_notifier

    run_deadline_hours()
    max_deleted_share()
    staging_url()
    ClientSettings.from_env()
    configured_notifier()


def staging_url() -> str:
    """Root of the staging area: ``GITHUB_ETL_STAGING_URL`` or a folder inside the project."""
    configured = os.environ.get("GITHUB_ETL_STAGING_URL", "").strip()
    if not configured:
        # Not Path.as_uri(): the store would take its escapes (%20 for a space) as part of the folder's name.
        return f"file://{PROJECT_ROOT / '.staging'}"
    # Keys written before the @ (Hadoop's s3a://KEY:SECRET@bucket) would be read as a connection id and ride in
    # every staged file's URI (XCom, the task log, lineage): refused first, as every later message quotes the URL.
    if ":" in configured.split("://", 1)[-1].rpartition("@")[0]:
        raise ConfigurationError(
            "GITHUB_ETL_STAGING_URL holds a password (key:secret@): put the keys in an Airflow connection of "
            "type aws and name only the connection, s3://<aws_conn_id>@bucket/prefix"
        )
    # A relative folder would be each process's own: a task would not find what the one before it staged.
    if "://" not in configured and not configured.startswith("/"):
        raise ConfigurationError(
            f"GITHUB_ETL_STAGING_URL must be a URL (s3://aws_default@bucket/prefix, file:///srv/staging) or an "
            f"absolute folder, got {configured!r}: a relative one depends on each process's working directory"
        )
    parts = urlsplit(configured)
    if parts.scheme == "file" and (parts.netloc not in ("", "localhost") or not parts.path.startswith("/")):
        # file://staging names the host "staging" and no folder: each process's working directory, again.
        raise ConfigurationError(
            f"GITHUB_ETL_STAGING_URL must name an absolute folder after file:// (file:///srv/staging, three "
            f"slashes), got {configured!r}"
        )
    # Other stores (gs://, abfs://) would fail in prepare with fsspec's own import or lookup error, after
    # retries; the S3 protocol reaches MinIO, Ceph, R2 and the like through aws_default's endpoint_url.
    if parts.scheme not in ("", "file", "s3", "s3a", "s3n"):
        raise ConfigurationError(
            f"GITHUB_ETL_STAGING_URL names a store of scheme {parts.scheme!r}, which staging does not support: "
            "use s3://<aws_conn_id>@bucket/prefix (any S3-compatible store, through the connection's endpoint_url), "
            "a file:// URL or an absolute folder"
        )
    if parts.scheme in ("s3", "s3a", "s3n") and not parts.hostname:
        raise ConfigurationError(
            f"GITHUB_ETL_STAGING_URL names no bucket, got {configured!r}: s3://bucket/prefix or "
            "s3://<aws_conn_id>@bucket/prefix"
        )
    return configured


def sql_dir() -> Path:
    """Folder of the warehouse SQL files (``GITHUB_ETL_SQL_DIR`` overrides the project's ``include/sql``)."""
    configured = os.environ.get("GITHUB_ETL_SQL_DIR", "").strip()
    return Path(configured) if configured else DEFAULT_SQL_DIR


QUOTA_RESERVE_ENV = "GITHUB_ETL_QUOTA_RESERVE"
# GitHub's rate-limited resources a reserve can name.
RESERVE_RESOURCES = ("core", "search", "graphql")


@dataclass(frozen=True)
class QuotaReserve:
    """The part of each token's budget a run leaves unspent, so tools sharing the token are not starved.

    Each amount is a share of the limit (``0.1`` for ``10%``) or, when 1 or more, a count of requests
    (points for GraphQL). A reserve never keeps a whole limit: at least one request per window stays usable.

    :param default: the amount for every resource not in ``per_resource``.
    :param per_resource: ``(resource, amount)`` pairs for ``core``, ``search`` or ``graphql`` alone.
    """

    default: float = 0.10
    # Pairs rather than a dict, so the settings stay hashable like every other field.
    per_resource: tuple[tuple[str, float], ...] = ()

    def amount(self, resource: str) -> float:
        return dict(self.per_resource).get(resource, self.default)

    def kept(self, resource: str, limit: int | None) -> int:
        """Requests of ``limit`` the run leaves unspent for ``resource`` (0 while the limit is unknown)."""
        if not limit or limit <= 1:
            return 0
        amount = self.amount(resource)
        # Rounded first: 2.8 % of 5,000 is 139.99999999999997 in floating point, and keeps 140.
        kept = math.floor(round(limit * amount, 6)) if amount < 1 else int(amount)
        return max(0, min(kept, limit - 1))

    def describe(self, resource: str) -> str:
        amount = self.amount(resource)
        return f"{amount * 100:g}% of the limit" if amount < 1 else f"{int(amount)} of the limit"

    @classmethod
    def parse(cls, raw: str) -> QuotaReserve:
        """Read ``10%``, ``500``, or per resource ``core=500,search=10%,graphql=5%`` (unnamed: the default 10%)."""
        default = cls.default
        per_resource: dict[str, float] = {}
        seen: set[str] = set()
        previous = ""
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            if re.fullmatch(r"\d{3}", part) and previous[-1:].isdigit():
                # core=2,500: a thousands separator would make it core=2 and a default of 500 for the others.
                raise ConfigurationError(
                    f"{QUOTA_RESERVE_ENV}={raw!r} reads as a count with a thousands separator; write a count "
                    "without thousands separators (1000), and each resource once (core=500,search=10%)"
                )
            previous = part
            name, _, value = part.rpartition("=")
            name = name.strip().lower()
            if name and name not in RESERVE_RESOURCES:
                raise ConfigurationError(
                    f"{QUOTA_RESERVE_ENV}: unknown resource {name!r}; expected one of {', '.join(RESERVE_RESOURCES)}"
                )
            amount = _reserve_amount(value.strip(), raw)
            # "1,000" would otherwise be two amounts, the later ("000") silently winning.
            if (name or "the default") in seen:
                raise ConfigurationError(
                    f"{QUOTA_RESERVE_ENV}={raw!r} gives {name or 'an unnamed amount'} twice; write a count without "
                    "thousands separators (1000), and each resource once (core=500,search=10%)"
                )
            seen.add(name or "the default")
            if name:
                per_resource[name] = amount
            else:
                default = amount
        return cls(default=default, per_resource=tuple(sorted(per_resource.items())))

    @classmethod
    def from_env(cls) -> QuotaReserve:
        raw = os.environ.get(QUOTA_RESERVE_ENV, "").strip()
        return cls.parse(raw) if raw else cls()


def _reserve_amount(value: str, raw: str) -> float:
    try:
        if value.endswith("%"):
            share = float(value[:-1]) / 100
            if not 0 <= share < 1:
                raise ValueError
            return share
        count = int(value)
        if count < 0:
            raise ValueError
        # A count of 0 is no reserve; 1 and more are requests.
        return float(count)
    except ValueError:
        raise ConfigurationError(
            f"{QUOTA_RESERVE_ENV} must be a share below 100% (e.g. 10%) or a count of requests (e.g. 500), "
            f"optionally per resource (core=500,search=10%); got {raw!r}"
        ) from None


@dataclass(frozen=True)
class ClientSettings:
    """How patient the GitHub client is. Tests shrink the waits here, never in the code that waits.

    :param connect_timeout: seconds to open a TCP/TLS connection.
    :param read_timeout: seconds to wait for response bytes; GitHub's slow pages take up to ~10 s.
    :param answer_deadline: seconds for a whole answer, headers to last byte: a body trickling in, each piece
        within the read timeout, is given up then and retried. Four read timeouts when read from the environment.
    :param max_retries: retries of one request on transient faults (5xx, resets, timeouts, bad bodies).
    :param backoff_base: first backoff in seconds; doubles on each retry, with full jitter.
    :param backoff_max: cap of one backoff.
    :param secondary_min_wait: wait after a secondary rate limit without ``Retry-After``; GitHub asks for a minute.
    :param secondary_max_tries: secondary-limit answers tolerated for one request before giving up.
    :param max_inline_wait: longest rate-limit wait done inside a worker slot; longer waits defer the task.
    :param reset_jitter: up to this many seconds added after a reset, so workers do not stampede together.
    :param quota_reserve: the part of each token's budget left unspent; the run waits for the reset below it.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    answer_deadline: float = 120.0
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    secondary_min_wait: float = 60.0
    secondary_max_tries: int = 5
    max_inline_wait: float = 300.0
    reset_jitter: float = 3.0
    user_agent: str = "github-etl/0.1"
    quota_reserve: QuotaReserve = field(default_factory=QuotaReserve)

    @classmethod
    def from_env(cls) -> ClientSettings:
        read_timeout = float_env("GITHUB_ETL_READ_TIMEOUT", cls.read_timeout, minimum=0.01)
        return cls(
            connect_timeout=float_env("GITHUB_ETL_CONNECT_TIMEOUT", cls.connect_timeout, minimum=0.01),
            read_timeout=read_timeout,
            answer_deadline=4 * read_timeout,
            max_retries=int_env("GITHUB_ETL_MAX_RETRIES", cls.max_retries),
            backoff_base=float_env("GITHUB_ETL_BACKOFF_BASE", cls.backoff_base),
            backoff_max=float_env("GITHUB_ETL_BACKOFF_MAX", cls.backoff_max),
            secondary_min_wait=float_env("GITHUB_ETL_SECONDARY_MIN_WAIT", cls.secondary_min_wait),
            secondary_max_tries=int_env("GITHUB_ETL_SECONDARY_MAX_TRIES", cls.secondary_max_tries, minimum=1),
            max_inline_wait=float_env("GITHUB_ETL_MAX_RATE_LIMIT_WAIT", cls.max_inline_wait),
            reset_jitter=float_env("GITHUB_ETL_RESET_JITTER", cls.reset_jitter),
            quota_reserve=QuotaReserve.from_env(),
        )
