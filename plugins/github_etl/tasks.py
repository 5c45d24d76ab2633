"""What each task of the DAG does, as plain functions: the DAG file only wires them together.

Each function takes what Airflow hands a task (params, run id, logical date, upstream results) and
returns a typed record whose XCom form holds URIs and counts, never the data itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from github_etl import metrics
from github_etl.errors import IncompleteRunError, StaleShardError
from github_etl.extract.enrich import REST, StagedBatch
from github_etl.extract.shards import ExtractResult, batch_uris
from github_etl.staging import (
    RunStaging,
    collision,
    iter_jsonl_uri,
    read_json_uri,
    run_folder,
    staged_files_of,
    staged_json,
)
from github_etl.xcom import XComRecord

if TYPE_CHECKING:
    from github_etl.extract.plan import RunPlan
    from github_etl.load import LoadResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransformResult(XComRecord):
    """One shard made ready for the load: its staged files and counts.

    :param extracted: the shard's extract result.
    :param reasons: quarantined records per reason.
    :param keys_uri: ``id``, ``row_hash`` per row of ``rows_uri``.
    :param gone_ids_uri: ``[id, reason]`` per line, of the repositories GitHub no longer serves.
    """

    extracted: ExtractResult
    rows: int
    rejected: int
    reasons: dict[str, int]
    rows_uri: str
    keys_uri: str
    rejected_uri: str
    gone_ids_uri: str

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Self:
        return cls(**{**data, "extracted": ExtractResult.from_xcom(data["extracted"])})


@dataclass(frozen=True)
class RunTotals(XComRecord):
    """The shards' counters summed, planning's requests included: the run's audit figures.

    :param rejected_reasons: quarantined records per reason, over every shard.
    :param missing_owners: owners mode: owners the plan found that GitHub no longer knew when they were listed
        (deleted or renamed meanwhile): their repositories are missing from the run.
    :param read_over_rest: repositories GraphQL gave no node for or refused that were asked over REST.
    """

    listed: int
    enriched: int
    skipped: int
    api_requests: int
    failed_requests: int
    rows: int
    rejected: int
    rejected_reasons: dict[str, int]
    missing_owners: int
    read_over_rest: int


@dataclass(frozen=True)
class LoadedRun(XComRecord):
    """What the load task hands the check and the report."""

    run_id: str
    totals: RunTotals
    result: LoadResult
    mode: str

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Self:
        from github_etl.load import LoadResult

        return cls(
            data["run_id"], RunTotals.from_xcom(data["totals"]), LoadResult.from_xcom(data["result"]), data["mode"]
        )


def transform_shard(staging: RunStaging, extracted: ExtractResult) -> TransformResult:
    """Turn one shard's raw batches into a COPY-ready row file, its key file and a quarantine file, streaming.

    The ids GitHub no longer serves (with why), which batches report beside repositories, go to a file of
    their own as each batch is read, so nothing here grows with the shard.
    """
    from github_etl.transform import transform_records

    key = extracted.shard
    rows = rejected = 0
    reasons: dict[str, int] = {}
    # A transform run again (retried, or cleared with the extract) rewrites the quarantine of an earlier one:
    # the metric counts a shard's records once, as the extract's and the load's do. The quarantine file is
    # published last (writers publish as they close, the last opened first), so it is there only once every
    # file of the shard was, and the metric sent right after: an attempt that failed staging its rows did
    # not count them.
    counted = staging.exists("rejected", f"{key}.jsonl")
    with (
        staged_files_of(staging),
        staging.writer("rejected", f"{key}.jsonl") as rejected_out,
        staging.writer("rows", f"{key}.tsv") as rows_out,
        staging.writer("keys", f"{key}.tsv") as keys_out,
        staging.writer("gone", f"{key}.jsonl") as gone_out,
    ):
        for batch_uri in batch_uris(staging, extracted):
            batch = StagedBatch.from_json(read_json_uri(batch_uri))
            gone_out.writelines(staged_json([int(i), batch.gone_reasons[str(i)]]) + "\n" for i in batch.gone)
            parts = [(batch.items, batch.format), (batch.rest_items or [], REST)]
            for stats in (
                transform_records(items, rows_out, rejected_out, source_format=source, keys_out=keys_out)
                for items, source in parts
                if items
            ):
                rows += stats.rows
                rejected += stats.rejected
                for reason, count in stats.reasons.items():
                    reasons[reason] = reasons.get(reason, 0) + count
    rejected_uri = staging.uri("rejected", f"{key}.jsonl")
    if rejected:
        # Where the records are, so that whoever reads the task log need not know the staging layout.
        log.warning(
            "Shard %s: %s record(s) quarantined (%s), each with its id, reason and record in %s",
            key,
            rejected,
            describe_reasons(reasons),
            rejected_uri,
        )
    if not counted:
        metrics.incr(metrics.TRANSFORM_QUARANTINED, rejected)
    return TransformResult(
        extracted=extracted,
        rows=rows,
        rejected=rejected,
        reasons=reasons,
        rows_uri=staging.uri("rows", f"{key}.tsv"),
        keys_uri=staging.uri("keys", f"{key}.tsv"),
        rejected_uri=rejected_uri,
        gone_ids_uri=staging.uri("gone", f"{key}.jsonl"),
    )


def describe_reasons(reasons: Mapping[str, int]) -> str:
    """``3 wrong_type:stargazers_count, 1 missing_field:full_name``: the commonest reason first."""
    return ", ".join(
        f"{count} {reason}" for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    )


def run_totals(transformed: list[TransformResult], plan: RunPlan) -> RunTotals:
    """Sum the shards' counters into the run's audit figures."""
    extracted = [shard.extracted for shard in transformed]
    reasons: dict[str, int] = {}
    for shard in transformed:
        for reason, count in shard.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    return RunTotals(
        listed=sum(shard.listed for shard in extracted),
        enriched=sum(shard.enriched for shard in extracted),
        skipped=sum(shard.skipped for shard in extracted),
        api_requests=plan.discovery_requests + sum(shard.api_requests for shard in extracted),
        failed_requests=plan.discovery_failed_requests + sum(shard.failed_requests for shard in extracted),
        rows=sum(shard.rows for shard in transformed),
        rejected=sum(shard.rejected for shard in transformed),
        rejected_reasons=reasons,
        missing_owners=sum(shard.missing_owners for shard in extracted),
        read_over_rest=sum(shard.read_over_rest for shard in extracted),
    )


def gone_ids(transformed: list[TransformResult]) -> Iterator[tuple[int, str]]:
    """``(id, reason)`` of the repositories GitHub no longer serves, streamed (repeats are left to the load)."""
    for shard in transformed:
        for repo_id, reason in iter_jsonl_uri(shard.gone_ids_uri):
            yield int(repo_id), reason


def observed_at_of(transformed: list[TransformResult]) -> datetime:
    """When the run fetched its data: the earliest shard's start, as staged by the extract.

    GitHub serves only current values, so this (not the logical date) is the date every observation is
    stored under. Staged, so a re-run of the load stores the same dates. A run without shards observed
    nothing; its audit row takes the load's time.
    """
    from github_etl.extract.shards import observation_clock

    starts = [datetime.fromisoformat(shard.extracted.observed_at) for shard in transformed]
    return min(starts) if starts else observation_clock()


def _require_one_observation(plan: RunPlan, transformed: list[TransformResult], staging: RunStaging) -> None:
    """Refuse a run whose shards were fetched further apart than a run may take.

    Every observation of a run is stored under its earliest shard's start: a shard fetched days later (its
    extract failed and was cleared then, or the DAG was unpaused then) would store that day's counts as the
    first day's, and behind the runs loaded meanwhile. Within the deadline a run is one observation.
    """
    from github_etl.settings import run_deadline_hours

    deadline = timedelta(hours=run_deadline_hours())
    starts = {shard.extracted.shard: datetime.fromisoformat(shard.extracted.observed_at) for shard in transformed}
    if not starts or max(starts.values()) - min(starts.values()) <= deadline:
        return
    latest = max(starts.values())
    index_of = {shard.key: index for index, shard in enumerate(plan.shards)}
    early = sorted((key for key, start in starts.items() if latest - start > deadline), key=index_of.__getitem__)
    named = ", ".join(f"[{index_of[key]}] {key} ({starts[key]:%Y-%m-%d %H:%M} UTC)" for key in early[:20])
    more = f" and {len(early) - 20} more" if len(early) > 20 else ""
    raise StaleShardError(
        f"Run {staging.run_id}'s shards were fetched from {min(starts.values()):%Y-%m-%d %H:%M} to "
        f"{latest:%Y-%m-%d %H:%M} UTC, further apart than GITHUB_ETL_RUN_DEADLINE_HOURS "
        f"({run_deadline_hours():g} h). A run's observations are stored under its earliest shard's start, so what was "
        f"fetched last would be stored as seen then; nothing was loaded. Fetch the earlier shards again: delete "
        f"their staged folders ({run_folder(staging)}/raw/<shard>/) and clear their extract tasks (map indexes "
        f"{named}{more}) with their downstream tasks; or mark this run failed and trigger a new one."
    )


def logical_date_of(context: dict[str, Any]) -> datetime:
    """The run's logical date; manual runs without one fall back to when the run was queued."""
    value = context.get("logical_date") or context["dag_run"].run_after
    return value


