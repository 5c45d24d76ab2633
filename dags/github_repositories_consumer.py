"""
### Fresh GitHub data → language summary

An example of data-aware scheduling and of an incremental reader: runs whenever `github_repositories` has
loaded the warehouse and its quality checks passed (the `github.repositories` asset, emitted by its `check`
task), and brings `github.language_summary` up to date by reading only the repositories changed since its
last read (docs/history.md#reading-changes-incrementally) — no schedule to keep in step with the producer,
no full rebuild.

Each event's `extra` carries the load's write `generation`; the run reads `generation > last AND
generation <= ` the greatest of its events', and stores that as its watermark in
`github.consumer_watermarks`, in the transaction that updates the summary: the summary and the watermark
commit together, so a failed or retried run reads the same rows again, never half of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from github_etl.assets import REPOSITORIES_ASSET
from github_etl.settings import WAREHOUSE_CONN_ID

# The reader's name in github.consumer_watermarks.
CONSUMER = "github_repositories_consumer"

# The consumer's own tables, each described as every table of the schema is. language_summary_repositories is
# its copy of what the summary counts of each repository: a changed repository's old values are subtracted.
_TABLES = {
    "github.consumer_watermarks": (
        "consumer text PRIMARY KEY, generation bigint NOT NULL, read_at timestamptz NOT NULL",
        "Per downstream reader, the greatest write generation it has read "
        "(docs/history.md#reading-changes-incrementally), written in the transaction of what it read.",
        {
            "consumer": "The reader, e.g. a DAG id.",
            "generation": "Every row with a generation up to this one has been read (github.write_generation).",
            "read_at": "When the reader last moved its watermark.",
        },
    ),
    "github.language_summary": (
        "language text PRIMARY KEY, repositories bigint NOT NULL, stars bigint NOT NULL",
        "Repositories not deleted and their stars per primary language, kept by the github_repositories_consumer "
        "DAG up to its watermark (github.consumer_watermarks).",
        {
            "language": "The primary language, (none) for repositories without one.",
            "repositories": "Repositories not deleted with this language.",
            "stars": "Their stargazers_count, summed.",
        },
    ),
    "github.language_summary_repositories": (
        "id bigint PRIMARY KEY, language text NOT NULL, stars bigint NOT NULL",
        "What github.language_summary counts of each repository not deleted, so that a change subtracts the old "
        "values; kept by the github_repositories_consumer DAG.",
        {
            "id": "The repository (github.repositories.id).",
            "language": "Its primary language as last read, (none) without one.",
            "stars": "Its stargazers_count as last read.",
        },
    ),
}


def _create_tables(cur: Any) -> None:
    from psycopg2 import sql  # not at parse time: the scheduler parses this file often

    for table, (columns, description, column_descriptions) in _TABLES.items():
        name = sql.SQL(".").join(map(sql.Identifier, table.split(".")))
        cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(name, sql.SQL(columns)))
        cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(name, sql.Literal(description)))
        for column, text in column_descriptions.items():
            cur.execute(
                sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(name, sql.Identifier(column), sql.Literal(text))
            )


# The summary moved by a delta per language, zero rows dropped.
_ADD_TO_SUMMARY = (
    "INSERT INTO github.language_summary AS summary (language, repositories, stars) {delta}"
    " ON CONFLICT (language) DO UPDATE SET repositories = summary.repositories + excluded.repositories,"
    " stars = summary.stars + excluded.stars"
)


def event_generations(events: Iterable[Any]) -> list[int]:
    """The write generations the asset events carry in ``extra`` (an event without one, e.g. one created by
    hand through the API, says nothing about what it covers and is left out)."""
    return [int(event.extra["generation"]) for event in events if (event.extra or {}).get("generation") is not None]


def refresh_language_summary(db: Any, generations: Iterable[int]) -> int:
    """Apply to ``github.language_summary`` the repositories changed since the last read, up to the greatest
    of ``generations``, and store that as the watermark, all in one transaction.

    :param db: a warehouse :class:`~github_etl.hooks.warehouse.DatabaseConnection`.
    :param generations: the ``generation`` of each triggering asset event.
    :return: the repositories read (0 when the events cover nothing not read yet).
    """
    upto = max(generations, default=None)
    if upto is None:
        return 0
    try:
        with db.cursor() as cur:
            _create_tables(cur)
            # The row lock serialises two runs of the consumer: the second reads from the first's watermark.
            cur.execute(
                "INSERT INTO github.consumer_watermarks (consumer, generation, read_at) VALUES (%s, 0, now())"
                " ON CONFLICT (consumer) DO NOTHING",
                (CONSUMER,),
            )
            first = cur.rowcount == 1
            cur.execute("SELECT generation FROM github.consumer_watermarks WHERE consumer = %s FOR UPDATE", (CONSUMER,))
            (last,) = cur.fetchone()
            if upto <= last:
                # Events for rows already read: an earlier run took them, or a cleared load changed nothing.
                db.rollback()
                return 0
            if first:
                # No watermark: whatever the tables hold (a summary built some other way) is replaced whole.
                cur.execute("TRUNCATE github.language_summary, github.language_summary_repositories")
            cur.execute(
                "CREATE TEMPORARY TABLE changed ON COMMIT DROP AS"
                " SELECT id, coalesce(language, '(none)') AS language, stargazers_count::bigint AS stars,"
                " deleted_at IS NULL AS live"
                " FROM github.repositories WHERE generation > %s AND generation <= %s",
                (last, upto),
            )
            read = cur.rowcount
            cur.execute(
                _ADD_TO_SUMMARY.format(
                    delta="SELECT copy.language, -count(*), -sum(copy.stars)"
                    " FROM github.language_summary_repositories AS copy JOIN changed USING (id) GROUP BY 1"
                )
            )
            cur.execute(
                "DELETE FROM github.language_summary_repositories AS copy USING changed WHERE copy.id = changed.id"
            )
            cur.execute(
                "INSERT INTO github.language_summary_repositories SELECT id, language, stars FROM changed WHERE live"
            )
            cur.execute(
                _ADD_TO_SUMMARY.format(delta="SELECT language, count(*), sum(stars) FROM changed WHERE live GROUP BY 1")
            )
            cur.execute("DELETE FROM github.language_summary WHERE repositories = 0")
            cur.execute(
                "UPDATE github.consumer_watermarks SET generation = %s, read_at = now() WHERE consumer = %s",
                (upto, CONSUMER),
            )
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return read


@dag(
    dag_id="github_repositories_consumer",
    schedule=[REPOSITORIES_ASSET],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Runs queue rather than overlap: each reads from the watermark the one before it stored.
    max_active_runs=1,
    doc_md=__doc__,
    tags=["github", "warehouse", "example"],
    default_args={"owner": "analytics", "retries": 2, "retry_delay": timedelta(minutes=1)},
)
def github_repositories_consumer() -> None:
    @task
    def summarise_languages(*, triggering_asset_events: Any = None) -> int:
        from github_etl.hooks.warehouse import DatabaseConnection

        # Airflow hands a run every event queued since the consumer's previous run: read up to the greatest.
        # A run triggered by hand has none, and reads nothing: no event says which loads were checked.
        events = (triggering_asset_events or {}).get(REPOSITORIES_ASSET, [])
        with DatabaseConnection(conn_id=WAREHOUSE_CONN_ID) as db:
            return refresh_language_summary(db, event_generations(events))

    summarise_languages()


github_repositories_consumer()
