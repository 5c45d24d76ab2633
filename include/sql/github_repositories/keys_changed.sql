-- How many staged repositories would the merge write? Decided from the staged keys alone, before any
-- row file is parsed: a repository needs no write when it is stored with the same row_hash (so the same
-- data), its bookkeeping would not move, and its snapshot for the run's date holds its counts. This is
-- the merges' own test of "nothing to write", row for row, so a re-run of a load is answered here.
-- Parameters: seen_at, the run's observation time; snapshot_date, its UTC date.
-- {staged}: the staged_keys table, or a sample of it (see github_etl.load.merge.nothing_to_change). For a
-- sample the planner probes the indexes key by key; for all keys it may join whole tables by hashing,
-- which beats a million index probes into tables larger than shared buffers several times over.
SELECT count(*)
FROM {staged} AS staged
LEFT JOIN github.repositories AS existing ON existing.id = staged.id
LEFT JOIN github.repository_snapshots AS snapshot
    ON snapshot.repo_id = staged.id AND snapshot.snapshot_date = %(snapshot_date)s
WHERE existing.id IS NULL
   OR existing.row_hash IS DISTINCT FROM staged.row_hash
   OR existing.first_seen_at > %(seen_at)s
   OR existing.last_seen_at < %(seen_at)s
   -- Marked gone at or before the run saw it: the mark is cleared. One marked after is kept as it is.
   OR existing.deleted_at <= %(seen_at)s
   OR snapshot.repo_id IS NULL
   -- The day's snapshot holds an earlier observation (or one inserted by hand): this run's replaces it.
   OR snapshot.observed_at IS NULL
   OR snapshot.observed_at < %(seen_at)s
   OR (snapshot.stargazers_count, snapshot.forks_count, snapshot.open_issues_count, snapshot.language)
      IS DISTINCT FROM (existing.stargazers_count, existing.forks_count, existing.open_issues_count, existing.language)
   -- Seen, before a later run's observation, inside a version the history kept: the merge places the
   -- observation among the versions (record_late_attributes.sql), so the history does not depend on the
   -- order loads commit in.
   OR (existing.last_seen_at > %(seen_at)s AND EXISTS (
          SELECT FROM github.repository_history AS version
          WHERE version.repo_id = staged.id
            AND version.valid_until > %(seen_at)s
            AND version.valid_from < %(seen_at)s));
