"""Settings from the environment: every malformed value is refused naming its variable, NaN and infinity too."""

from __future__ import annotations

import pytest

from github_etl.api.config import ApiSettings
from github_etl.errors import ConfigurationError
from github_etl.settings import ClientSettings, check_settings, float_env, int_env, max_deleted_share, staging_url


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_a_number_that_is_not_finite_is_refused(monkeypatch, raw) -> None:
    monkeypatch.setenv("GITHUB_ETL_READ_TIMEOUT", raw)
    with pytest.raises(ConfigurationError, match=r"GITHUB_ETL_READ_TIMEOUT must be a finite number"):
        float_env("GITHUB_ETL_READ_TIMEOUT", 30.0)


def test_the_deletion_guard_cannot_be_switched_off_by_nan(monkeypatch) -> None:
    # NaN compares false with everything: "marking > nan * checked" would never stop a mass deletion.
    monkeypatch.setenv("GITHUB_ETL_MAX_DELETED_SHARE", "nan")
    with pytest.raises(ConfigurationError, match="GITHUB_ETL_MAX_DELETED_SHARE"):
        max_deleted_share()


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), ("1e3", 1000), (" 7 ", 7), ("", 5)])
def test_a_whole_number_is_read_in_any_form_json_would_write_it(monkeypatch, raw, expected) -> None:
    monkeypatch.setenv("GITHUB_ETL_MAX_RETRIES", raw)
    assert int_env("GITHUB_ETL_MAX_RETRIES", 5) == expected


@pytest.mark.parametrize("raw", ["2.7", "nan", "inf", "abc", "-1"])
def test_a_whole_number_setting_refuses_fractions_and_names_its_variable(monkeypatch, raw) -> None:
    monkeypatch.setenv("GITHUB_ETL_MAX_RETRIES", raw)
    with pytest.raises(ConfigurationError, match="GITHUB_ETL_MAX_RETRIES"):
        ClientSettings.from_env()
    monkeypatch.setenv("GITHUB_ETL_API_POOL_SIZE", raw)
    with pytest.raises(ConfigurationError, match="GITHUB_ETL_API_POOL_SIZE"):
        ApiSettings.from_env()


@pytest.mark.parametrize("value", ["file://staging", "file://srv/github-etl-staging"])
def test_a_file_url_naming_no_absolute_folder_is_refused(monkeypatch, value) -> None:
    """file://staging names a host and no folder, which the store reads as the working directory; a third slash
    forgotten (file://srv/...) would stage in /github-etl-staging."""
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", value)
    with pytest.raises(ConfigurationError, match=r"GITHUB_ETL_STAGING_URL must name an absolute folder after file://"):
        staging_url()


def test_a_run_deadline_airflow_could_not_add_to_a_run_start_is_refused(monkeypatch) -> None:
    """100,000,000 hours (someone's "no deadline") is past year 9999 from any run's start: Airflow could create no
    run of the DAG. The message says how to have no late-run alert instead."""
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "100000000")
    with pytest.raises(ConfigurationError, match=r"at most 876,000 .*GITHUB_ETL_RUN_DEADLINE_ALERT=false"):
        check_settings()
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "876000")
    check_settings()


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_ETL_RUN_DEADLINE_HOURS",
        "GITHUB_ETL_MAX_DELETED_SHARE",
        "GITHUB_ETL_CONNECT_TIMEOUT",
        "GITHUB_ETL_MAX_RETRIES",
        "GITHUB_ETL_SECONDARY_MAX_TRIES",
        "GITHUB_ETL_QUOTA_RESERVE",
        "GITHUB_ETL_STAGING_URL",
    ],
)
def test_the_run_checks_every_setting_its_tasks_read_at_once(monkeypatch, name) -> None:
    check_settings()
    monkeypatch.setenv(name, "abc")
    with pytest.raises(ConfigurationError, match=name):
        check_settings()


# A notifier that cannot be built would otherwise be found only when a run fails or is late: that alert lost.
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GITHUB_ETL_ALERT_NOTIFIER", "airflow.providers.smtp.notifications.smtp.SmtpNotifer"),
        ("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", "{'to': 'oncall@example.com'}"),
    ],
)
def test_the_run_checks_its_alert_notifier_at_once(monkeypatch, name, value) -> None:
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", "airflow.providers.smtp.notifications.smtp.SmtpNotifier")
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER_KWARGS", '{"from_email": "a@example.com", "to": "b@example.com"}')
    check_settings()
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        check_settings()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("s3://aws_default@bucket/runs", "s3://aws_default@bucket/runs"), ("/srv/staging", "/srv/staging")],
)
def test_the_staging_root_is_a_url_or_an_absolute_folder(monkeypatch, raw, expected) -> None:
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", raw)
    assert staging_url() == expected
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", "staging/runs")
    with pytest.raises(ConfigurationError, match=r"GITHUB_ETL_STAGING_URL must be a URL .* got 'staging/runs'"):
        staging_url()


@pytest.mark.parametrize(
    "raw",
    [
        "s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY@bucket/runs",
        "s3a://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY@bucket/runs",
        "s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY@/runs",
        "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY@bucket/runs",
    ],
)
def test_a_staging_url_holding_keys_is_refused_without_repeating_them(monkeypatch, raw: str) -> None:
    """Read as a connection id, the keys would ride in every staged file's URI: XCom, the task log, lineage."""
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", raw)
    with pytest.raises(ConfigurationError, match=r"GITHUB_ETL_STAGING_URL holds a password") as refused:
        staging_url()
    assert "wJalr" not in str(refused.value) and "AKIAIOSFODNN7EXAMPLE" not in str(refused.value)


@pytest.mark.parametrize("raw", ["s3:///runs", "s3://aws_default@/runs"])
def test_an_s3_staging_url_without_a_bucket_is_refused(monkeypatch, raw: str) -> None:
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", raw)
    with pytest.raises(ConfigurationError, match=r"GITHUB_ETL_STAGING_URL names no bucket"):
        staging_url()


@pytest.mark.parametrize("raw", ["gs://bucket/runs", "abfs://container/runs", "memory://runs", "https://bucket/runs"])
def test_a_staging_url_of_a_store_staging_does_not_support_is_refused_naming_what_it_takes(monkeypatch, raw) -> None:
    """fsspec would fail in prepare with its own import or lookup error, and only after the task's retries."""
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", raw)
    with pytest.raises(
        ConfigurationError, match=r"names a store of scheme '[a-z]+', which staging does not support: use s3://"
    ):
        check_settings()


def test_the_api_lets_in_the_readers_of_the_dag_github_etl_api_dag_id_names(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ETL_API_DAG_ID", raising=False)
    assert ApiSettings.from_env().dag_id == "github_repositories"
    monkeypatch.setenv("GITHUB_ETL_API_DAG_ID", " github_search_rust ")
    assert ApiSettings.from_env().dag_id == "github_search_rust"


@pytest.mark.parametrize("raw", ["github search", "team/github", "github_repositories,github_census", "x" * 251])
def test_an_api_dag_id_airflow_would_refuse_is_refused_naming_the_variable(monkeypatch, raw) -> None:
    monkeypatch.setenv("GITHUB_ETL_API_DAG_ID", raw)
    with pytest.raises(ConfigurationError, match="GITHUB_ETL_API_DAG_ID must be a DAG id"):
        ApiSettings.from_env()
