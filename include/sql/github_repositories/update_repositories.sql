-- Merge, second half (after insert_repositories.sql): the staged repositories already stored, updated
-- where their data or bookkeeping would change. Parameters: seen_at, the run's observation time. Bookkeeping
-- comes from it, never from the clock, and the stored row always says what the latest observation saw,
-- whatever order runs are loaded in (a run whose load failed may be loaded after a later one):
--   data           taken from the staged row only when it is no older than the stored one ({newest_data});
--   first_seen_at  only ever moved earlier;
--   last_seen_at   only ever moved later;
--   deleted_at     cleared with deleted_reason when the repository answered at or after it was found gone;
--   generation     the load's write generation (parameter generation) when any of the above but last_seen_at
--                  changes, so that a reader of changes gets the row; a row only seen again keeps its
--                  generation, and so its update stays HOT (last_seen_at and generation are indexed by nothing
--                  else that moves).
-- Data are compared through row_hash, the digest of the staged line (equal digests, equal data). A
-- row whose data and bookkeeping would stay the same is not written at all, so re-running a load
-- locks and rewrites nothing (every xmin stays).
-- A plain UPDATE rather than INSERT ... ON CONFLICT for the rows known to exist: the conflict path
-- probes the key and locks each row before updating it, which is much slower. No other writer changes the table meanwhile (lock_repositories_writers.sql).
UPDATE github.repositories AS target SET
    ({data_columns}) = ROW({newest_data}),
    first_seen_at = LEAST(target.first_seen_at, %(seen_at)s),
    last_seen_at = GREATEST(target.last_seen_at, %(seen_at)s),
    deleted_at = CASE WHEN target.deleted_at <= %(seen_at)s THEN NULL ELSE target.deleted_at END,
    deleted_reason = CASE WHEN target.deleted_at <= %(seen_at)s THEN NULL ELSE target.deleted_reason END,
    generation = CASE
        WHEN (target.last_seen_at <= %(seen_at)s AND target.row_hash IS DISTINCT FROM staged.row_hash)
          OR target.first_seen_at > %(seen_at)s
          OR target.deleted_at <= %(seen_at)s
        THEN %(generation)s ELSE target.generation END
FROM staged_repositories AS staged
WHERE target.id = staged.id
  AND (target.last_seen_at < %(seen_at)s
       OR (target.last_seen_at = %(seen_at)s AND target.row_hash IS DISTINCT FROM staged.row_hash)
       OR target.first_seen_at > %(seen_at)s
       OR target.deleted_at <= %(seen_at)s);
