"""OpenLineage metadata of a run, for Airflow's OpenLineage provider (Marquez, DataHub, ...).

The provider's listener asks the ``load`` and ``check`` operators for their lineage when they finish
(``get_openlineage_facets_on_complete``); this module builds it: the GitHub API as input, the warehouse
tables as outputs, the schema of ``github.repositories``, the run's row counts, and the quality checks
as data-quality assertions. Nothing is emitted unless a deployment configures an OpenLineage transport.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from github_etl.settings import DEFAULT_API_URL

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset

# Named as the asset names the warehouse (github_etl.assets): logically, whatever server serves it.
WAREHOUSE_NAMESPACE = "postgres://warehouse:5432"
WAREHOUSE_DATABASE = "warehouse"
GITHUB_DATASET = "/repositories"
# Output tables of a load, and the counts of the load's result that say how many rows each received.
LOAD_OUTPUTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("repositories", ("inserted", "updated")),
    ("repository_snapshots", ("snapshots",)),
    ("repository_history", ()),
    ("load_runs", ()),
)


def table_name(table: str) -> str:
    """An OpenLineage dataset name of a warehouse table: ``database.schema.table``."""
    return f"{WAREHOUSE_DATABASE}.github.{table}"


def load_lineage(
    loaded: Mapping[str, Any], columns: Iterable[tuple[str, str]], github_url: str | None = None
) -> OperatorLineage:
    """What a load read and wrote.

    :param loaded: the load task's result (its counts).
    :param columns: ``(name, type)`` of ``github.repositories``, in order: its schema facet.
    :param github_url: the GitHub API the run fetched from.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset, OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset, schema_dataset

    github = Dataset(namespace=(github_url or DEFAULT_API_URL).rstrip("/"), name=GITHUB_DATASET)
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in columns]
    )
    outputs = []
    for table, counts in LOAD_OUTPUTS:
        facets = {"schema": schema} if table == "repositories" else {}
        output_facets = {}
        if counts:
            rows = sum(int(loaded.get(count, 0) or 0) for count in counts)
            output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows
            )
        outputs.append(
            OutputDataset(
                namespace=WAREHOUSE_NAMESPACE, name=table_name(table), facets=facets, outputFacets=output_facets
            )
        )
    return OperatorLineage(inputs=[github], outputs=outputs)


def check_lineage(results: Iterable[tuple[str, bool, str]]) -> OperatorLineage:
    """The quality checks of a run as data-quality assertions on ``github.repositories``.

    :param results: ``(check, passed, message)`` of every check run.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    assertions = [
        dq.Assertion(assertion=name, success=passed, description=message or None) for name, passed, message in results
    ]
    repositories: Dataset = InputDataset(
        namespace=WAREHOUSE_NAMESPACE,
        name=table_name("repositories"),
        inputFacets={"dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(assertions=assertions)},
    )
    return OperatorLineage(inputs=[repositories])
