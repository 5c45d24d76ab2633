-- Quality check: every repository the run staged is in the warehouse.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
-- The load writes one snapshot of the run's date per staged repository, in whatever order runs are
-- loaded (a run loaded after a later one leaves last_seen_at at the later time), and
-- check_snapshots_reference_repositories.sql holds each of them to a stored repository. There may be
-- more snapshots of the date than the run staged (another run of the same date), never fewer.
WITH run AS (
    SELECT (observed_at AT TIME ZONE 'UTC')::date AS snapshot_date, inserted + updated + unchanged AS staged
    FROM github.load_runs
    WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s
),
loaded AS (
    -- A value, not a join, so that only the date's partition is read, through its BRIN index.
    SELECT count(*) AS seen
    FROM github.repository_snapshots
    WHERE snapshot_date = (SELECT snapshot_date FROM run)
)
SELECT
    run.staged - loaded.seen AS failing_rows,
    ARRAY[]::bigint[] AS sample_ids,
    'snapshots of ' || run.snapshot_date || ': ' || loaded.seen || ', repositories staged: ' || run.staged AS detail
FROM run CROSS JOIN loaded
WHERE loaded.seen < run.staged;
