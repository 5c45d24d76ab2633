"""Hand a long GitHub rate-limit wait to Airflow's triggerer instead of holding a worker slot through it."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from github_etl.errors import RateLimitWaitTooLong


def defer_until_reset(operator: BaseOperator, wait: RateLimitWaitTooLong) -> NoReturn:
    """Defer ``operator`` until GitHub resets the spent budget; Airflow then calls its ``execute_complete``.

    :param operator: the running operator; its ``execute_complete`` must resume the work.
    :param wait: the client's signal, with the budget and when it resets.
    :raises TaskDeferred: always (that is how a task defers).
    """
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger

    # "secondary" is no budget: GitHub paused the token after a burst (its Retry-After).
    why = "GitHub's secondary rate limit pauses the token" if wait.resource == "secondary" else None
    operator.log.info(
        "%s until %s; deferring: the triggerer waits, and the task resumes then",
        why or f"GitHub {wait.resource} budget spent",
        wait.resume_at.isoformat(),
    )
    operator.defer(trigger=DateTimeTrigger(moment=wait.resume_at), method_name="execute_complete")
    raise AssertionError("BaseOperator.defer returned instead of raising TaskDeferred")  # pragma: no cover
