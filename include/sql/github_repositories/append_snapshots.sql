-- The first snapshots of a date (a daily run's usual case): there is nothing to compare with, so the
-- staged counts are appended as they are. In key order, so that the primary key is filled from left
-- to right rather than at a million random places: about a quarter faster at a million rows.
-- Safe without ON CONFLICT: the load holds its date's lock (lock_snapshot_date.sql) and found no
-- snapshot of the date after taking it.
-- Parameters: snapshot_date.
INSERT INTO github.repository_snapshots (repo_id, snapshot_date, {snapshot_columns})
SELECT id, %(snapshot_date)s, {snapshot_columns}
FROM staged_repositories
ORDER BY id;
