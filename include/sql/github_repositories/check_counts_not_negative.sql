-- Quality check: no repository and no snapshot the run wrote has a negative count or size.
-- The rows the run covers: see check_ids_unique.sql. Its snapshots are
-- checked apart from its repositories: a run loaded after a later one keeps the later run's data in
-- github.repositories (the newest observation wins) but writes its own day's snapshots from what it saw.
-- {negative}: one comparison per count column of the spec (github_etl.columns.COUNT_COLUMNS), joined by OR;
-- {negative_snapshot}: the same over the count columns a snapshot holds.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
WITH failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    WHERE repo.generation > %(after_generation)s AND repo.generation <= %(upto_generation)s
      AND ({negative})
    UNION
    SELECT snapshot.repo_id
    FROM github.repository_snapshots AS snapshot
    WHERE snapshot.generation > %(after_generation)s AND snapshot.generation <= %(upto_generation)s
      AND ({negative_snapshot})
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
