"""A whole run of the DAG's task functions in this process, without Airflow: plan, extract, transform, load.

Each step is the function the task calls, in the task's order, over the same staging; so a test can
stop a run between two steps (or inside a shard) and start it again, as a killed worker would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

from github_etl.extract.plan import plan_run, run_shard
from github_etl.github.client import GitHubClient
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from github_etl.params import validate
from github_etl.settings import DAG_ID, WAREHOUSE_CONN_ID, ClientSettings
from github_etl.staging import RunStaging
from github_etl.tasks import LoadedRun, TransformResult, load_run_task, transform_shard

# What a repository row says about GitHub, without the bookkeeping that depends on when a run ran.
COMPARED_COLUMNS = (
    "id, full_name, owner_login, description, language, topics, stargazers_count, forks_count, "
    "open_issues_count, fork, archived, created_at, pushed_at, deleted_at"
)
# Retries without the waits a real deployment wants.
FAST = ClientSettings(backoff_base=0.01, backoff_max=0.02, secondary_min_wait=0.01, reset_jitter=0.01, read_timeout=5)


def run_pipeline(
    base_url: str,
    token: str | None,
    params: dict[str, Any],
    *,
    pg_url: str,
    staging_url: str,
    run_id: str,
    logical_date: datetime,
    client_factory: Callable[[], GitHubClient] | None = None,
    dag_id: str = DAG_ID,
) -> LoadedRun:
    """Run one DAG run's tasks in order; returns what the load task returns."""
    transformed = stage_run(
        base_url,
        token,
        params,
        pg_url=pg_url,
        staging_url=staging_url,
        run_id=run_id,
        logical_date=logical_date,
        client_factory=client_factory,
        dag_id=dag_id,
    )
    return load_staged(
        transformed, pg_url=pg_url, staging_url=staging_url, run_id=run_id, logical_date=logical_date, dag_id=dag_id
    )


def stage_run(
    base_url: str,
    token: str | None,
    params: dict[str, Any],
    *,
    pg_url: str,
    staging_url: str,
    run_id: str,
    logical_date: datetime,
    client_factory: Callable[[], GitHubClient] | None = None,
    dag_id: str = DAG_ID,
) -> list[TransformResult]:
    """Run a DAG run's tasks up to its load (prepare, plan, extract, transform); returns the transform results."""
    client = client_factory() if client_factory else GitHubClient(base_url, [token] if token else [], settings=FAST)
    staging = RunStaging(dag_id, run_id, root=staging_url)

    def warehouse() -> DatabaseConnection:
        return DatabaseConnection(pg_url, connect_retries=0)

    # The prepare task's part: the schema, before the plan reads the census's cursor.
    with warehouse() as db:
        apply_schema(db)
    try:
        plan = plan_run(client, staging, validate(params), logical_date=logical_date, warehouse=warehouse)
        return [
            transform_shard(staging, run_shard(client, staging, shard, plan_id=plan.plan_id)) for shard in plan.shards
        ]
    finally:
        client.close()


def load_staged(
    transformed: list[TransformResult],
    *,
    pg_url: str,
    staging_url: str,
    run_id: str,
    logical_date: datetime,
    dag_id: str = DAG_ID,
) -> LoadedRun:
    """The load task of a run :func:`stage_run` staged: a run's load can so come after a later run's."""

    def warehouse() -> DatabaseConnection:
        return DatabaseConnection(pg_url, connect_retries=0)

    context = task_context(run_id, logical_date, dag_id=dag_id)
    # The load task reads the staging root from the environment and the warehouse from its connection.
    with (
        mock.patch.dict(os.environ, {"GITHUB_ETL_STAGING_URL": staging_url}),
        mock.patch("github_etl.hooks.warehouse.DatabaseConnection", side_effect=lambda *a, **k: warehouse()),
    ):
        return load_run_task(context, transformed, warehouse_conn_id=WAREHOUSE_CONN_ID)


def query(pg_url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows ``statement`` (with ``args`` as its parameters) returns from the database at ``pg_url``."""
    import psycopg2

    connection = psycopg2.connect(pg_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, args or None)
            return cursor.fetchall()
    finally:
        connection.close()


def warehouse_rows(pg_url: str) -> list[tuple[Any, ...]]:
    """Every repository of a warehouse, by id, in :data:`COMPARED_COLUMNS`."""
    return query(pg_url, f"SELECT {COMPARED_COLUMNS} FROM github.repositories ORDER BY id")


def task_context(run_id: str, logical_date: datetime, *, dag_id: str = DAG_ID) -> dict[str, Any]:
    """What the load task reads of Airflow's context, for a run ``run_id`` of the DAG ``dag_id`` at ``logical_date``."""
    return {
        "dag": SimpleNamespace(dag_id=dag_id),
        "run_id": run_id,
        "logical_date": logical_date,
        "dag_run": SimpleNamespace(start_date=None, run_after=logical_date),
    }
