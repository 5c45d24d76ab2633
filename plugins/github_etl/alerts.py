"""Alerts: a failed run, and a daily run not finished in time, told to whoever a deployment configures.

Both go through Airflow's notifier interface (``BaseNotifier``). The DAG always attaches
:class:`RunFailureNotifier` (and a deadline alert); each logs the event and hands it on to the notifier
named by ``GITHUB_ETL_ALERT_NOTIFIER`` (a ``module.Class`` path) with the keyword arguments of
``GITHUB_ETL_ALERT_NOTIFIER_KWARGS`` (a JSON object), e.g. the SMTP provider's notifier::

    GITHUB_ETL_ALERT_NOTIFIER=airflow.providers.smtp.notifications.smtp.SmtpNotifier
    GITHUB_ETL_ALERT_NOTIFIER_KWARGS='{"from_email": "airflow@example.com", "to": "data-oncall@example.com"}'

The configured class is imported only when an alert fires, so parsing the DAG stays cheap.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from github_etl import airflow_version
from github_etl.errors import ConfigurationError
from github_etl.settings import DEADLINE_ALERT_ENV, bool_env, run_deadline_hours

if TYPE_CHECKING:
    from airflow.sdk import Context, DeadlineAlert

log = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600
NOTIFIER_ENV = "GITHUB_ETL_ALERT_NOTIFIER"
NOTIFIER_KWARGS_ENV = "GITHUB_ETL_ALERT_NOTIFIER_KWARGS"


def late_run_alert() -> DeadlineAlert | None:
    """The DAG's deadline: a run not finished ``GITHUB_ETL_RUN_DEADLINE_HOURS`` after it was queued alerts.

    Airflow 3.1 has no such alert (``AsyncCallback``): there it fails, naming the setting that turns it off.
    None when ``GITHUB_ETL_RUN_DEADLINE_ALERT`` is false, or in the process of ``airflow dags test``: Airflow
    3.3's ``dag.test`` cannot finish a run of a DAG with a deadline (it looks the alerts up by their
    definitions instead of their ids): the tests that run the DAG that way turn it off, and
    ``airflow dags test``, which parses the DAG in its own process, gets it without one.
    """
    if not bool_env(DEADLINE_ALERT_ENV, True) or sys.argv[1:3] == ["dags", "test"]:
        return None
    if not airflow_version.at_least(airflow_version.DEADLINE_MINIMUM):
        raise ConfigurationError(
            f"the late-run alert of github-etl (a DAG deadline) needs Airflow >= "
            f"{'.'.join(map(str, airflow_version.DEADLINE_MINIMUM))}; this is Airflow {airflow_version.installed()}. "
            f"Set {DEADLINE_ALERT_ENV}=false in every component's environment to run the DAG without it"
        )
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    hours = run_deadline_hours()
    # Seconds, not a timedelta, from Airflow 3.3 on: 3.3 stores a timedelta as a JSON object that its clear
    # path cannot read (clearing a task of a run before its deadline answers 500, apache/airflow#70368), while
    # every reader takes a number. Airflow 3.2's serializer takes only a timedelta (it stores its seconds).
    interval: Any = hours * SECONDS_PER_HOUR if airflow_version.at_least((3, 3)) else timedelta(hours=hours)
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        # No DAG id here: the callback names the DAG of the late run, so a second DAG made from this one
        # (docs/existing-airflow.md#a-second-harvest) is told under its own id.
        callback=AsyncCallback(alert_late_run, kwargs={"hours": hours}),
    )


def configured_notifier() -> BaseNotifier | None:
    """The deployment's notifier, built from the environment; None when none is configured."""
    path = os.environ.get(NOTIFIER_ENV, "").strip()
    if not path:
        return None
    module_name, _, class_name = path.rpartition(".")
    try:
        notifier_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"{NOTIFIER_ENV}={path!r} names no importable notifier class: {exc}") from exc
    raw = os.environ.get(NOTIFIER_KWARGS_ENV, "").strip() or "{}"
    try:
        kwargs = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{NOTIFIER_KWARGS_ENV} must be a JSON object: {exc}") from None
    if isinstance(kwargs, dict):
        # The arguments are settings of the deployment's, a webhook URL with its token say, which nothing else tells
        # the log masker of: a notifier that logs its endpoint, or fails to reach it, would quote them.
        _mask_strings(kwargs)
    else:
        # Its kind, never its text: the value is a notifier's settings, a webhook URL with its token say.
        kind = {list: "an array", str: "a string"}.get(type(kwargs), "a " + type(kwargs).__name__)
        raise ConfigurationError(f"{NOTIFIER_KWARGS_ENV} must be a JSON object of keyword arguments, got {kind}")
    try:
        return notifier_class(**kwargs)
    except TypeError as exc:
        # Python names a missing or unexpected argument, never its value.
        raise ConfigurationError(f"{NOTIFIER_KWARGS_ENV} does not build {path}: {exc}") from None
    except ValueError as exc:
        # The class's own message may quote a value (a webhook URL with its token): its arguments' names only.
        raise ConfigurationError(
            f"{NOTIFIER_KWARGS_ENV} does not build {path}: {type(exc).__name__} for the arguments {sorted(kwargs)}"
        ) from None