def run_started_at(dag_run: Any, *, now: datetime) -> datetime | None:
    """When the run began: its start date, which ``airflow dags test`` (``make run``) sets to the logical
    date, so bounded by when the run was created (``run_after``) and by ``now``; None when unknown."""
    started = dag_run.start_date
    if started is None:
        return None
    if dag_run.run_after is not None:
        started = max(started, dag_run.run_after)
    return min(started, now)


def _run_identity(context: dict[str, Any]) -> tuple[str, str, datetime]:
    return context["dag"].dag_id, context["run_id"], logical_date_of(context)


def load_run_task(context: dict[str, Any], transformed: list[TransformResult], *, warehouse_conn_id: str) -> LoadedRun:
    """Load every shard's rows in one transaction and write the audit row."""
    from github_etl.extract.plan import PLAN_FILE, RunPlan
    from github_etl.hooks.warehouse import DatabaseConnection
    from github_etl.load import STATS_KEYS, load_run
    from github_etl.settings import max_deleted_share
    from github_etl.staging import storage_path

    dag_id, run_id, logical_date = _run_identity(context)
    staging = RunStaging(dag_id, run_id)
    with staged_files_of(staging):
        plan = RunPlan.from_xcom(staging.read_json(PLAN_FILE))
    for shard in transformed:
        # Another run of this id planned over this one's plan after its shards were staged: the staged plan (its
        # census range, its mode) no longer describes the rows, so loading them would move the cursor over ids no
        # shard listed.
        if shard.extracted.plan_id != plan.plan_id:
            raise collision(
                staging,
                f"its staged plan is plan {plan.plan_id}, but shard {shard.extracted.shard} was staged for plan "
                f"{shard.extracted.plan_id}",
            )
    _require_every_shard(plan, transformed, run_id)
    _require_one_observation(plan, transformed, staging)
    totals = run_totals(transformed, plan)
    quarantined = [shard.rejected_uri for shard in transformed if shard.rejected]
    if quarantined:
        # The run's one place that tells every shard's quarantine, beside the count the audit row keeps.
        log.warning(
            "Run %s: %s record(s) quarantined by the transform, not loaded (%s), each with its id, reason and "
            "record in %s (docs/error-handling.md#bad-data: loading them once their cause is fixed)",
            run_id,
            totals.rejected,
            describe_reasons(totals.rejected_reasons),
            ", ".join(quarantined),
        )
    started_at = run_started_at(context["dag_run"], now=datetime.now(UTC))
    with staged_files_of(staging), DatabaseConnection(conn_id=warehouse_conn_id) as db:
        result = load_run(
            db,
            row_files=[storage_path(shard.rows_uri) for shard in transformed],
            key_files=[storage_path(shard.keys_uri) for shard in transformed],
            row_counts=[shard.rows for shard in transformed],
            run_id=run_id,
            dag_id=dag_id,
            logical_date=logical_date,
            observed_at=observed_at_of(transformed),
            mode=plan.mode,
            stats={key: getattr(totals, key) for key in STATS_KEYS},
            deleted=gone_ids(transformed),
            max_deleted_share=max_deleted_share(),
            started_at=started_at,
            unreachable=plan.unreachable,
            census=plan.census,
            rejected_reasons=totals.rejected_reasons,
            source=plan.source,
        )
    return LoadedRun(run_id, totals, result, plan.mode)


