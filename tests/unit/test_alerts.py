"""The alerts hand on to the notifier a deployment configures, and refuse a configuration that cannot work."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk import BaseNotifier

from github_etl.alerts import alert_late_run, configured_notifier, late_run_alert
from github_etl.errors import ConfigurationError
from github_etl.settings import DAG_ID

TOLD: list[dict[str, Any]] = []


class ListNotifier(BaseNotifier):
    def __init__(self, channel: str) -> None:
        super().__init__()
        self.channel = channel

    def notify(self, context: Any) -> None:
        TOLD.append({"channel": self.channel, **context})


def test_a_late_run_is_told_to_the_configured_notifier(monkeypatch) -> None:
    TOLD.clear()
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", f"{__name__}.ListNotifier")
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", json.dumps({"channel": "#data"}))

    context = {"dag_run": {"dag_id": "github_repositories", "dag_run_id": "manual__1", "state": "running"}}

    asyncio.run(alert_late_run(hours=6.0, context=context))

    (told,) = TOLD
    assert told == {
        "channel": "#data",
        "dag_id": "github_repositories",
        "reason": "not finished within 6.0 hours",
        "context": context,
    }


def test_a_late_run_of_a_second_dag_made_from_the_projects_is_told_under_its_own_dag_id(monkeypatch) -> None:
    """A second harvest (docs/existing-airflow.md#a-second-harvest) attaches the same deadline alert: the notifier
    must be told which DAG's run is late, not the project's DAG id."""
    TOLD.clear()
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", f"{__name__}.ListNotifier")
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", json.dumps({"channel": "#data"}))
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_ALERT", "true")
    callback = late_run_alert().callback
    assert callback.path == f"{alert_late_run.__module__}.{alert_late_run.__name__}"
    # What Airflow hands the callback: its kwargs and the run the deadline was for.
    context = {"dag_run": {"dag_id": "github_search_rust", "dag_run_id": "scheduled__1", "state": "running"}}

    asyncio.run(alert_late_run(**callback.kwargs, context=context))

    (told,) = TOLD
    assert told["dag_id"] == "github_search_rust"


def test_a_run_that_failed_before_its_deadline_is_not_told_as_late(monkeypatch, caplog) -> None:
    TOLD.clear()
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", f"{__name__}.ListNotifier")
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", json.dumps({"channel": "#data"}))
    context = {"dag_run": {"dag_id": "github_repositories", "dag_run_id": "manual__1", "state": "failed"}}

    asyncio.run(alert_late_run(hours=6.0, context=context))

    assert TOLD == []
    assert "Run manual__1 of github_repositories ended (failed) before its deadline" in caplog.text


def test_no_notifier_configured_means_log_only(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ETL_ALERT_NOTIFIER", raising=False)
    assert configured_notifier() is None


@pytest.mark.parametrize(
    ("path", "kwargs", "message"),
    [
        ("no.such.module.Notifier", "{}", "names no importable notifier class"),
        (f"{__name__}.ListNotifier", "[1]", "must be a JSON object"),
        (f"{__name__}.ListNotifier", "{", "must be a JSON object"),
        (f"{__name__}.ListNotifier", '{"chanel": "#data"}', "unexpected keyword argument 'chanel'"),
    ],
)
def test_a_notifier_that_cannot_be_built_is_a_configuration_error(monkeypatch, path, kwargs, message) -> None:
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", path)
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", kwargs)
    with pytest.raises(ConfigurationError, match=message):
        configured_notifier()


@pytest.mark.parametrize("kwargs", ['"https://hooks.example.com/services/T0/s3cret-webhook"', '["s3cret-webhook"]'])
def test_notifier_settings_that_are_not_an_object_are_refused_without_quoting_them(monkeypatch, kwargs) -> None:
    """A notifier's settings may hold its credentials (a webhook URL): the error, in the task log, never shows them."""
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", f"{__name__}.ListNotifier")
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", kwargs)

    with pytest.raises(ConfigurationError, match="must be a JSON object") as refused:
        configured_notifier()

    assert "s3cret" not in str(refused.value)


@pytest.fixture
def dag_with_deadline(airflow_db, monkeypatch):
    """The DAG, its late-run alert on, written to the metadata database as the DAG processor writes it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_ALERT", "true")
    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        return SerializedDagModel.get_dag(DAG_ID, session=session)


def test_a_run_marked_success_before_its_deadline_is_not_told_as_late(dag_with_deadline, monkeypatch) -> None:
    """Mark Success on the run ends it, but Airflow drops a deadline only when its scheduler sees a run succeed:
    the deadline passes, and the callback gets the run in state success, through Airflow's own code."""
    from airflow.api.common.mark_tasks import set_dag_run_state_to_success
    from airflow.models import Deadline
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    TOLD.clear()
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", f"{__name__}.ListNotifier")
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", json.dumps({"channel": "#data"}))
    with create_session() as session:
        run = dag_with_deadline.create_dagrun(
            run_id="manual__marked_success",
            logical_date=None,
            data_interval=None,
            run_after=datetime.now(UTC),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.REST_API,
            state=DagRunState.QUEUED,
            conf={},
            session=session,
        )
        session.flush()
        set_dag_run_state_to_success(dag=dag_with_deadline, run_id=run.run_id, commit=True, session=session)
        (deadline,) = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
        deadline.handle_miss(session)
        session.flush()
        kwargs = dict(deadline.callback.data["kwargs"])

    asyncio.run(alert_late_run(**kwargs))

    assert kwargs["context"]["dag_run"]["state"] == "success"
    assert TOLD == []
