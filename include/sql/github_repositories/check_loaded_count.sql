-- Quality check: every row the run staged is in the warehouse.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
-- A run's repositories are the rows whose last_seen_at is the run's observation time. There may be more
-- of them than the run staged (another run of the same observation time), never fewer.
WITH run AS (
    SELECT observed_at, inserted + updated + unchanged AS staged
    FROM github.load_runs
    WHERE run_id = %(run_id)s
),
loaded AS (
    SELECT count(*) AS seen
    FROM github.repositories AS repo
    JOIN run ON repo.last_seen_at = run.observed_at
)
SELECT
    run.staged - loaded.seen AS failing_rows,
    ARRAY[]::bigint[] AS sample_ids,
    'repositories seen at the observation time: ' || loaded.seen || ', rows staged: ' || run.staged AS detail
FROM run CROSS JOIN loaded
WHERE loaded.seen < run.staged;