def _require_every_shard(plan: RunPlan, transformed: list[TransformResult], run_id: str) -> None:
    """Refuse a load handed fewer shards than the run planned.

    Airflow hands the load the results of the transform instances that returned one, and expands the transform
    over the extract instances that returned one: an extract marked success without running (Mark Success)
    leaves its shard out, and one marked skipped skips every transform. Loaded as the whole run, the rest would
    be recorded as the run's result, and a census would move its cursor over ids no page listed.
    """
    handed = {shard.extracted.shard for shard in transformed}
    # Each shard's extract instance is its place in the plan (extract_inputs keeps the plan's order).
    missing = [(index, shard.key) for index, shard in enumerate(plan.shards) if shard.key not in handed]
    if not missing:
        return
    named = ", ".join(f"extract [{index}] (shard {key})" for index, key in missing[:20])
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    raise IncompleteRunError(
        f"Run {run_id} planned {len(plan.shards)} shards, but no result of {named}{more} reached the load: an extract "
        "or transform marked success or skipped without running hands nothing on (an extract marked skipped skips "
        "every transform). Nothing was loaded, so no part of the run is recorded as the whole"
        f"{' and the census cursor stays' if plan.census else ''}. Clear the run's extract task (the map indexes "
        "named, or all of it) with its downstream tasks: finished shards are read back from staging, not fetched "
        "again, and the missing ones run."
    )


