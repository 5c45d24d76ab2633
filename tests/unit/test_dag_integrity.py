"""DAG integrity: every DAG imports, and follows the project's rules (tags, owner, retries, no parse-time I/O)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.fixtures.airflow import DAGS_FOLDER, load_dagbag

DAG_FILES = sorted(p.name for p in DAGS_FOLDER.glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    return load_dagbag()


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_file_imports_without_errors(dagbag, dag_file: str) -> None:
    errors = {Path(path).name: message for path, message in dagbag.import_errors.items()}
    assert dag_file not in errors, errors.get(dag_file)


def _dags(dagbag):
    return sorted(dagbag.dags.values(), key=lambda d: d.dag_id)


def test_the_pipeline_dag_is_defined(dagbag) -> None:
    dag = dagbag.dags["github_repositories"]
    assert dag is not None
    assert [t.task_id for t in dag.topological_sort()] == [
        "prepare",
        "plan",
        "extract",
        "transform",
        "load",
        "check",
        "report",
    ]


@pytest.mark.parametrize("rule", ["tags", "owner", "retries", "doc_md"])
def test_every_dag_follows_the_rules(dagbag, rule: str) -> None:
    for dag in _dags(dagbag):
        if rule == "tags":
            assert dag.tags, f"{dag.dag_id} has no tags"
        elif rule == "owner":
            assert all(t.owner not in ("", "airflow") for t in dag.tasks), f"{dag.dag_id} has tasks without owner"
        elif rule == "retries":
            assert all(t.retries >= 1 for t in dag.tasks), f"{dag.dag_id} has tasks without retries"
        else:
            assert dag.doc_md and len(dag.doc_md) > 200, f"{dag.dag_id} has no doc_md"


def test_dag_docs_link_nothing_from_the_servers_root(dagbag) -> None:
    """A link starting with / ignores the path of Airflow's [api] base_url: served under /airflow/, the docs'
    link to the repository API led to a page that does not exist."""
    for dag in dagbag.dags.values():
        assert not re.findall(r"\]\(/", dag.doc_md or ""), dag.dag_id


def test_pipeline_schedule_and_catchup(dagbag) -> None:
    dag = dagbag.dags["github_repositories"]
    assert dag.catchup is False
    assert dag.schedule == "@daily"
    assert dag.max_active_runs == 1


def test_api_tasks_use_the_github_pool(dagbag) -> None:
    dag = dagbag.dags["github_repositories"]
    assert dag.get_task("plan").pool == "github_api"
    assert dag.get_task("extract").pool == "github_api"
    assert dag.get_task("load").pool != "github_api"


def test_trigger_form_params(dagbag) -> None:
    params = dagbag.dags["github_repositories"].params
    assert params["mode"] == "sample"
    assert set(params.keys()) >= {"mode", "sample_size", "seed", "per_page_take", "query", "owners", "stale_days"}
    assert params.get_param("mode").schema["enum"] == ["sample", "search", "owners", "refresh", "census"]
    assert {"since_id", "until_id"} <= set(params.keys())


# Modules whose import would do I/O or cost seconds: they must only be imported inside tasks.
HEAVY_MODULES = {"psycopg2", "requests", "boto3", "s3fs", "github_etl.load", "github_etl.hooks.warehouse"}


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_no_heavy_imports_or_io_at_parse_time(dag_file: str) -> None:
    tree = ast.parse((DAGS_FOLDER / dag_file).read_text())
    top_level_imports = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level_imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            # ``from package import module`` imports the module too.
            top_level_imports.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    # A heavy package's submodules (github_etl.load.checks) import the package first.
    heavy = {name for name in top_level_imports if any(name == m or name.startswith(f"{m}.") for m in HEAVY_MODULES)}
    assert not heavy, heavy


def test_consumer_is_scheduled_on_the_loaded_asset(dagbag) -> None:
    from github_etl.assets import REPOSITORIES_ASSET

    producer = dagbag.dags["github_repositories"]
    consumer = dagbag.dags["github_repositories_consumer"]
    # Emitted once the checks pass, never by the load itself.
    assert REPOSITORIES_ASSET in producer.get_task("check").outlets
    assert REPOSITORIES_ASSET not in producer.get_task("load").outlets
    assert consumer.schedule == [REPOSITORIES_ASSET]


def test_a_failed_run_alerts_and_a_late_one_fires_a_deadline_alert(monkeypatch) -> None:
    from datetime import timedelta

    from github_etl.alerts import RunFailureNotifier

    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_ALERT", "true")
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "6")
    dag = load_dagbag().dags["github_repositories"]

    callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    assert any(isinstance(callback, RunFailureNotifier) for callback in callbacks)
    (deadline,) = dag.deadline
    assert timedelta(seconds=deadline.interval) == timedelta(hours=6)
    assert deadline.callback.kwargs == {"hours": 6.0}
