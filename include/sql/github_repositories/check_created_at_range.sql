-- Quality check: every repository the run covers (see check_ids_unique.sql) was created between GitHub's
-- launch and tomorrow.
-- GitHub opened in October 2007 (repository 1 dates from 2007-10-29); the day of slack at the other
-- end absorbs clock skew between GitHub and this server. A missing created_at fails too: GitHub
-- always sends one.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
WITH run AS (
    SELECT this.generation AS upto,
           coalesce((SELECT max(passed.generation) FROM github.load_runs AS passed
                     WHERE passed.checks_passed_at IS NOT NULL AND passed.generation < this.generation), 0) AS after
    FROM github.load_runs AS this
    WHERE this.run_id = %(run_id)s
),
failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    WHERE repo.generation > (SELECT after FROM run) AND repo.generation <= (SELECT upto FROM run)
      AND (repo.created_at IS NULL
           OR repo.created_at < TIMESTAMPTZ '2007-10-01 00:00:00+00'
           OR repo.created_at > now() + INTERVAL '1 day')
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