def _mask_strings(value: Any) -> None:
    """Every string in a JSON value, to the log masker (which leaves out strings too short to be secrets)."""
    from airflow.sdk.log import mask_secret

    if isinstance(value, str):
        mask_secret(value)
    elif isinstance(value, dict):
        for item in value.values():
            _mask_strings(item)
    elif isinstance(value, list):
        for item in value:
            _mask_strings(item)


class RunFailureNotifier(BaseNotifier):
    """A run of the DAG failed: log it, then tell the deployment's notifier (``GITHUB_ETL_ALERT_NOTIFIER``)."""

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        # Nothing to render. Skipping also spares dag.test's serialized DAG, which has no template environment.
        if self.template_fields:
            super().render_template_fields(context, jinja_env)

    def notify(self, context: Context) -> None:
        dag_run = context.get("dag_run")
        log.error(
            "Run %s of %s failed: %s",
            getattr(dag_run, "run_id", "?"),
            getattr(dag_run, "dag_id", "?"),
            context.get("reason") or "a task failed",
        )
        notifier = configured_notifier()
        if notifier is not None:
            notifier(_with_template_env(context))


class _TemplatingDag:
    """A DAG with a template environment: what a notifier renders its templated fields with.

    ``airflow dags test`` (``make run``) hands a run's callbacks its serialized DAG, which has none, and
    Airflow's notifiers (SMTP, Slack, any with templated fields) failed there before sending. Everything
    else is the serialized DAG's.
    """

    def __init__(self, dag: Any) -> None:
        self._dag = dag

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dag, name)

    def get_template_env(self, *, force_sandboxed: bool = False) -> Any:
        from jinja2.sandbox import SandboxedEnvironment

        return SandboxedEnvironment(cache_size=0)


def _with_template_env(context: Context) -> Context:
    """The context, its DAG given a template environment where it has none (see :class:`_TemplatingDag`)."""
    dag = context.get("dag")
    if dag is None or hasattr(dag, "get_template_env"):
        return context
    return {**context, "dag": _TemplatingDag(dag)}  # type: ignore[typeddict-item]


async def alert_late_run(hours: float, **kwargs: Any) -> None:
    """Deadline callback (run by the triggerer): a run has not finished ``hours`` after it was queued.

    Airflow passes the run as it was when the deadline passed (``context["dag_run"]``), its DAG id with it. It
    drops a run's deadline only when its scheduler sees the run succeed, so a run that failed meanwhile reaches here
    too (its failure was told already, :class:`RunFailureNotifier`), and so does one marked success by hand: neither
    is late, both are over. A backfill queues all its runs
    at once and starts them ``max_active_runs`` at a time, so a backfill run still queued is waiting for its
    turn, not late.
    """
    dag_run = (kwargs.get("context") or {}).get("dag_run") or {}
    dag_id, run_id = dag_run.get("dag_id", "?"), dag_run.get("dag_run_id", "?")
    if dag_run.get("state") in ("failed", "success"):
        log.info("Run %s of %s ended (%s) before its deadline: no late-run alert", run_id, dag_id, dag_run["state"])
        return
    if dag_run.get("run_type") == "backfill" and dag_run.get("state") == "queued":
        log.info("Backfill run %s of %s is still waiting for its turn: no late-run alert", run_id, dag_id)
        return
    log.error("Run %s of %s has not finished %s hours after it was queued", run_id, dag_id, hours)
    notifier = configured_notifier()
    if notifier is None:
        return
    context: dict[str, Any] = {"dag_id": dag_id, "reason": f"not finished within {hours} hours", **kwargs}
    try:
        await notifier.async_notify(context)  # type: ignore[arg-type]
    except NotImplementedError:
        from asyncio import to_thread

        await to_thread(notifier.notify, context)  # type: ignore[arg-type]
