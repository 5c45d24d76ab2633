"""On an Airflow older than the pinned one the pipeline works, or says at once which Airflow it needs.

The versions are stood in for (``github_etl.airflow_version.installed``); the real runs on Airflow 3.1
and 3.2 are ``tools/airflow_version_check.sh`` (docs/existing-airflow.md), too slow for this suite.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from github_etl import airflow_version
from github_etl.alerts import late_run_alert
from github_etl.errors import ConfigurationError


def _running_on(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    monkeypatch.setattr(airflow_version, "installed", lambda: version)


@pytest.mark.parametrize("version", ["3.0.6", "2.11.0", "3.0.0"])
def test_an_airflow_below_the_minimum_is_refused_naming_both_versions(monkeypatch, version: str) -> None:
    _running_on(monkeypatch, version)

    with pytest.raises(ConfigurationError) as raised:
        airflow_version.require_supported()

    assert str(raised.value).startswith(f"github-etl needs Airflow >= 3.1; this is Airflow {version}")


@pytest.mark.parametrize("version", ["3.1.0", "3.1.8", "3.2.2", "3.3.2", "3.4.0.dev0"])
def test_a_supported_airflow_passes(monkeypatch, version: str) -> None:
    _running_on(monkeypatch, version)

    airflow_version.require_supported()


def test_the_installed_airflow_is_supported() -> None:
    airflow_version.require_supported()


def test_the_late_run_alert_on_airflow_3_1_names_the_setting_that_runs_without_it(monkeypatch) -> None:
    _running_on(monkeypatch, "3.1.8")
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_ALERT", "true")

    with pytest.raises(ConfigurationError, match=r"needs Airflow >= 3\.2; this is Airflow 3\.1\.8.*"):
        late_run_alert()

    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_ALERT", "false")
    assert late_run_alert() is None


def test_airflow_3_2_gets_the_deadline_as_a_timedelta_which_its_serializer_needs(monkeypatch) -> None:
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    _running_on(monkeypatch, "3.2.2")
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_ALERT", "true")
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "6")

    alert = late_run_alert()

    assert alert is not None and alert.interval == timedelta(hours=6)
    # What Airflow 3.2's serializer does with it (3.2 called interval.total_seconds(): a number failed there).
    assert alert.interval.total_seconds() == 6 * 3600
    # The pinned Airflow serializes this one as well.
    DagSerialization.to_dict(DAG("deadline_check", schedule=None, deadline=alert))


def test_airflow_3_3_keeps_the_deadline_in_seconds(monkeypatch) -> None:
    _running_on(monkeypatch, "3.3.2")
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_ALERT", "true")
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "6")

    alert = late_run_alert()

    assert alert is not None and alert.interval == 6 * 3600


def test_a_missing_connection_is_caught_as_the_exception_airflow_raises() -> None:
    from airflow.sdk import BaseHook

    with pytest.raises(airflow_version.AirflowNotFoundException):
        BaseHook.get_connection("github_etl_no_such_connection")
