-- Quality check: no repository and no snapshot the run wrote has a negative count or size.
-- The run's rows are those that carry its write generation (see check_ids_unique.sql). Its snapshots are
-- checked apart from its repositories: a run loaded after a later one keeps the later run's data in
-- github.repositories (the newest observation wins) but writes its own day's snapshots from what it saw.
-- {negative}: one comparison per count column of the spec (github_etl.columns.COUNT_COLUMNS), joined by OR;
-- {negative_snapshot}: the same over the count columns a snapshot holds.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
WITH run AS (
    SELECT generation, (observed_at AT TIME ZONE 'UTC')::date AS snapshot_date
    FROM github.load_runs
    WHERE run_id = %(run_id)s
),
failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    JOIN run ON repo.generation = run.generation
    WHERE {negative}
    UNION
    -- A value for the date, not a join, so that only the date's partition is read (its generation BRIN index).
    SELECT snapshot.repo_id
    FROM github.repository_snapshots AS snapshot
    WHERE snapshot.snapshot_date = (SELECT snapshot_date FROM run)
      AND snapshot.generation = (SELECT generation FROM run)
      AND ({negative_snapshot})
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