def check_task(
    context: dict[str, Any],
    loaded: LoadedRun | None,
    *,
    warehouse_conn_id: str,
    results: list[tuple[str, bool, str]] | None = None,
) -> dict[str, Any]:
    """Run the data-quality checks; a failure names the check and the offending ids.

    When they pass, the ``github.repositories`` asset event the task emits (``outlet_events``, when Airflow hands
    it) carries :func:`asset_event_extra`: what a consumer needs to read exactly the changes up to this run's.

    :param loaded: the load's result; None when the load task was marked success or skipped without running:
        the run is then checked as the warehouse recorded it, and fails when no load of it committed.
    :param results: filled with ``(check, passed, message)`` of every check, failed or not (for lineage).
    """
    from github_etl.assets import REPOSITORIES_ASSET
    from github_etl.errors import DataQualityError
    from github_etl.hooks.warehouse import DatabaseConnection
    from github_etl.load.checks import QUALITY_CHECKS, RUN_RECORDED, load_quality_checks

    dag_id = context["dag"].dag_id
    with DatabaseConnection(conn_id=warehouse_conn_id) as db:
        run_id = loaded.run_id if loaded is not None else context["run_id"]
        failures = load_quality_checks(db, dag_id, run_id)
        extra = {} if failures else asset_event_extra(db, dag_id, run_id)
    if results is not None:
        failed = {f.check: f.message for f in failures}
        # Without a committed load of the run no check ran: none is reported as passed.
        ran = () if RUN_RECORDED in failed else QUALITY_CHECKS
        results.extend((c.name, c.name not in failed, failed.get(c.name, c.expectation)) for c in ran)
        results.extend(
            (name, False, message) for name, message in failed.items() if (name, False, message) not in results
        )
    if failures:
        details = "; ".join(f"{f.check}: {f.message} (ids {list(f.ids)})" for f in failures)
        raise DataQualityError(f"{len(failures)} data-quality check(s) failed: {details}")
    log.info("All %s data-quality checks passed", len(QUALITY_CHECKS))
    outlet_events = context.get("outlet_events")
    if outlet_events is not None:
        outlet_events[REPOSITORIES_ASSET].extra.update(extra)
    return {"checks": [check.name for check in QUALITY_CHECKS], "failed": 0}


