-- Quality check: no repository the run saw has a negative star, fork, issue, watcher count or size.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
WITH run AS (
    SELECT observed_at FROM github.load_runs WHERE run_id = %(run_id)s
),
failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    JOIN run ON repo.last_seen_at = run.observed_at
    WHERE repo.stargazers_count < 0
       OR repo.forks_count < 0
       OR repo.open_issues_count < 0
       OR repo.watchers_count < 0
       OR repo.size < 0
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
