"""
### GitHub repositories → PostgreSQL

Harvests public GitHub repository metadata into the warehouse (`github.repositories`,
`github.repository_snapshots`, `github.load_runs`).

| task | what it does |
|---|---|
| `prepare` | validates the params and the `GITHUB_ETL_*` settings (before any API call; a bad one fails the run without retries), applies the warehouse schema and checks the staging store takes a file |
| `plan` | splits the run into shards: random id ranges (`sample`), creation-time slices of at most 1,000 matches (`search`), owners (`owners`), warehouse ids (`refresh`) or equal id ranges (`census`); fails at once when the run cannot fit its GitHub budget before its deadline; defers on a long rate-limit wait |
| `extract` | one mapped task per shard, listed by its key (`sample-003`): fetches from GitHub within its rate limits and stages raw responses |
| `transform` | one mapped task per shard, listed by its key: raw objects → typed COPY rows; bad records quarantined with a reason |
| `load` | COPY + merge of every shard in **one transaction**, snapshots, attribute history, audit row, the census's cursor |
| `check` | data-quality checks on what the run loaded; only when they pass is the `github.repositories` asset emitted, so consumers never start on data that failed them |
| `report` | logs listed / enriched / skipped / rejected / inserted / updated and the table's total |

**Modes** (trigger form or `airflow dags trigger github_repositories -c '{"mode": "search", "query": "language:rust"}'`):
`sample` (`sample_size`, `seed`, `per_page_take`), `search` (`query`: GitHub's syntax, public repositories only; at most one `created:`,
in any form GitHub accepts: `2024-03-01`, `>2024-03-01`, `>=`, `<`, `<=`, `A..B`, `A..*`, `*..B`, dates or
date-times to the second), `owners` (`owners`), `refresh` (`stale_days`), `census` (every public repository
listed since the census's cursor, or in `since_id`..`until_id`; `GITHUB_ETL_SCHEDULED_MODE=census` makes the
daily schedule a census, see docs/census.md). Errors no retry can fix (bad params,
bad credentials, a budget the run cannot fit) fail the run at once.

**Observed, not claimed.** GitHub serves only current values, so every stored date (snapshot date,
`first_seen_at`, `last_seen_at`, `deleted_at`) is the moment the extract fetched the data (staged with
them, so a retried load stores the same dates), never the run's logical date. A backfill or a manual run
with a past logical date stores what it sees under the day it sees it; `github.load_runs` keeps both
the `logical_date` and the `observed_at`.

**Alerts.** A failed run calls `RunFailureNotifier` (Airflow's notifier interface), and a run not finished
`GITHUB_ETL_RUN_DEADLINE_HOURS` after it was queued fires a deadline alert; both log and hand on to the
notifier a deployment names in `GITHUB_ETL_ALERT_NOTIFIER` (docs/lineage-and-alerts.md). **Lineage**: the `load` and
`check` tasks report their inputs, outputs, schema, row counts and checks to OpenLineage once a transport
is configured.

Staged files live under `GITHUB_ETL_STAGING_URL` (`dag_id=…/run_id=…/`). The repository API and its
Swagger docs are served by this Airflow under its base URL at `github-etl/docs`: **Docs → GitHub repositories
API** in the menu.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from github_etl import airflow_version

# An Airflow too old for the pipeline is named in the DAG's import error, before anything fails less clearly.
airflow_version.require_supported()

from github_etl.alerts import RunFailureNotifier, late_run_alert  # noqa: E402
from github_etl.assets import REPOSITORIES_ASSET  # noqa: E402
from github_etl.operators.extract import GitHubExtractShardOperator  # noqa: E402
from github_etl.operators.plan import GitHubPlanOperator  # noqa: E402
from github_etl.operators.warehouse import GitHubCheckOperator, GitHubLoadOperator  # noqa: E402
from github_etl.params import trigger_form_params  # noqa: E402
from github_etl.settings import DAG_ID, GITHUB_API_POOL, GITHUB_CONN_ID, WAREHOUSE_CONN_ID  # noqa: E402


def harvest_dag(dag_id: str = DAG_ID, *, schedule: str | None = "@daily", **param_defaults: Any) -> DAG:
    """The harvest DAG, under ``dag_id`` on ``schedule``, its params' defaults (what a scheduled run does) overridden
    by ``param_defaults`` (``mode="search", query="language:rust"``).

    More DAGs made with it harvest into the same warehouse, each on its own schedule, sharing the ``github_api``
    pool and GitHub's budget: see docs/existing-airflow.md#a-second-harvest.
    """

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        doc_md=__doc__,
        params=trigger_form_params(**param_defaults),
        tags=["github", "warehouse", "etl"],
        on_failure_callback=RunFailureNotifier(),
        # A daily run should end before the next one starts; the budget check in plan allows the same time, from
        # when plan runs (a run waiting in the queue first has less before its alert).
        deadline=late_run_alert(),
        default_args={
            "owner": "data-engineering",
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "retry_exponential_backoff": True,
        },
    )
    def github_repositories() -> None:
        # multiple_outputs=False: Airflow would also push a dict result key by key, one XCom (one object, in an
        # object-storage XCom backend) per key, which no task reads.
        @task(multiple_outputs=False)
        def prepare() -> dict[str, Any]:
            from dataclasses import asdict

            from github_etl.errors import fail_fast_on_final_errors
            from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
            from github_etl.params import require_conf_applied, validate
            from github_etl.settings import check_settings
            from github_etl.staging import check_staging_root
            from github_etl.staging_mark import staging_seen

            context = get_current_context()
            with fail_fast_on_final_errors():
                require_conf_applied(context["dag_run"].conf, context["params"])
                params = validate(dict(context["params"]), dag_defaults=context["dag"].params.dump())
                check_settings()
                # The first task to reach the warehouse: a warehouse refusing the login fails the run at once.
                with DatabaseConnection(conn_id=WAREHOUSE_CONN_ID) as db:
                    apply_schema(db)
                # A staging store that refuses the run (no such bucket, wrong credentials) fails it here too.
                check_staging_root()
                # plan checks that it stages there too, before asking GitHub anything.
                # Plain JSON, as every XCom here: a tuple would show as Airflow's serialisation wrapper.
                return {**asdict(params), "owners": list(params.owners), "staging": staging_seen()}

        # The UI and `airflow tasks` list each mapped task by its shard's key (sample-003), not by a bare index.
        @task(map_index_template="{{ shard }}", multiple_outputs=False)
        def transform(extracted: dict[str, Any]) -> dict[str, Any]:
            from github_etl.errors import fail_fast_on_final_errors
            from github_etl.extract.shards import ExtractResult
            from github_etl.staging import RunStaging
            from github_etl.tasks import transform_shard

            context = get_current_context()
            context["shard"] = extracted["shard"]
            with fail_fast_on_final_errors():
                staging = RunStaging(context["dag"].dag_id, context["run_id"])
                return transform_shard(staging, ExtractResult.from_xcom(extracted)).to_xcom()

        @task(multiple_outputs=False)
        def report(loaded: dict[str, Any] | None, checked: dict[str, Any]) -> dict[str, Any]:
            from github_etl.errors import fail_fast_on_final_errors
            from github_etl.tasks import LoadedRun, report_task

            with fail_fast_on_final_errors():
                # None when the load was marked success without running: the report reads the run's audit row.
                run = LoadedRun.from_xcom(loaded) if loaded is not None else None
                return report_task(get_current_context(), run, warehouse_conn_id=WAREHOUSE_CONN_ID)

        run_params = prepare()
        planned = GitHubPlanOperator(
            task_id="plan",
            run_params=run_params,
            pool=GITHUB_API_POOL,
            github_conn_id=GITHUB_CONN_ID,
            warehouse_conn_id=WAREHOUSE_CONN_ID,
        )
        extracted = GitHubExtractShardOperator.partial(
            task_id="extract",
            pool=GITHUB_API_POOL,
            github_conn_id=GITHUB_CONN_ID,
            map_index_template="{{ task.shard.key }}",
        ).expand(shard=planned.output)
        transformed = transform.expand(extracted=extracted.output)
        # Runs when the plan found nothing to extract too, so every run leaves its audit row.
        loaded = GitHubLoadOperator(
            task_id="load", transformed=transformed, trigger_rule="none_failed", warehouse_conn_id=WAREHOUSE_CONN_ID
        )
        # The asset is emitted here, not by load: a failed check fails the run and emits nothing.
        checked = GitHubCheckOperator(
            task_id="check", loaded=loaded.output, outlets=[REPOSITORIES_ASSET], warehouse_conn_id=WAREHOUSE_CONN_ID
        )
        report(loaded.output, checked.output)

    return github_repositories()


harvest_dag()
