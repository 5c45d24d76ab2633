-- Does any snapshot of this date exist? Answered from the snapshots' BRIN index: for the newest date,
-- only the last block ranges are read.
-- Parameters: snapshot_date.
SELECT EXISTS (SELECT FROM github.repository_snapshots WHERE snapshot_date = %(snapshot_date)s);
