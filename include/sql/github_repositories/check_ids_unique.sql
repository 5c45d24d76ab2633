-- Quality check: every repository the run saw has an id, and only one row.
-- The primary key guarantees it today; the check guards against a schema that loses it.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
-- A run's checks cover the rows written since the last run whose checks passed: a generation above the greatest
-- of such a run's (github.load_runs.checks_passed_at) up to the run's own. Normally just what the run inserted or
-- changed, whatever order runs were loaded in; after a run whose checks failed, its rows too, so that the
-- next event (which covers its generation) never vouches for rows that failed. after_generation and
-- upto_generation (github_etl.load.checks) are values, not joins, so that
-- repositories_generation_idx and the snapshots' generation BRIN indexes find them. A repository a run saw
-- unchanged was covered by the checks of the load that wrote it. Run the checks right after the load: a row a
-- later load changes again is that load's to check.
WITH failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    WHERE repo.generation > %(after_generation)s AND repo.generation <= %(upto_generation)s
    GROUP BY repo.id
    HAVING count(*) > 1 OR repo.id IS NULL
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id NULLS FIRST))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
