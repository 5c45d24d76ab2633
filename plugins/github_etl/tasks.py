"""What each task of the DAG does, as plain functions: the DAG file only wires them together.

Each function takes what Airflow hands a task (params, run id, logical date, upstream XCom values)
and returns what goes to XCom: URIs and counts, never the data itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from github_etl.staging import RunStaging, iter_jsonl_uri, read_json_uri, staged_json

log = logging.getLogger(__name__)

# Counters summed over shards into the run's totals.
SHARD_COUNTERS = ("listed", "enriched", "skipped", "api_requests", "failed_requests")
TRANSFORM_COUNTERS = ("rows", "rejected")


def transform_shard(staging: RunStaging, extracted: dict[str, Any]) -> dict[str, Any]:
    """Turn one shard's raw batches into a COPY-ready row file, its key file and a quarantine file, streaming.

    The ids GitHub no longer serves (with why), which batches report beside repositories, go to a file of
    their own as each batch is read, so nothing here grows with the shard.
    """
    from github_etl.transform import transform_records

    summary = read_json_uri(extracted["done_uri"])
    key = summary["shard"]
    totals = dict.fromkeys(TRANSFORM_COUNTERS, 0)
    reasons: dict[str, int] = {}
    with (
        staging.writer("rows", f"{key}.tsv") as rows_out,
        staging.writer("keys", f"{key}.tsv") as keys_out,
        staging.writer("rejected", f"{key}.jsonl") as rejected_out,
        staging.writer("gone", f"{key}.jsonl") as gone_out,
    ):
        for batch_uri in summary["batches"]:
            document = read_json_uri(batch_uri)
            reasons_of = document.get("gone_reasons", {})
            gone_out.writelines(staged_json([int(i), reasons_of[str(i)]]) + "\n" for i in document.get("gone", []))
            stats = transform_records(
                document["items"],
                rows_out,
                rejected_out,
                source_format=document.get("format", "rest"),
                keys_out=keys_out,
            )
            totals["rows"] += stats.rows
            totals["rejected"] += stats.rejected
            for reason, count in stats.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + count
    if totals["rejected"]:
        log.warning("Shard %s: %s record(s) quarantined: %s", key, totals["rejected"], reasons)
    return {
        "shard": key,
        "observed_at": summary["observed_at"],
        **{name: extracted.get(name, 0) for name in SHARD_COUNTERS},
        **totals,
        "reasons": reasons,
        "rows_uri": staging.uri("rows", f"{key}.tsv"),
        "keys_uri": staging.uri("keys", f"{key}.tsv"),
        "rejected_uri": staging.uri("rejected", f"{key}.jsonl"),
        "gone_ids_uri": staging.uri("gone", f"{key}.jsonl"),
    }


def run_totals(transformed: list[dict[str, Any]], plan: dict[str, Any]) -> dict[str, int]:
    """Sum the shards' counters into the run's audit figures."""
    totals = {name: 0 for name in (*SHARD_COUNTERS, *TRANSFORM_COUNTERS)}
    for shard in transformed:
        for name in totals:
            totals[name] += int(shard.get(name, 0) or 0)
    totals["api_requests"] += int(plan.get("discovery_requests", 0))
    return totals


def gone_ids(transformed: list[dict[str, Any]]) -> Iterator[tuple[int, str]]:
    """``(id, reason)`` of the repositories GitHub no longer serves, streamed (repeats are left to the load)."""
    for shard in transformed:
        for repo_id, reason in iter_jsonl_uri(shard["gone_ids_uri"]):
            yield int(repo_id), reason


def rejected_records(transformed: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for shard in transformed:
        yield from iter_jsonl_uri(shard["rejected_uri"])


def observed_at_of(transformed: list[dict[str, Any]], context: dict[str, Any]) -> datetime:
    """When the run fetched its data: the earliest shard's start, as staged by the extract.

    GitHub serves only current values, so this (not the logical date) is the date every observation is
    stored under. Staged, so a re-run of the load stores the same dates. A run without shards observed
    nothing; its audit row takes the load's time.
    """
    from github_etl.extract.shards import observation_clock

    starts = [datetime.fromisoformat(shard["observed_at"]) for shard in transformed]
    return min(starts) if starts else observation_clock()


def logical_date_of(context: dict[str, Any]) -> datetime:
    """The run's logical date; manual runs without one fall back to when the run was queued."""
    value = context.get("logical_date") or context["dag_run"].run_after
    return value


