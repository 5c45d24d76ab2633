"""Assets the pipeline emits, so downstream DAGs can be scheduled on fresh warehouse data."""

from __future__ import annotations

from airflow.sdk import Asset

# The URI names the warehouse logically ("warehouse" host and database): consumers match on it, and the
# real server behind the postgres_default connection may differ between deployments.
REPOSITORIES_ASSET = Asset(name="github.repositories", uri="postgres://warehouse:5432/warehouse/github/repositories")
