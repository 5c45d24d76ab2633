-- Quality check: every snapshot of the run's date belongs to a repository in the warehouse.
-- No foreign key enforces it (see schema.sql): the load writes a snapshot only for a repository it
-- writes in the same transaction, and this check verifies that after every run.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
-- The date is a value, not a join, so that only its partition is read: a join would read every month.
WITH orphans AS (
    SELECT snapshot.repo_id AS id
    FROM github.repository_snapshots AS snapshot
    WHERE snapshot.snapshot_date = (
        SELECT (observed_at AT TIME ZONE 'UTC')::date
        FROM github.load_runs
        WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s
    )
      AND NOT EXISTS (SELECT FROM github.repositories AS repo WHERE repo.id = snapshot.repo_id)
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM orphans
HAVING count(*) > 0;
