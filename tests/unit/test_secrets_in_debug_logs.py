"""Secrets never reach the logs, with DEBUG logging turned on (as an operator does when something goes wrong).

Each test captures what a task or callback logs (pytest's caplog for stdlib loggers, the console for Airflow's
structlog loggers) and the exception text, runs it through Airflow's own secrets masker (``redact``) as a task
log would be, and asserts the secret is not there.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest

DEBUG_LOGGERS = ("", "urllib3", "requests", "botocore", "boto3", "psycopg2", "airflow", "github_etl", "redis")


def _redacted(text: str) -> str:
    """``text`` as Airflow's secrets masker lets it into a log."""
    from airflow.sdk._shared.secrets_masker import redact

    return redact(text)


def _printed(capsys: pytest.CaptureFixture[str]) -> str:
    """What Airflow's structlog loggers printed (they write to the console, not to pytest's caplog)."""
    out, err = capsys.readouterr()
    return out + err


def _lines_with(secret: str, text: str) -> list[str]:
    return [line[:300] for line in text.splitlines() if secret in line][:3]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """AIRFLOW__LOGGING__LOGGING_LEVEL=DEBUG, and urllib3/requests/botocore/psycopg2 at DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


# -- the alert notifier's kwargs (GITHUB_ETL_ALERT_NOTIFIER_KWARGS) -------------------------------------------

WEBHOOK_TOKEN = "XoxWebhookSecret0123456789abcdef"
HTTP_NOTIFIER = "airflow.providers.http.notifications.http.HttpNotifier"


def _failure_context() -> dict:
    from types import SimpleNamespace

    return {"dag_run": SimpleNamespace(run_id="manual__alert", dag_id="github_repositories"), "reason": "task failed"}


def _configure_webhook(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """A Slack-style incoming webhook through Airflow's HttpNotifier: the token is the endpoint's last segment."""
    monkeypatch.setenv("AIRFLOW_CONN_ALERT_WEBHOOK", json.dumps({"conn_type": "http", "host": host}))
    monkeypatch.setenv("GITHUB_ETL_ALERT_NOTIFIER", HTTP_NOTIFIER)
    monkeypatch.setenv(
        "GITHUB_ETL_ALERT_NOTIFIER_KWARGS",
        json.dumps(
            {
                "http_conn_id": "alert_webhook",
                "endpoint": f"services/T000/B000/{WEBHOOK_TOKEN}",
                "json": {"text": "github_repositories failed"},
            }
        ),
    )


def test_a_webhook_token_in_the_notifier_kwargs_is_masked_when_the_alert_cannot_be_sent(
    monkeypatch: pytest.MonkeyPatch, debug_logs: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """The webhook's host is down: Airflow's HttpHook (WARNING) and BaseNotifier (ERROR, twice: the inner notifier
    and RunFailureNotifier) log the requests error, which names the URL, token and all. The kwargs come from an
    environment variable that nothing tells the secrets masker about; alerts.py itself calls them secret
    ("a webhook URL with its token say")."""
    from github_etl.alerts import RunFailureNotifier
    from tests.ports import closed_port

    _configure_webhook(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(Exception) as failed:
        RunFailureNotifier()(_failure_context())

    shown = _redacted(debug_logs.text + _printed(capsys) + str(failed.value))
    assert WEBHOOK_TOKEN not in shown, _lines_with(WEBHOOK_TOKEN, shown)


def test_a_webhook_token_in_the_notifier_kwargs_is_masked_in_debug_logs_of_a_sent_alert(
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    scripted_github,
) -> None:
    """At DEBUG, urllib3 logs the request line, HttpHook the URL it posts to and HttpNotifier the URL it sent to."""
    from github_etl.alerts import RunFailureNotifier

    scripted_github.post(f"/services/T000/B000/{WEBHOOK_TOKEN}", json={"ok": True})
    _configure_webhook(monkeypatch, scripted_github.base_url)
    RunFailureNotifier()(_failure_context())

    shown = _redacted(debug_logs.text + _printed(capsys))
    assert WEBHOOK_TOKEN not in shown, _lines_with(WEBHOOK_TOKEN, shown)


# -- a token in the API root's query string -------------------------------------------------------------------

QUERY_TOKEN = "ghp_QueryToken0123456789abcdefghi"


@pytest.mark.parametrize("where", ["GITHUB_API_URL", "connection host"])
def test_a_token_in_the_api_roots_query_string_is_refused_and_never_logged(
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    fake_github,
    where: str,
) -> None:
    """GitHub's old ``?access_token=`` form: refused as ``user:token@host`` is, without quoting it. Neither
    GITHUB_API_URL nor a connection's host is masked by Airflow."""
    from github_etl.errors import ConfigurationError
    from github_etl.hooks.github import GitHubHook

    root = f"{fake_github.base_url}/api/v3?access_token={QUERY_TOKEN}"
    if where == "GITHUB_API_URL":
        monkeypatch.delenv("AIRFLOW_CONN_GITHUB_DEFAULT", raising=False)
        monkeypatch.setenv("GITHUB_API_URL", root)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": root}))

    with pytest.raises(ConfigurationError, match="query string") as refused:
        GitHubHook().get_conn()
    assert fake_github.requests == []
    shown = _redacted(str(refused.value) + debug_logs.text + _printed(capsys))
    assert QUERY_TOKEN not in shown, _lines_with(QUERY_TOKEN, shown)


# -- S3 credentials from boto3's environment ------------------------------------------------------------------

AWS_KEY_ID = "AKIAEXAMPLEKEYID0001"
AWS_SECRET = "ExampleSecretAccessKey/With+Slash01234"
AWS_SESSION = "ExampleSessionToken//ZZ+xyz0123456789SessionTok"


def test_an_s3_session_token_from_the_environment_is_masked_in_debug_logs_of_staging(
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    s3_endpoint: str,
) -> None:
    """aws_default without keys takes boto3's environment (README: "keys (none: boto3's environment, AWS_PROFILE or
    IAM role)"). At DEBUG botocore logs every request's headers and canonical request, x-amz-security-token
    included; Airflow masks a token in the connection's extra, staging one from the environment."""
    from github_etl.staging import check_staging_root
    from tests.fixtures.s3 import STAGING_BUCKET

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}),
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_SESSION)
    check_staging_root(f"s3://aws_default@{STAGING_BUCKET}/runs-{uuid.uuid4().hex[:8]}")

    shown = _redacted(debug_logs.text + _printed(capsys))
    assert AWS_SESSION not in shown, _lines_with(AWS_SESSION, shown)
