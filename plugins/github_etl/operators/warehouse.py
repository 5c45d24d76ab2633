"""The load and check operators: thin wrappers over :mod:`github_etl.tasks` that tell OpenLineage what they did."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from github_etl.settings import GITHUB_CONN_ID, WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from github_etl.tasks import LoadedRun

log = logging.getLogger(__name__)

# Well inside the OpenLineage provider's time for the whole event ([openlineage] execution_timeout, 10 s).
LINEAGE_CONNECT_TIMEOUT_SECONDS = 3

# Each column's type as PostgreSQL spells it (text[], not information_schema's ARRAY).
_COLUMNS_SQL = (
    "SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)"
    " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'github' AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped"
    " ORDER BY c.relname, a.attnum"
)


class GitHubLoadOperator(BaseOperator):
    """Load every shard's staged rows into the warehouse in one transaction (see :mod:`github_etl.load`).

    :param transformed: the transform tasks' results, one per shard (templated).
    :param github_conn_id: the GitHub connection, named as the lineage's input.
    :param warehouse_conn_id: the warehouse connection.
    :return: the run's counts.
    """

    template_fields: Sequence[str] = ("transformed",)
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        transformed: Any,
        github_conn_id: str = GITHUB_CONN_ID,
        warehouse_conn_id: str = WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.transformed = transformed
        self.github_conn_id = github_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self._loaded: LoadedRun | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from github_etl.errors import fail_fast_on_final_errors
        from github_etl.tasks import TransformResult, load_run_task

        # One slice request for every shard's result: iterating would probe one index past the end and
        # log an "XCom not found" error for it.
        transformed = [TransformResult.from_xcom(shard) for shard in self.transformed[:]]
        with fail_fast_on_final_errors():
            self._loaded = load_run_task(context, transformed, warehouse_conn_id=self.warehouse_conn_id)
        return self._loaded.to_xcom()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """GitHub's API in; the warehouse tables out, with their schemas and the row counts."""
        return self._lineage(columns=self._table_columns())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """The same datasets, without schemas: a load that failed may have failed on the warehouse, and the
        provider drops the whole event once its time is up (``[openlineage] execution_timeout``), so nothing here
        waits on it."""
        return self._lineage(columns={})

    def _lineage(self, columns: dict[str, list[tuple[str, str]]]) -> OperatorLineage:
        from github_etl.hooks.github import GitHubHook
        from github_etl.lineage import load_lineage, warehouse_of

        # The root the run's requests went to, however it was given (a bare host, GITHUB_API_URL alone).
        github_url = GitHubHook(self.github_conn_id).api_base_url()
        counts = self._loaded.result.to_xcom() if self._loaded else {}
        mode = self._loaded.mode if self._loaded else None
        return load_lineage(counts, columns, warehouse_of(self.warehouse_conn_id), github_url=github_url, mode=mode)

    def _table_columns(self) -> dict[str, list[tuple[str, str]]]:
        """``(name, type)`` of each table a load writes, from the catalog; none (and a warning) when the warehouse
        does not answer at once: the event then goes without schemas rather than not at all."""
        from github_etl.hooks.warehouse import DatabaseConnection
        from github_etl.lineage import ALL_LOAD_OUTPUTS

        columns: dict[str, list[tuple[str, str]]] = {}
        try:
            with (
                DatabaseConnection(
                    conn_id=self.warehouse_conn_id, connect_retries=0, connect_timeout=LINEAGE_CONNECT_TIMEOUT_SECONDS
                ) as db,
                db.cursor() as cursor,
            ):
                cursor.execute(_COLUMNS_SQL, (list(ALL_LOAD_OUTPUTS),))
                for table, name, kind in cursor.fetchall():
                    columns.setdefault(str(table), []).append((str(name), str(kind)))
        except Exception as error:  # lineage is told without schemas rather than lost
            log.warning(
                "The load's lineage goes without table schemas: the warehouse's catalog was not read (%s)", error
            )
            return {}
        return columns


class GitHubCheckOperator(BaseOperator):
    """Run the data-quality checks over what the run loaded; fails, without retries, when one fails.

    :param loaded: the load task's result (templated).
    :param warehouse_conn_id: the warehouse connection.
    :return: the checks run.
    """

    template_fields: Sequence[str] = ("loaded",)
    ui_color = "#fef7e0"

    def __init__(self, *, loaded: Any, warehouse_conn_id: str = WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.warehouse_conn_id = warehouse_conn_id
        self._results: list[tuple[str, bool, str]] = []

    def execute(self, context: Context) -> dict[str, Any]:
        from github_etl.errors import fail_fast_on_final_errors
        from github_etl.tasks import LoadedRun, check_task

        # None when the load was marked success (or skipped) without running: the checks then look the run up.
        loaded = LoadedRun.from_xcom(self.loaded) if self.loaded is not None else None
        with fail_fast_on_final_errors():
            return check_task(context, loaded, warehouse_conn_id=self.warehouse_conn_id, results=self._results)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """Every check as a data-quality assertion on ``github.repositories``, passed or not."""
        from github_etl.lineage import check_lineage, warehouse_of

        return check_lineage(self._results, warehouse_of(self.warehouse_conn_id))

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """The table the checks read, named as the load names it (rather than after the asset's logical URI)."""
        from github_etl.lineage import check_lineage, warehouse_of

        return check_lineage((), warehouse_of(self.warehouse_conn_id))

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return self.get_openlineage_facets_on_complete(task_instance)
