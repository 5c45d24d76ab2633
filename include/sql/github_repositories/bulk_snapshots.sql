-- Initial bulk load: every repository just copied in gets its first snapshot, for the run's date.
-- Parameters: snapshot_date; seen_at, the observation time; generation, the load's write generation.
INSERT INTO github.repository_snapshots (repo_id, snapshot_date, {snapshot_columns}, observed_at, generation)
SELECT id, %(snapshot_date)s, {snapshot_columns}, %(seen_at)s, %(generation)s
FROM github.repositories;
