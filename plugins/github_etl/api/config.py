"""The API's knobs, read from the environment once, when the app is created."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from github_etl.errors import ConfigurationError
from github_etl.settings import DAG_ID, float_env, int_env

DAG_ID_ENV = "GITHUB_ETL_API_DAG_ID"
# Airflow's own rule for a DAG id (``airflow.utils.helpers.validate_key``), for the setting and the API's parameter.
# The length apart: a bounded repetition of Unicode's word characters compiles past pydantic's regex size limit.
DAG_ID_PATTERN = r"^[\w.-]+$"
MAX_DAG_ID_LENGTH = 250


@dataclass(frozen=True)
class ApiSettings:
    """How the API uses the warehouse.

    :param pool_size: warehouse connections kept per API server process; requests beyond it wait for one.
    :param acquire_timeout: seconds a request waits for a free connection before answering 503.
    :param connect_timeout: seconds libpq waits to connect; the API does not retry, the client may.
    :param statement_timeout: seconds a query may run; every query here is index-driven and takes
        milliseconds, so reaching it means the warehouse is in trouble.
    :param auth_cache_seconds: seconds a bearer token that Airflow accepted is accepted again without
        asking Airflow (never past the token's expiry). Airflow's check, about a millisecond of CPU per
        request, is most of the cost of a cheap request; the price is that a token revoked by logging
        out still opens this API for up to this long. 0 asks Airflow on every request.
    :param page_cache_mb: megabytes of repository list pages kept per API server process, as sent,
        until a load changes the table (see :mod:`github_etl.api.page_cache`). 0 keeps none.
    :param dag_id: the DAG whose readers in Airflow may read the API and the insights page: a deployment whose
        harvests have other ids names one of them.
    """

    pool_size: int = 10
    acquire_timeout: float = 5.0
    connect_timeout: int = 5
    statement_timeout: float = 10.0
    auth_cache_seconds: float = 2.0
    page_cache_mb: float = 64.0
    dag_id: str = DAG_ID

    @classmethod
    def from_env(cls) -> ApiSettings:
        """Settings from ``GITHUB_ETL_API_*`` variables, defaults for those unset."""
        return cls(
            pool_size=int_env("GITHUB_ETL_API_POOL_SIZE", cls.pool_size, minimum=1),
            acquire_timeout=float_env("GITHUB_ETL_API_ACQUIRE_TIMEOUT", cls.acquire_timeout, minimum=0.0),
            connect_timeout=int_env("GITHUB_ETL_API_CONNECT_TIMEOUT", cls.connect_timeout, minimum=1),
            statement_timeout=float_env("GITHUB_ETL_API_STATEMENT_TIMEOUT", cls.statement_timeout, minimum=0.001),
            auth_cache_seconds=float_env("GITHUB_ETL_API_AUTH_CACHE_SECONDS", cls.auth_cache_seconds, minimum=0.0),
            page_cache_mb=float_env("GITHUB_ETL_API_PAGE_CACHE_MB", cls.page_cache_mb, minimum=0.0),
            dag_id=_dag_id_env(),
        )


def _dag_id_env() -> str:
    raw = os.environ.get(DAG_ID_ENV, "").strip()
    if not raw:
        return DAG_ID
    if len(raw) > MAX_DAG_ID_LENGTH or not re.fullmatch(DAG_ID_PATTERN, raw):
        raise ConfigurationError(
            f"{DAG_ID_ENV} must be a DAG id (letters, digits, '_', '.' and '-', at most 250), got {raw!r}"
        )
    return raw
