-- Initial bulk load: every repository just copied in gets its first snapshot, for the run's date.
-- Parameters: snapshot_date; generation, the load's write generation.
INSERT INTO github.repository_snapshots (repo_id, snapshot_date, {snapshot_columns}, generation)
SELECT id, %(snapshot_date)s, {snapshot_columns}, %(generation)s
FROM github.repositories;
