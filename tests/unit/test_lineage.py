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
