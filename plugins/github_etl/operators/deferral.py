"""Hand a long GitHub rate-limit wait to Airflow's triggerer instead of holding a worker slot through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from airflow.sdk import Context

    from github_etl.errors import RateLimitWaitTooLong

# What Airflow's scheduler resumes a deferred task with once the deferral's timeout passed and no trigger
# fired (airflow.sdk.bases.operator: TRIGGER_FAIL_REPR, TriggerFailureReason.TRIGGER_TIMEOUT).
TRIGGER_FAIL_METHOD = "__fail__"
TRIGGER_TIMEOUT_ERROR = "Trigger timeout"
# A triggerer ends a wait within a second or two of its moment; a deferral's timeout gives it this much more
# at least (or GITHUB_ETL_MAX_RATE_LIMIT_WAIT, the lateness a wait may have anyway, when longer).
MIN_TRIGGERER_GRACE = timedelta(seconds=30)


class DefersUntilReset:
    """What an operator that waits out GitHub's rate limits in the triggerer needs besides its ``execute``.

    Its ``execute`` calls :meth:`defer_until_reset` and is called again once the budget is back. A deployment
    without a triggerer (one not started, or a Cloud Composer environment with none) would leave such a task
    deferred forever: each deferral has a timeout a little past the reset, on which Airflow's scheduler
    resumes the task, and the task then goes on as the triggerer would have had it, only later.
    """

    def defer_until_reset(self, wait: RateLimitWaitTooLong) -> NoReturn:
        """Defer until GitHub resets the spent budget; Airflow then calls ``execute_complete``.

        :param wait: the client's signal, with the budget and when it resets.
        :raises TaskDeferred: always (that is how a task defers).
        """
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from github_etl.settings import ClientSettings

        grace = max(MIN_TRIGGERER_GRACE, timedelta(seconds=ClientSettings.from_env().max_inline_wait))
        # "secondary" is no budget: GitHub paused the token after a burst (its Retry-After).
        why = "GitHub's secondary rate limit pauses the token" if wait.resource == "secondary" else None
        self.log.info(
            "%s until %s; deferring: the triggerer waits, and the task resumes then (or Airflow's scheduler "
            "resumes it %d s later if no triggerer runs)",
            why or f"GitHub {wait.resource} budget spent",
            wait.resume_at.isoformat(),
            grace.total_seconds(),
        )
        self.defer(
            trigger=DateTimeTrigger(moment=wait.resume_at),
            method_name="execute_complete",
            timeout=max(wait.resume_at - datetime.now(UTC), timedelta(0)) + grace,
        )
        raise AssertionError("BaseOperator.defer returned instead of raising TaskDeferred")  # pragma: no cover

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the reset: the staged checkpoints make this a continuation, not a restart."""
        return self.execute(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Go on after a wait that the scheduler ended on its timeout, as after one the triggerer ended.

        The timeout lies past the reset, so the budget is back either way. Any other trigger failure fails the
        task, as Airflow has it.
        """
        if next_method == TRIGGER_FAIL_METHOD and (next_kwargs or {}).get("error") == TRIGGER_TIMEOUT_ERROR:
            self.log.warning(
                "No triggerer ended this task's wait for GitHub's reset, so Airflow's scheduler resumed it when the "
                "wait's timeout passed, later than the reset. Run a triggerer (`airflow triggerer`; in Cloud "
                "Composer, a triggerer count of 1 or more) so that waits end on time; the deadline alert needs one too."
            )
            return self.execute_complete(context)
        return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]
