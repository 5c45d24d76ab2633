"""Every knob the pipeline reads from the environment, with its default, in one place.

The README's configuration table is generated from nothing: keep it in step with this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from github_etl.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

GITHUB_CONN_ID = "github_default"
WAREHOUSE_CONN_ID = "postgres_default"
GITHUB_API_POOL = "github_api"
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


def _int_env(name: str, default: int, *, minimum: int = 0) -> int:
    return int(float_env(name, default, minimum=minimum))


def run_deadline_hours() -> float:
    """How long a run may take, for the budget check in ``plan``: a daily run should end before the next starts."""
    return float_env("GITHUB_ETL_RUN_DEADLINE_HOURS", 24.0, minimum=0.01)


def max_deleted_share() -> float:
    """The largest share of the repositories a run checked that it may mark deleted (the deletion guard)."""
    share = float_env("GITHUB_ETL_MAX_DELETED_SHARE", 0.05)
    if share > 1:
        raise ConfigurationError(f"GITHUB_ETL_MAX_DELETED_SHARE is a share between 0 and 1, got {share}")
    return share


def staging_url() -> str:
    """Root of the staging area: ``GITHUB_ETL_STAGING_URL`` or a folder inside the project."""
    configured = os.environ.get("GITHUB_ETL_STAGING_URL", "").strip()
    if configured:
        return configured
    return (PROJECT_ROOT / ".staging").as_uri()


def sql_dir() -> Path:
    """Folder of the warehouse SQL files (``GITHUB_ETL_SQL_DIR`` overrides the project's ``include/sql``)."""
    configured = os.environ.get("GITHUB_ETL_SQL_DIR", "").strip()
    return Path(configured) if configured else PROJECT_ROOT / "include" / "sql" / "github_repositories"


@dataclass(frozen=True)
class ClientSettings:
    """How patient the GitHub client is. Tests shrink the waits here, never in the code that waits.

    :param connect_timeout: seconds to open a TCP/TLS connection.
    :param read_timeout: seconds to wait for response bytes; GitHub's slow pages take up to ~10 s.
    :param max_retries: retries of one request on transient faults (5xx, resets, timeouts, bad bodies).
    :param backoff_base: first backoff in seconds; doubles on each retry, with full jitter.
    :param backoff_max: cap of one backoff.
    :param secondary_min_wait: wait after a secondary rate limit without ``Retry-After``; GitHub asks for a minute.
    :param secondary_max_tries: secondary-limit answers tolerated for one request before giving up.
    :param max_inline_wait: longest rate-limit wait done inside a worker slot; longer waits defer the task.
    :param reset_jitter: up to this many seconds added after a reset, so workers do not stampede together.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    secondary_min_wait: float = 60.0
    secondary_max_tries: int = 5
    max_inline_wait: float = 300.0
    reset_jitter: float = 3.0
    user_agent: str = "github-etl/0.1"

    @classmethod
    def from_env(cls) -> ClientSettings:
        return cls(
            connect_timeout=float_env("GITHUB_ETL_CONNECT_TIMEOUT", cls.connect_timeout, minimum=0.01),
            read_timeout=float_env("GITHUB_ETL_READ_TIMEOUT", cls.read_timeout, minimum=0.01),
            max_retries=_int_env("GITHUB_ETL_MAX_RETRIES", cls.max_retries),
            backoff_base=float_env("GITHUB_ETL_BACKOFF_BASE", cls.backoff_base),
            backoff_max=float_env("GITHUB_ETL_BACKOFF_MAX", cls.backoff_max),
            secondary_min_wait=float_env("GITHUB_ETL_SECONDARY_MIN_WAIT", cls.secondary_min_wait),
            secondary_max_tries=_int_env("GITHUB_ETL_SECONDARY_MAX_TRIES", cls.secondary_max_tries, minimum=1),
            max_inline_wait=float_env("GITHUB_ETL_MAX_RATE_LIMIT_WAIT", cls.max_inline_wait),
            reset_jitter=float_env("GITHUB_ETL_RESET_JITTER", cls.reset_jitter),
        )
