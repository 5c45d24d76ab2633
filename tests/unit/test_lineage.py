"""How the lineage names the warehouse's tables, from each form a deployment may write its connection in."""

from __future__ import annotations

import json

import pytest

from github_etl.lineage import warehouse_of

FORMS = [
    # The same server and database, written with and without the default port, as a URI or as JSON.
    ("postgresql://etl:pw@db.corp.example/analytics", "postgres://db.corp.example:5432", "analytics"),
    ("postgresql://etl:pw@db.corp.example:5432/analytics", "postgres://db.corp.example:5432", "analytics"),
    (json.dumps({"conn_type": "postgres", "host": "db.corp.example", "schema": "analytics"}), None, None),
    (json.dumps({"conn_type": "postgres", "host": "db.corp.example", "port": 5432, "schema": "analytics"}), "", ""),
    # libpq's own parameters in the extras win over the fields, as they do when connecting.
    (
        json.dumps({"conn_type": "postgres", "host": "x", "extra": {"host": "db.corp.example", "dbname": "analytics"}}),
        None,
        None,
    ),
    # An address is named as the address: which one a deployment writes is its choice.
    ("postgresql://etl@10.0.0.7:6432/analytics", "postgres://10.0.0.7:6432", "analytics"),
    # No host: the server of this machine, through its socket; no database: the user's name, as libpq reads it.
    (json.dumps({"conn_type": "postgres", "login": "etl"}), "postgres://localhost:5432", "etl"),
    (json.dumps({"conn_type": "postgres", "host": "::1", "schema": "analytics"}), "postgres://[::1]:5432", "analytics"),
    # A host name in capitals: Airflow lower-cases it in a URI, and so do its own SQL operators' lineage.
    ("postgresql://etl:pw@DB.Corp.Example/analytics", None, None),
    (json.dumps({"conn_type": "postgres", "host": "DB.Corp.Example", "schema": "analytics"}), None, None),
]


@pytest.mark.parametrize(("connection", "namespace", "database"), FORMS)
def test_every_form_of_a_connection_names_the_server_with_its_port_and_the_database(
    connection: str, namespace: str | None, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_UNDER_TEST", connection)

    warehouse = warehouse_of("warehouse_under_test")

    assert (warehouse.namespace, warehouse.database) == (
        namespace or "postgres://db.corp.example:5432",
        database or "analytics",
    )
    assert warehouse.table("repositories") == f"{warehouse.database}.github.repositories"


def test_the_rows_a_load_wrote_count_the_repositories_it_marked_deleted() -> None:
    from github_etl.lineage import Warehouse, load_lineage

    loaded = {"inserted": 1, "updated": 2, "unchanged": 5, "marked_deleted": 3, "snapshots": 3}
    lineage = load_lineage(loaded, {}, Warehouse(namespace="postgres://localhost:5432", database="analytics"))

    written = {output.name: output.outputFacets.get("outputStatistics") for output in lineage.outputs}
    assert written["analytics.github.repositories"].rowCount == 6
    assert written["analytics.github.repository_snapshots"].rowCount == 3


@pytest.fixture
def silent_warehouse(monkeypatch: pytest.MonkeyPatch):
    """The warehouse connection leads to a port that accepts connections and never answers libpq."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))
    silent.setblocking(False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_POSTGRES_DEFAULT", f"postgresql://etl:s3cret@127.0.0.1:{silent.getsockname()[1]}/analytics"
    )
    monkeypatch.setenv("AIRFLOW_CONN_GITHUB_DEFAULT", json.dumps({"conn_type": "http", "host": "https://ghe.example"}))
    with silent:
        yield silent


def _accepted(listener) -> int:
    accepted = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return accepted
        connection.close()
        accepted += 1


def test_a_failed_loads_lineage_names_its_tables_without_waiting_on_the_warehouse(silent_warehouse) -> None:
    """The provider gives a task's failure lineage ``[openlineage] execution_timeout`` (10 s) and drops the whole
    FAIL event past it; a load that failed on a warehouse that does not answer would spend more than that
    connecting to it again (3 retries, 10 s each) for column types. The names need no connection."""
    from airflow.providers.openlineage.extractors.base import DefaultExtractor

    from github_etl.operators.warehouse import GitHubLoadOperator

    lineage = DefaultExtractor(GitHubLoadOperator(task_id="load", transformed=[])).extract_on_failure(None)

    assert _accepted(silent_warehouse) == 0, "the failure lineage connected to the warehouse"
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("https://ghe.example/api/v3", "/repositories")]
    assert {d.name for d in lineage.outputs} == {
        "analytics.github.repositories",
        "analytics.github.repository_snapshots",
        "analytics.github.repository_history",
        "analytics.github.load_runs",
    }


def test_a_loads_lineage_goes_without_schemas_when_the_catalog_cannot_be_read(monkeypatch, caplog) -> None:
    """A warehouse gone right after the load committed costs the event its schema facets, not the event."""
    import socket

    from github_etl.operators.warehouse import GitHubLoadOperator

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", f"postgresql://etl:s3cret@127.0.0.1:{port}/analytics")

    lineage = GitHubLoadOperator(task_id="load", transformed=[]).get_openlineage_facets_on_complete(None)

    assert "analytics.github.repositories" in {d.name for d in lineage.outputs}
    assert all("schema" not in d.facets for d in lineage.outputs)
    assert "goes without table schemas" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    ("loaded", "mode", "also_written"),
    [
        (
            {"inserted": 3, "snapshots": 3},
            "sample",
            {"language_days", "star_gains", "star_gain_topics", "star_gain_windows"},
        ),
        (
            {"inserted": 3, "snapshots": 3},
            "census",
            {"language_days", "star_gains", "star_gain_topics", "star_gain_windows", "census_cursor", "census_ranges"},
        ),
        # Nothing changed: no snapshot written, so the day's summaries were not rebuilt.
        ({"unchanged": 3, "snapshots": 0}, "search", set()),
        ({"unchanged": 3, "snapshots": 0}, "census", {"census_cursor", "census_ranges"}),
    ],
)
def test_a_loads_outputs_are_the_tables_its_transaction_wrote(loaded, mode, also_written) -> None:
    from github_etl.lineage import Warehouse, load_lineage

    lineage = load_lineage(
        loaded, {}, Warehouse(namespace="postgres://localhost:5432", database="analytics"), mode=mode
    )

    tables = {output.name.removeprefix("analytics.github.") for output in lineage.outputs}
    assert tables == {"repositories", "repository_snapshots", "repository_history", "load_runs"} | also_written
