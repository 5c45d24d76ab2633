-- Snapshots of a date none of the staged repositories has one of yet (a daily run's usual case): there
-- is nothing to compare with, so the staged counts are appended as they are, without the per-row
-- probe and conflict handling of merge_snapshots.sql. In key order, so that the primary key is filled
-- from left to right rather than at a million random places.
-- Run under a savepoint: if any staged repository has a snapshot of the date already, the primary key
-- stops this at the first one and the load merges instead. No other load appends meanwhile: the merge
-- holds the lock every writer of github.repositories queues on (lock_repositories_writers.sql).
-- Parameters: snapshot_date; seen_at, the observation time; generation, the load's write generation. {source}: the staged rows, or the stored rows of repositories seen with
-- the data stored (see github_etl.load.merge._touch_unchanged).
INSERT INTO github.repository_snapshots (repo_id, snapshot_date, {snapshot_columns}, observed_at, generation)
SELECT id, %(snapshot_date)s, {snapshot_columns}, %(seen_at)s, %(generation)s
FROM {source} AS staged
ORDER BY id;
