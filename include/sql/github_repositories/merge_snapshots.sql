-- One snapshot per staged repository for the run's date (how stars are tracked over time).
--
-- Parameters: snapshot_date, the observation time's UTC date; seen_at, the observation time; generation, the
-- load's write generation, which every snapshot whose counts it writes takes.
-- {source}: as in append_snapshots.sql.
-- Two runs on the same date keep the counts of the later observation, whatever order their loads commit in:
-- a snapshot is replaced only by an observation later than the one it holds (its observed_at; one inserted
-- by hand, without a time, by any), or by its own run's with other counts (files transformed anew). A
-- snapshot already holding this observation is filtered out before INSERT, so a re-run writes nothing. A
-- later observation of the same counts moves only observed_at and keeps the generation: readers by
-- generation see changed counts only, and RETURNING counts those alone.
-- The existing snapshot is looked up through the primary key, one probe per staged row (LIMIT keeps
-- the planner from turning the lookup into a join): a join would scan every date of the history to
-- find the one date wanted, and the history grows by a full harvest every day.
WITH written AS (
    INSERT INTO github.repository_snapshots AS target (
        repo_id, snapshot_date, {snapshot_columns}, observed_at, generation
    )
    SELECT staged.id, %(snapshot_date)s, {staged_counts}, %(seen_at)s, %(generation)s
    FROM {source} AS staged
    LEFT JOIN LATERAL (
        SELECT true AS found, observed_at, {snapshot_columns}
        FROM github.repository_snapshots AS snapshot
        WHERE snapshot.repo_id = staged.id
          AND snapshot.snapshot_date = %(snapshot_date)s
        LIMIT 1
    ) AS existing ON true
    WHERE existing.found IS NULL
       OR existing.observed_at IS NULL
       OR existing.observed_at < %(seen_at)s
       OR (existing.observed_at = %(seen_at)s AND ({existing_counts}) IS DISTINCT FROM ({staged_counts}))
    ON CONFLICT (repo_id, snapshot_date) DO UPDATE SET
        ({snapshot_columns}, observed_at, generation) = ROW(
            {excluded_counts},
            excluded.observed_at,
            CASE WHEN ({target_counts}) IS DISTINCT FROM ({excluded_counts})
                 THEN excluded.generation ELSE target.generation END
        )
    WHERE target.observed_at IS NULL
       OR target.observed_at < excluded.observed_at
       OR (target.observed_at = excluded.observed_at AND ({target_counts}) IS DISTINCT FROM ({excluded_counts}))
    RETURNING generation = %(generation)s AS counts_written
)
SELECT count(*) FILTER (WHERE counts_written) FROM written;
