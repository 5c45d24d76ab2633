"""Triggering the harvest DAG from Airflow's trigger form and REST API, as a user fills it.

Each test goes through Airflow's own code paths: the serialized DAG's params, ``deep_merge(conf).validate()``
as ``create_dagrun`` runs it for POST /api/v2/dags/{dag_id}/dagRuns, and the Task SDK's ``process_params``
that builds a task's ``context["params"]`` on the worker; then ``prepare``'s own checks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from github_etl.errors import ConfigurationError
from github_etl.params import require_conf_applied, validate

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _harvest_dag(**defaults: Any):
    if str(PROJECT_ROOT / "dags") not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT / "dags"))
    from github_repositories import harvest_dag

    return harvest_dag(**defaults)


def _serialized(dag):
    """The DAG as the API server holds it (what the trigger form is built from and the trigger route checks)."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))


def _form_defaults(serialized) -> dict[str, Any]:
    """What the React trigger form sends when Trigger is pressed with no edit: every param's value."""
    return {name: param.dump()["value"] for name, param in serialized.params.items()}


def _airflow_accepts(serialized, conf: dict[str, Any]) -> None:
    """The check create_dagrun makes for the REST API's POST .../dagRuns (a 400 when it raises)."""
    serialized.params.deep_merge(conf).validate()


def _prepare(dag, conf: dict[str, Any]):
    """prepare's checks on the params the Task SDK hands the task for this conf."""
    from airflow.sdk.definitions.param import process_params

    params = process_params(dag, dag.get_task("prepare"), conf, suppress_exception=False)
    require_conf_applied(conf, params)
    return validate(dict(params), dag_defaults=dag.params.dump())


def test_a_form_user_told_to_leave_a_sample_param_out_can_do_so_in_the_form() -> None:
    """A user who set sample_size in the form, then switched the mode to owners, is told by prepare to
    "leave 'sample_size' out". The form's only way to leave a field out is to clear it, which sends null; a
    param whose type has no "null" is then required, and Trigger disabled (the REST API answers 400)."""
    dag = _harvest_dag()
    serialized = _serialized(dag)
    conf = _form_defaults(serialized) | {"mode": "owners", "owners": "apache", "sample_size": 500}
    _airflow_accepts(serialized, conf)
    with pytest.raises(ConfigurationError, match="leave 'sample_size' out"):
        _prepare(dag, conf)

    cleared = conf | {"sample_size": None}
    _airflow_accepts(serialized, cleared)
    assert _prepare(dag, cleared).owners == ("apache",)
    sample = _form_defaults(serialized) | {"per_page_take": None, "sample_size": None}
    _airflow_accepts(serialized, sample)
    run = _prepare(dag, sample)
    assert (run.sample_size, run.per_page_take) == (100, 100)


def test_owners_typed_with_commas_in_a_line_of_a_list_are_split_as_the_field_describes() -> None:
    """The owners field says "separated by commas or one per line". On Airflow 3.1 and 3.2 (supported:
    plugins/github_etl/airflow_version.py) the React form renders a ["null", "array", "string"] param by its
    first non-null type, as a string-array textarea that sends each line as one list item: "apache, python"
    typed on one line arrives as ["apache, python"]. prepare splits commas only in a string."""
    run = validate({"mode": "owners", "owners": ["apache, python", "octocat"]})

    assert run.owners == ("apache", "python", "octocat")


def test_the_census_schedule_setting_is_documented_for_the_component_that_reads_it(monkeypatch) -> None:
    """docs/census.md: GITHUB_ETL_SCHEDULED_MODE=census "(in the scheduler's and the DAG processor's
    environment) makes the DAG's daily scheduled runs a census". A scheduled run (or a REST/CLI trigger
    without "mode" in its conf) carries no mode: the worker's Task SDK takes the param defaults from its
    own parse of the DAG file, so a worker without the variable runs a sample, and succeeds."""
    monkeypatch.setenv("GITHUB_ETL_SCHEDULED_MODE", "census")
    serialized = _serialized(_harvest_dag())  # the DAG processor's, shown by the form and the UI
    monkeypatch.delenv("GITHUB_ETL_SCHEDULED_MODE")
    worker_dag = _harvest_dag()  # a Celery/Kubernetes worker's parse, as the doc's environment leaves it

    assert serialized.params["mode"] == "census"
    _airflow_accepts(serialized, {})
    ran = _prepare(worker_dag, {}).mode
    assert ran == "sample"  # what the run does: the behaviour the doc must warn about

    census_doc = (PROJECT_ROOT / "docs" / "census.md").read_text(encoding="utf-8")
    scheduling = census_doc[census_doc.index("**Scheduling it.**") :].split("\n\n", 1)[0]
    assert "every Airflow component's" in scheduling and "workers' included" in scheduling, (
        "docs/census.md names only the scheduler's and DAG processor's environment for GITHUB_ETL_SCHEDULED_MODE; "
        f"a worker without it runs the scheduled census as a {ran}:\n{scheduling}"
    )


@pytest.mark.parametrize("mode", ["search", "owners"])
def test_a_scheduled_mode_that_cannot_run_is_refused_naming_the_setting(monkeypatch, mode) -> None:
    """GITHUB_ETL_SCHEDULED_MODE=search (or owners) is taken by scheduled_mode(), then fails the DAG's import
    with "the DAG's param defaults {} would fail every scheduled run: mode 'search' needs ... 'query'":
    nothing in it names the variable that was set, and no variable can give the query."""
    from github_etl.params import trigger_form_params

    monkeypatch.setenv("GITHUB_ETL_SCHEDULED_MODE", mode)
    with pytest.raises(ConfigurationError) as refused:
        trigger_form_params()

    message = str(refused.value)
    assert message.startswith(f"GITHUB_ETL_SCHEDULED_MODE={mode} would fail every scheduled run"), message
    assert "harvest_dag(" in message
