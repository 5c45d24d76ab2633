-- Quality check: no repository the run saw has a negative count or size.
-- {negative}: one comparison per count column of the spec (github_etl.columns.COUNT_COLUMNS), joined by OR.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
WITH run AS (
    SELECT observed_at FROM github.load_runs WHERE run_id = %(run_id)s
),
failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    JOIN run ON repo.last_seen_at = run.observed_at
    WHERE {negative}
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
