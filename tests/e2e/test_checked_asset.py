"""The ``github.repositories`` asset is emitted only by a run whose quality checks pass.

The consumer DAG is scheduled on that asset: an asset event queues a run of it (``asset_dag_run_queue``,
which the scheduler turns into a DAG run), so no event means no consumer run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseNotifier

from tests.fake_github import FakeGitHub

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
CONSUMER = "github_repositories_consumer"


class RecordingNotifier(BaseNotifier):
    """A notifier a deployment could configure: this one appends what it was told to a file.

    Its subject is a template, rendered by Airflow as the SMTP and Slack notifiers' are.
    """

    template_fields = ("subject",)

    def __init__(self, path: str, subject: str = "Run {{ dag_run.run_id }} of {{ dag.dag_id }} failed") -> None:
        super().__init__()
        self.path = path
        self.subject = subject

    def notify(self, context: Any) -> None:
        told = {"run_id": context["dag_run"].run_id, "reason": str(context.get("reason")), "subject": self.subject}
        with Path(self.path).open("a") as out:
            out.write(json.dumps(told) + "\n")


@pytest.fixture
def alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Failure alerts of the runs that follow, as the configured notifier receives them."""
    path = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", f"{__name__}.RecordingNotifier")
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", json.dumps({"path": str(path)}))
    return path


def _asset_events() -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        query = select(func.count()).select_from(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return int(session.scalar(query.where(AssetModel.name == "github.repositories")) or 0)


def _consumer_queued() -> bool:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == CONSUMER)) is not None


def _consumer_ready() -> None:
    """Both DAGs in the metadata database, the consumer unpaused (Airflow queues no run for a paused DAG)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, update

    from tests.fixtures.airflow import load_dagbag

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(load_dagbag(), "dags-folder", None)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == CONSUMER).values(is_paused=False))
        session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == CONSUMER))


def _states(result: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in result.get_task_instances()}


def test_a_run_whose_checks_pass_emits_the_asset_and_queues_the_consumer(
    fake_github: FakeGitHub, pipeline_env, run_dag, alerts: Path
) -> None:
    pipeline_env(fake_github.base_url)
    _consumer_ready()
    events = _asset_events()

    result = run_dag({"mode": "sample", "sample_size": 10, "shards": 1}, LOGICAL_DATE)

    assert result.state == "success"
    assert _asset_events() == events + 1
    assert _consumer_queued()
    assert not alerts.exists()


def _corrupt_stars_on_write(pg_url: str) -> None:
    """A warehouse that writes every repository with -1 stars: the load succeeds, counts_not_negative fails."""
    from github_etl.hooks.warehouse import DatabaseConnection, apply_schema

    with DatabaseConnection(pg_url, connect_retries=0) as db:
        apply_schema(db)
        with db.cursor() as cursor:
            cursor.execute(
                "CREATE FUNCTION github.corrupt_stars() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN NEW.stargazers_count := -1; RETURN NEW; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER corrupt_stars BEFORE INSERT OR UPDATE ON github.repositories"
                " FOR EACH ROW EXECUTE FUNCTION github.corrupt_stars()"
            )
        db.commit()


def test_a_failed_check_fails_the_run_emits_no_asset_queues_no_consumer_and_alerts(
    fake_github: FakeGitHub, pipeline_env, run_dag, pg_url: str, alerts: Path
) -> None:
    _corrupt_stars_on_write(pg_url)
    pipeline_env(fake_github.base_url)
    _consumer_ready()
    events = _asset_events()

    result = run_dag({"mode": "sample", "sample_size": 10, "shards": 1}, LOGICAL_DATE)

    assert result.state == "failed"
    states = _states(result)
    assert (states["load"], states["check"]) == ("success", "failed")
    assert _asset_events() == events
    assert not _consumer_queued()
    (alert,) = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert alert["run_id"] == result.run_id
    assert alert["subject"] == f"Run {result.run_id} of github_repositories failed"
