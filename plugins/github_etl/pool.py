"""The ``github_api`` pool, created by the scheduler when a run of a DAG with tasks in it starts and the deployment
has none.

Airflow never schedules a task whose pool does not exist: its run stays "running" with the task
"scheduled" for ever, and only the scheduler's log says why. A deployment that copies the DAG and the
plugin in (and never ran ``make``) has no such pool, so the plugin's listener creates it with
``GITHUB_ETL_POOL_SLOTS`` slots. An existing pool is left as it is: its size is the deployment's choice.
Any DAG whose tasks use the pool counts, not only the project's DAG id: a second harvest made from the DAG
file (docs/existing-airflow.md#a-second-harvest) may be the first, or the only one, to run.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from airflow.listeners import hookimpl

from github_etl.errors import ConfigurationError
from github_etl.settings import (
    DEFAULT_POOL_SLOTS,
    GITHUB_API_POOL,
    POOL_DESCRIPTION,
    POOL_SLOTS_ENV,
    github_api_pool_slots,
)

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def ensure_pool(session: Session) -> bool:
    """Create the ``github_api`` pool in ``session`` unless it exists; the caller commits.

    :returns: whether the pool was created.
    """
    from airflow.models.pool import Pool
    from sqlalchemy import select

    # Read first: a run that finds its pool, as nearly every run does, writes nothing.
    if session.scalar(select(Pool.id).where(Pool.pool == GITHUB_API_POOL)) is not None:
        return False
    slots = _configured_slots()
    values = {"pool": GITHUB_API_POOL, "slots": slots, "description": POOL_DESCRIPTION, "include_deferred": False}
    # One statement that skips an existing pool: the scheduler's session may not commit a savepoint, and a
    # failed insert would break the scheduler's whole transaction.
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
        statement = insert(Pool).values(**values).on_conflict_do_nothing()
    else:
        from sqlalchemy import insert

        statement = insert(Pool).values(**values).prefix_with("IGNORE")  # MySQL
    if session.execute(statement).rowcount != 1:
        return False
    log.warning(
        "Created the Airflow pool %r with %s slots (%s), which the GitHub tasks of the github_etl DAGs need; "
        "resize it under Admin > Pools or with `airflow pools set`",
        GITHUB_API_POOL,
        slots,
        POOL_SLOTS_ENV,
    )
    return True


def _configured_slots() -> int:
    """``GITHUB_ETL_POOL_SLOTS``; the default when it is malformed, said in an error.

    Failing instead would leave the pool missing and every run waiting for ever, with this listener's
    error in the scheduler's log only.
    """
    try:
        return github_api_pool_slots()
    except ConfigurationError as exc:
        log.error("%s; creating the Airflow pool %r with %s slots instead", exc, GITHUB_API_POOL, DEFAULT_POOL_SLOTS)
        return DEFAULT_POOL_SLOTS


def _uses_pool(dag_run: DagRun) -> bool:
    """Whether a task of the run's DAG runs in the ``github_api`` pool."""
    dag = getattr(dag_run, "dag", None)
    return dag is not None and any(getattr(task, "pool", None) == GITHUB_API_POOL for task in dag.tasks)


@hookimpl
def on_dag_run_running(dag_run: DagRun, msg: str) -> None:
    """Called by the scheduler as it starts a run, before it schedules the run's tasks (the run's DAG set)."""
    if not _uses_pool(dag_run):
        return
    from sqlalchemy.orm import object_session

    session = object_session(dag_run)
    if session is not None:
        ensure_pool(session)
        return
    from airflow.utils.session import create_session

    with create_session() as own_session:
        ensure_pool(own_session)
