-- Quality check: every repository the run saw has an id, and only one row.
-- The primary key guarantees it today; the check guards against a schema that loses it.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
-- A run's repositories are the rows that carry its write generation (github.load_runs.generation): those it
-- inserted or changed, whatever order runs were loaded in, found through repositories_generation_idx. A
-- repository it saw unchanged was checked by the load that wrote it. Run the checks right after the load:
-- a row a later load changes again is that load's to check.
WITH run AS (
    SELECT generation FROM github.load_runs WHERE run_id = %(run_id)s
),
failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    JOIN run ON repo.generation = run.generation
    GROUP BY repo.id
    HAVING count(*) > 1 OR repo.id IS NULL
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id NULLS FIRST))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