def asset_event_extra(db: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """The asset event's ``extra`` for a run: its DAG and id, observation time and its load's write generation.

    Every row a load changes carries its generation, and generations follow the order loads commit in
    (``github.write_generation``): the rows with ``generation`` at most this one are all committed, and a
    consumer that read up to an earlier event's generation reads the rest with ``generation > last AND
    generation <= this`` (docs/history.md#reading-changes-incrementally). ``generation = this`` alone is the
    rows this run changed that no later load changed again.
    """
    try:
        with db.cursor() as cur:
            cur.execute(
                "SELECT generation, observed_at FROM github.load_runs WHERE dag_id = %s AND run_id = %s",
                (dag_id, run_id),
            )
            generation, observed_at = cur.fetchone()
    finally:
        db.rollback()
    return {"dag_id": dag_id, "run_id": run_id, "generation": int(generation), "observed_at": observed_at.isoformat()}


# The audit row's figures the report logs when the load handed it none.
_RECORDED_FIGURES = (
    "listed",
    "enriched",
    "skipped",
    "rejected",
    "api_requests",
    "inserted",
    "updated",
    "unchanged",
    "marked_deleted",
    "missing_owners",
)


def _recorded_figures(db: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """The run's figures as its audit row keeps them; fails when no load of the run committed."""
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_RECORDED_FIGURES)} FROM github.load_runs WHERE dag_id = %s AND run_id = %s",
            (dag_id, run_id),
        )
        row = cursor.fetchone()
    if row is None:
        raise IncompleteRunError(
            f"Run {run_id} of {dag_id} has no row in github.load_runs: no load of it committed (a load task marked "
            "success or skipped without running loads nothing). Clear the run's load task with its downstream tasks "
            "to load what the run staged."
        )
    return dict(zip(_RECORDED_FIGURES, row, strict=True))


def report_task(context: dict[str, Any], loaded: LoadedRun | None, *, warehouse_conn_id: str) -> dict[str, Any]:
    """Log the run's figures and the warehouse's total.

    :param loaded: the load's result; None when the load task was marked success without running: the figures
        are then the run's audit row, and the task fails when no load of the run committed.
    """
    from github_etl.hooks.warehouse import DatabaseConnection, count_repositories

    run_id = loaded.run_id if loaded is not None else context["run_id"]
    with DatabaseConnection(conn_id=warehouse_conn_id) as db:
        total = count_repositories(db)
        if loaded is not None:
            figures = {**loaded.totals.to_xcom(), **loaded.result.to_xcom()}
        else:
            figures = _recorded_figures(db, context["dag"].dag_id, run_id)
    figures["total_in_table"] = total
    log.info("Run %s: %s", run_id, ", ".join(f"{name} {value}" for name, value in figures.items()))
    if figures.get("missing_owners"):
        log.warning(
            "Run %s: %s owner(s) were deleted or renamed on GitHub after the plan found them; their repositories "
            "are missing from this run (the extract logs name them)",
            run_id,
            figures["missing_owners"],
        )
    return figures
