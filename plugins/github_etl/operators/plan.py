"""The planning operator: splits a run into shards, and defers instead of blocking a worker through a long wait."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from github_etl.operators.deferral import DefersUntilReset
from github_etl.settings import GITHUB_CONN_ID, WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


class GitHubPlanOperator(DefersUntilReset, BaseOperator):
    """Decide the shards of a run (``sample`` id ranges, ``search`` date slices, ``owners``, ``refresh`` ids).

    Planning asks GitHub too (the end of the id space, the size of search slices). When every token's
    budget is spent for longer than ``GITHUB_ETL_MAX_RATE_LIMIT_WAIT``, the task defers to the triggerer
    until the reset and then plans again; once staged, the plan is reused by any retry.

    :param run_params: the run's validated params, as the prepare task returns them (templated); under the key
        ``staging``, the staging store prepare checked, which this worker must stage to as well.
    :param github_conn_id: the GitHub connection.
    :param warehouse_conn_id: the warehouse connection (``refresh`` plans from the repositories it holds).
    :param staging_root: staging root URI; ``GITHUB_ETL_STAGING_URL`` by default.
    :return: the shards, one mapped extract task each.
    """

    template_fields: Sequence[str] = ("run_params",)
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        run_params: dict[str, Any],
        github_conn_id: str = GITHUB_CONN_ID,
        warehouse_conn_id: str = WAREHOUSE_CONN_ID,
        staging_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_params = run_params
        self.github_conn_id = github_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.staging_root = staging_root

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from github_etl.errors import IncompleteRunError, RateLimitWaitTooLong, fail_fast_on_final_errors
        from github_etl.extract.plan import extract_inputs, plan_run
        from github_etl.hooks.github import GitHubHook
        from github_etl.hooks.warehouse import DatabaseConnection
        from github_etl.params import validate
        from github_etl.staging import RunStaging
        from github_etl.staging_mark import check_staging_seen
        from github_etl.tasks import logical_date_of

        if self.run_params is None:
            # prepare returned nothing: it was marked success or skipped without running, or never ran in this run
            # (`airflow tasks test` of a date without a run makes a run of its own), so neither were the params
            # checked nor the warehouse's schema applied.
            with fail_fast_on_final_errors():
                raise IncompleteRunError(
                    f"Run {context['run_id']} has no params from its prepare task: prepare did not run in it (it was "
                    "marked success or skipped, or `airflow tasks test` made this run for a date without one), so "
                    "the params were not checked nor the warehouse schema applied. Clear the run's prepare task with "
                    "its downstream tasks; to test tasks one by one, trigger a run first (`airflow dags trigger`) "
                    "and test each on its run id, or test the whole DAG with `airflow dags test`."
                )
        run_params = dict(self.run_params)
        prepared_staging = run_params.pop("staging", None)
        hook = GitHubHook(self.github_conn_id)
        try:
            with fail_fast_on_final_errors():
                if prepared_staging is not None:
                    check_staging_seen(prepared_staging, self.staging_root)
                planned = plan_run(
                    hook.get_conn(),
                    # Reads this worker's GITHUB_ETL_STAGING_URL, which prepare's worker did not check.
                    RunStaging(self.dag_id, context["run_id"], root=self.staging_root),
                    validate(run_params),
                    logical_date=logical_date_of(context),
                    warehouse=lambda: DatabaseConnection(conn_id=self.warehouse_conn_id),
                )
            return extract_inputs(planned)
        except RateLimitWaitTooLong as wait:
            self.defer_until_reset(wait)
        finally:
            if "client" in hook.__dict__:
                hook.client.close()
