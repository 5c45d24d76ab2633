-- Would merging the staged rows change nothing at all? Decided from the staged keys alone, before any
-- row file is parsed: true when every staged repository is stored with the same row_hash (so the same
-- data), its bookkeeping would not move, and its snapshot for the run's date holds its counts. This is
-- the merges' own test of "nothing to write", row for row, so a re-run of a load is answered here.
-- Parameters: seen_at, the run's logical date; snapshot_date, its UTC date; sample_size, see below.
--
-- Two passes. A run that changes anything usually changes it everywhere (a new logical date moves every
-- last_seen_at), so the first few staged keys are probed one by one and the first change found ends
-- the test at once. Only when they show none is every key checked, as joins the planner may run as
-- hash joins over whole tables: a million index probes into tables larger than shared buffers cost
-- several times more than reading those tables once.
SELECT NOT EXISTS (
    SELECT
    FROM (SELECT id, row_hash FROM staged_keys LIMIT %(sample_size)s) AS staged
    LEFT JOIN github.repositories AS existing ON existing.id = staged.id
    LEFT JOIN github.repository_snapshots AS snapshot
        ON snapshot.repo_id = staged.id AND snapshot.snapshot_date = %(snapshot_date)s
    WHERE existing.id IS NULL
       OR existing.row_hash IS DISTINCT FROM staged.row_hash
       OR existing.first_seen_at > %(seen_at)s
       OR existing.last_seen_at < %(seen_at)s
       OR existing.deleted_at IS NOT NULL
       OR snapshot.repo_id IS NULL
       OR (snapshot.stargazers_count, snapshot.forks_count, snapshot.open_issues_count)
          IS DISTINCT FROM (existing.stargazers_count, existing.forks_count, existing.open_issues_count)
)
AND (
    SELECT count(*) = 0
    FROM staged_keys AS staged
    LEFT JOIN github.repositories AS existing ON existing.id = staged.id
    LEFT JOIN github.repository_snapshots AS snapshot
        ON snapshot.repo_id = staged.id AND snapshot.snapshot_date = %(snapshot_date)s
    WHERE existing.id IS NULL
       OR existing.row_hash IS DISTINCT FROM staged.row_hash
       OR existing.first_seen_at > %(seen_at)s
       OR existing.last_seen_at < %(seen_at)s
       OR existing.deleted_at IS NOT NULL
       OR snapshot.repo_id IS NULL
       OR (snapshot.stargazers_count, snapshot.forks_count, snapshot.open_issues_count)
          IS DISTINCT FROM (existing.stargazers_count, existing.forks_count, existing.open_issues_count)
);
