"""OpenLineage metadata of a run, for Airflow's OpenLineage provider (Marquez, DataHub, ...).

The provider's listener asks the ``load`` and ``check`` operators for their lineage when they finish
(``get_openlineage_facets_on_complete``); this module builds it: the GitHub API as input, the warehouse
tables as outputs (named as OpenLineage names PostgreSQL tables) with their schemas, the run's row counts,
and the quality checks as data-quality assertions. Nothing is emitted unless a deployment configures an
OpenLineage transport.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from github_etl.settings import DEFAULT_API_URL

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset

GITHUB_DATASET = "/repositories"
# libpq's defaults, which OpenLineage's naming spells out: a dataset is known by the server's host and port.
DEFAULT_HOST = "localhost"
DEFAULT_PORT = 5432
# Output tables of every load, and the counts of the load's result that say how many rows each received.
LOAD_OUTPUTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("repositories", ("inserted", "updated", "marked_deleted")),
    ("repository_snapshots", ("snapshots",)),
    ("repository_history", ()),
    ("load_runs", ()),
)
# Written, in the same transaction, by a load that wrote snapshots: the API's summaries of the snapshot date
# (github.refresh_day_summaries).
DAY_SUMMARY_OUTPUTS = ("language_days", "star_gains", "star_gain_topics", "star_gain_windows")
# Written by a census run's load: the census's cursor and the id ranges it has covered.
CENSUS_OUTPUTS = ("census_cursor", "census_ranges")
# Every table a load may write, whose schemas the lineage reports.
ALL_LOAD_OUTPUTS = (*(table for table, _ in LOAD_OUTPUTS), *DAY_SUMMARY_OUTPUTS, *CENSUS_OUTPUTS)


@dataclass(frozen=True)
class Warehouse:
    """Where the warehouse's tables are, as OpenLineage names a PostgreSQL dataset.

    :param namespace: ``postgres://host:port`` of the server.
    :param database: the database holding the schema ``github``.
    """

    namespace: str
    database: str

    def table(self, table: str) -> str:
        """An OpenLineage dataset name of a warehouse table: ``database.schema.table``."""
        return f"{self.database}.github.{table}"


def warehouse_of(conn_id: str) -> Warehouse:
    """The warehouse an Airflow connection leads to, named from its settings alone (no connection is made).

    Host, port and database as libpq reads them (an extra ``host``, ``port`` or ``dbname`` wins over the field),
    the port written out when the connection leaves it to the default, so that every form of one connection
    names every table the same. The host is the connection's, a name or an address: never resolved.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    # Lower-cased as a URI connection's host is by Airflow, and by Airflow's own SQL operators' lineage.
    host = str(extra.get("host") or conn.host or "").split(",")[0].strip().lower()
    # A socket directory (or no host at all) is this machine's server.
    if not host or host.startswith("/"):
        host = DEFAULT_HOST
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = str(extra.get("port") or conn.port or DEFAULT_PORT).split(",")[0].strip()
    # libpq's default database is the user's name.
    database = str(extra.get("dbname") or conn.schema or conn.login or "postgres")
    return Warehouse(namespace=f"postgres://{host}:{port}", database=database)


def load_outputs(loaded: Mapping[str, Any], mode: str | None) -> list[tuple[str, tuple[str, ...]]]:
    """The tables a load wrote, each with the counts of its result that say how many rows it received.

    :param loaded: the load's result (its counts); empty when it committed nothing.
    :param mode: the run's mode; None when unknown (a load that failed before it read the run's plan).
    """
    outputs = list(LOAD_OUTPUTS)
    if int(loaded.get("snapshots", 0) or 0):
        outputs += [(table, ()) for table in DAY_SUMMARY_OUTPUTS]
    if mode == "census":
        outputs += [(table, ()) for table in CENSUS_OUTPUTS]
    return outputs


def load_lineage(
    loaded: Mapping[str, Any],
    columns: Mapping[str, Iterable[tuple[str, str]]],
    warehouse: Warehouse,
    github_url: str | None = None,
    mode: str | None = None,
) -> OperatorLineage:
    """What a load read and wrote.

    :param loaded: the load task's result (its counts); empty when it committed nothing.
    :param columns: ``(name, type)`` of each table written, in order: its schema facet (none when unknown).
    :param warehouse: where the tables are.
    :param github_url: the GitHub API the run fetched from.
    :param mode: the run's mode (a census load writes the census's tables too).
    """
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset, OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset, schema_dataset

    github = Dataset(namespace=(github_url or DEFAULT_API_URL).rstrip("/"), name=GITHUB_DATASET)
    outputs = []
    for table, counts in load_outputs(loaded, mode):
        fields = [
            schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in columns.get(table, ())
        ]
        facets = {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)} if fields else {}
        output_facets = {}
        if counts:
            rows = sum(int(loaded.get(count, 0) or 0) for count in counts)
            output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows
            )
        outputs.append(
            OutputDataset(
                namespace=warehouse.namespace, name=warehouse.table(table), facets=facets, outputFacets=output_facets
            )
        )
    return OperatorLineage(inputs=[github], outputs=outputs)


def check_lineage(results: Iterable[tuple[str, bool, str]], warehouse: Warehouse) -> OperatorLineage:
    """The quality checks of a run as data-quality assertions on ``github.repositories``.

    :param results: ``(check, passed, message)`` of every check run; none yet when the task starts.
    :param warehouse: where the table is.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    assertions = [
        dq.Assertion(assertion=name, success=passed, description=message or None) for name, passed, message in results
    ]
    input_facets = {"dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(assertions=assertions)}
    repositories: Dataset = InputDataset(
        namespace=warehouse.namespace,
        name=warehouse.table("repositories"),
        inputFacets=input_facets if assertions else {},
    )
    return OperatorLineage(inputs=[repositories])