def _run_identity(context: dict[str, Any]) -> tuple[str, str, datetime]:
    return context["dag"].dag_id, context["run_id"], logical_date_of(context)


def load_run_task(
    context: dict[str, Any], transformed: list[dict[str, Any]], *, warehouse_conn_id: str
) -> dict[str, Any]:
    """Load every shard's rows in one transaction and write the audit row; returns counts for XCom."""
    from github_etl.extract.plan import PLAN_FILE
    from github_etl.hooks.warehouse import DatabaseConnection
    from github_etl.load import STATS_KEYS, load_run
    from github_etl.settings import max_deleted_share
    from github_etl.staging import storage_path

    dag_id, run_id, logical_date = _run_identity(context)
    staging = RunStaging(dag_id, run_id)
    meta = staging.read_json(PLAN_FILE)
    totals = run_totals(transformed, meta)
    started_at = context["dag_run"].start_date
    with DatabaseConnection(conn_id=warehouse_conn_id) as db:
        result = load_run(
            db,
            row_files=[storage_path(shard["rows_uri"]) for shard in transformed],
            key_files=[storage_path(shard["keys_uri"]) for shard in transformed],
            run_id=run_id,
            dag_id=dag_id,
            logical_date=logical_date,
            observed_at=observed_at_of(transformed, context),
            mode=meta.get("mode", "sample"),
            stats={key: totals[key] for key in STATS_KEYS},
            deleted=gone_ids(transformed),
            max_deleted_share=max_deleted_share(),
            started_at=started_at,
            unreachable=meta.get("unreachable", ()),
            census=meta.get("census"),
        )
    return {**totals, **result.as_dict(), "run_id": run_id}


def check_task(
    context: dict[str, Any],
    loaded: dict[str, Any],
    *,
    warehouse_conn_id: str,
    results: list[tuple[str, bool, str]] | None = None,
) -> dict[str, Any]:
    """Run the data-quality checks; a failure names the check and the offending ids.

    :param results: filled with ``(check, passed, message)`` of every check, failed or not (for lineage).
    """
    from github_etl.errors import DataQualityError
    from github_etl.hooks.warehouse import DatabaseConnection
    from github_etl.load.checks import QUALITY_CHECKS, load_quality_checks

    with DatabaseConnection(conn_id=warehouse_conn_id) as db:
        failures = load_quality_checks(db, loaded["run_id"])
    if results is not None:
        failed = {f.check: f.message for f in failures}
        results.extend((c.name, c.name not in failed, failed.get(c.name, c.expectation)) for c in QUALITY_CHECKS)
        results.extend(
            (name, False, message) for name, message in failed.items() if (name, False, message) not in results
        )
    if failures:
        details = "; ".join(f"{f.check}: {f.message} (ids {list(f.ids)})" for f in failures)
        raise DataQualityError(f"{len(failures)} data-quality check(s) failed: {details}")
    log.info("All %s data-quality checks passed", len(QUALITY_CHECKS))
    return {"checks": [check.name for check in QUALITY_CHECKS], "failed": 0}


def report_task(context: dict[str, Any], loaded: dict[str, Any], *, warehouse_conn_id: str) -> dict[str, Any]:
    """Log the run's figures and the warehouse's total."""
    from github_etl.hooks.warehouse import DatabaseConnection, count_repositories

    with DatabaseConnection(conn_id=warehouse_conn_id) as db:
        total = count_repositories(db)
    figures = {
        name: loaded.get(name, 0)
        for name in ("listed", "enriched", "skipped", "rejected", "inserted", "updated", "unchanged", "api_requests")
    }
    log.info(
        "Run %s: listed %s, enriched %s, skipped %s, rejected %s, inserted %s, updated %s, unchanged %s, "
        "%s API request(s)",
        loaded["run_id"],
        *figures.values(),
    )
    log.info("github.repositories holds %s repositories", total)
    return {**figures, "total_in_table": total}
