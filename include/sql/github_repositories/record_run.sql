-- The run's audit row, written last in the load's transaction so it exists if and only if a load of the
-- run committed. A failed attempt commits nothing, so the row is the first committed load's. A load of
-- the run that commits again (its task cleared) and finds nothing to change leaves the row as it is: the
-- row keeps saying what the run did. One that changes repositories (staged files transformed anew by
-- newer code) replaces it with its own counts, which then describe the warehouse's last change.
-- finished_at is the wall clock at this statement, i.e. the moment just before COMMIT; now() would be
-- the start of the transaction. generation: the load's write generation when it took one (it wrote anything); a
-- load that wrote nothing takes one only for a row of its own (a run's row kept as it is keeps its generation).
-- A row replaced loses its checks_passed_at: the rows its new generation marks are not checked yet.
-- The quarantine counts are the exception to "left as it is": they describe the run's rejected/ files, which a
-- transform cleared under a changed rule rewrites even when the load then has nothing else to change.
INSERT INTO github.load_runs AS run (
    run_id, dag_id, logical_date, observed_at, mode,
    listed, enriched, skipped, rejected, rejected_reasons,
    inserted, updated, unchanged, duplicates, marked_deleted, api_requests, missing_owners, read_over_rest,
    unreachable, started_at, finished_at, generation
)
VALUES (
    %(run_id)s, %(dag_id)s, %(logical_date)s, %(observed_at)s, %(mode)s,
    %(listed)s, %(enriched)s, %(skipped)s, %(rejected)s, %(rejected_reasons)s::jsonb,
    %(inserted)s, %(updated)s, %(unchanged)s, %(duplicates)s, %(marked_deleted)s, %(api_requests)s,
    %(missing_owners)s, %(read_over_rest)s,
    %(unreachable)s::jsonb, COALESCE(%(started_at)s, now()), clock_timestamp(),
    COALESCE(
        nullif(current_setting('github_etl.write_generation', true), '')::bigint,
        (SELECT generation FROM github.load_runs WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s),
        github.write_generation()
    )
)
ON CONFLICT (dag_id, run_id) DO UPDATE SET
    (logical_date, observed_at, mode,
     listed, enriched, skipped, rejected, rejected_reasons,
     inserted, updated, unchanged, duplicates, marked_deleted, api_requests, missing_owners, read_over_rest,
     unreachable, started_at, finished_at, generation, checks_passed_at)
    = ROW(excluded.logical_date, excluded.observed_at, excluded.mode,
          excluded.listed, excluded.enriched, excluded.skipped, excluded.rejected, excluded.rejected_reasons,
          excluded.inserted, excluded.updated, excluded.unchanged, excluded.duplicates, excluded.marked_deleted,
          excluded.api_requests, excluded.missing_owners, excluded.read_over_rest,
          excluded.unreachable, excluded.started_at, excluded.finished_at, excluded.generation, NULL)
WHERE excluded.inserted > 0 OR excluded.updated > 0 OR excluded.marked_deleted > 0;

UPDATE github.load_runs
SET (rejected, rejected_reasons) = ROW(%(rejected)s, %(rejected_reasons)s::jsonb)
WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s
  AND (rejected, rejected_reasons) IS DISTINCT FROM (%(rejected)s, %(rejected_reasons)s::jsonb);
