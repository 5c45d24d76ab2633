"""Fail the runs that ``airflow dags test`` (``make run``) left unfinished in this AIRFLOW_HOME.

    python -m tools.stopped_runs

A ``make run`` stopped (Ctrl-C) or killed leaves its run ``running`` and a task waiting for a budget reset
``queued`` by no scheduler: nothing ever ends them, and the DAG's ``max_active_runs=1`` then keeps ``make
airflow``'s scheduler from starting any other run of it. Run where no ``airflow dags test`` runs (under the
home's lock): every such run left is a stopped one.
"""

from __future__ import annotations

import sys


def main() -> int:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    with create_session() as session:
        stopped = session.scalars(
            select(DagRun).where(
                DagRun.triggered_by == DagRunTriggeredByType.TEST,
                DagRun.state.in_([DagRunState.RUNNING, DagRunState.QUEUED]),
            )
        ).all()
        for run in stopped:
            for task in run.get_task_instances(state=State.unfinished, session=session):
                task.set_state(TaskInstanceState.FAILED, session=session)
            run.set_state(DagRunState.FAILED)
            print(f"Marked the stopped run {run.dag_id} {run.run_id} failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
