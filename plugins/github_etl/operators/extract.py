"""The extraction operator: runs one shard, and defers instead of blocking a worker on a long rate-limit wait."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from github_etl.operators.deferral import DefersUntilReset
from github_etl.settings import GITHUB_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


class GitHubExtractShardOperator(DefersUntilReset, BaseOperator):
    """Extract one shard of a run from GitHub into the run's staging folder.

    When every token's budget is spent for longer than ``GITHUB_ETL_MAX_RATE_LIMIT_WAIT``, the task
    defers to the triggerer until the reset and then resumes from its checkpoints.

    :param shard: the shard to extract and the GitHub it was planned against, as the run's plan task hands them
        (templated).
    :param github_conn_id: the GitHub connection.
    :param staging_root: staging root URI; ``GITHUB_ETL_STAGING_URL`` by default.
    """

    template_fields: Sequence[str] = ("shard",)
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        shard: dict[str, Any],
        github_conn_id: str = GITHUB_CONN_ID,
        staging_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        self.github_conn_id = github_conn_id
        self.staging_root = staging_root

    def execute(self, context: Context) -> dict[str, Any]:
        from github_etl.errors import RateLimitWaitTooLong, fail_fast_on_final_errors
        from github_etl.extract.plan import planned_shard, run_shard
        from github_etl.hooks.github import GitHubHook
        from github_etl.staging import RunStaging, staged_files_of

        hook = GitHubHook(self.github_conn_id)
        try:
            with fail_fast_on_final_errors():
                # Reads this worker's GITHUB_ETL_STAGING_URL, which prepare's worker did not check.
                staging = RunStaging(self.dag_id, context["run_id"], root=self.staging_root)
                # A refresh shard reads the ids its plan staged.
                with staged_files_of(staging):
                    client = hook.get_conn()
                    shard, plan_id = planned_shard(self.shard, client, staging)
                    return run_shard(client, staging, shard, plan_id=plan_id).to_xcom()
        except RateLimitWaitTooLong as wait:
            self.defer_until_reset(wait)
        finally:
            if "client" in hook.__dict__:
                hook.client.close()
