-- Quality check: every repository the run saw has an id, and only one row.
-- The primary key guarantees it today; the check guards against a schema that loses it.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
-- A run's repositories are the rows whose last_seen_at is the run's observation time (the merge sets it),
-- which holds until a later observation time is loaded: run the checks right after the load.
WITH run AS (
    SELECT observed_at FROM github.load_runs WHERE run_id = %(run_id)s
),
failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    JOIN run ON repo.last_seen_at = run.observed_at
    GROUP BY repo.id
    HAVING count(*) > 1 OR repo.id IS NULL
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id NULLS FIRST))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
