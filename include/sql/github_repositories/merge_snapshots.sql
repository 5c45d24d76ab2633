-- One snapshot per staged repository for the run's date (how stars are tracked over time).
--
-- Parameters: snapshot_date, the observation time's UTC date; seen_at, the observation time; generation, the
-- load's write generation, which every snapshot written takes.
-- {source}: as in append_snapshots.sql.
-- As in the repository merge, a snapshot that already holds these counts is filtered out before INSERT,
-- so a re-run writes nothing. Two runs on the same date keep the counts of the later observation: a
-- snapshot is replaced only by the repository's latest observation (its last_seen_at, which the merge
-- has moved already), so a run loaded after a later one fills in a missing snapshot but replaces none.
-- The existing snapshot is looked up through the primary key, one probe per staged row (LIMIT keeps
-- the planner from turning the lookup into a join): a join would scan every date of the history to
-- find the one date wanted, and the history grows by a full harvest every day.
WITH written AS (
    INSERT INTO github.repository_snapshots AS target (repo_id, snapshot_date, {snapshot_columns}, generation)
    SELECT staged.id, %(snapshot_date)s, {staged_counts}, %(generation)s
    FROM {source} AS staged
    LEFT JOIN LATERAL (
        SELECT true AS found, {snapshot_columns}
        FROM github.repository_snapshots AS snapshot
        WHERE snapshot.repo_id = staged.id
          AND snapshot.snapshot_date = %(snapshot_date)s
        LIMIT 1
    ) AS existing ON true
    WHERE existing.found IS NULL
       OR ({existing_counts}) IS DISTINCT FROM ({staged_counts})
    ON CONFLICT (repo_id, snapshot_date) DO UPDATE SET
        ({snapshot_columns}, generation) = ROW({excluded_counts}, excluded.generation)
    WHERE ({target_counts}) IS DISTINCT FROM ({excluded_counts})
      AND NOT EXISTS (
          SELECT FROM github.repositories AS repository
          WHERE repository.id = target.repo_id AND repository.last_seen_at > %(seen_at)s
      )
    RETURNING 1
)
SELECT count(*) FROM written;
