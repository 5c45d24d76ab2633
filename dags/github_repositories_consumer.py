"""
### Fresh GitHub data → language summary

An example of data-aware scheduling: runs whenever `github_repositories` has loaded the warehouse and its
quality checks passed (the `github.repositories` asset, emitted by its `check` task), and refreshes `github.language_summary` from it — no schedule to keep in
step with the producer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from github_etl.assets import REPOSITORIES_ASSET
from github_etl.settings import WAREHOUSE_CONN_ID


@dag(
    dag_id="github_repositories_consumer",
    schedule=[REPOSITORIES_ASSET],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["github", "warehouse", "example"],
    default_args={"owner": "analytics", "retries": 2, "retry_delay": timedelta(minutes=1)},
)
def github_repositories_consumer() -> None:
    @task
    def summarise_languages() -> int:
        from github_etl.hooks.warehouse import DatabaseConnection

        with DatabaseConnection(conn_id=WAREHOUSE_CONN_ID) as db, db.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS github.language_summary ("
                " language text PRIMARY KEY, repositories bigint NOT NULL, stars bigint NOT NULL)"
            )
            cursor.execute("TRUNCATE github.language_summary")
            cursor.execute(
                "INSERT INTO github.language_summary"
                " SELECT coalesce(language, '(none)'), count(*), sum(stargazers_count)"
                " FROM github.repositories WHERE deleted_at IS NULL GROUP BY 1"
            )
            return cursor.rowcount

    summarise_languages()


github_repositories_consumer()
