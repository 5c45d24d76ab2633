-- Repositories the run saw with the data the warehouse holds: staged with the stored row_hash (those
-- left in staged_keys by take_changed_lines.sql). Only their bookkeeping moves, under update_repositories.sql's rules, and a row
-- whose bookkeeping would stay the same is not written. Their snapshot is then taken from the stored
-- row (github_etl.load.merge._touch_unchanged).
-- Parameters: seen_at, the run's observation time; generation, the load's write generation, taken only by a
-- row whose first_seen_at or deletion changes (update_repositories.sql). {seen}: a relation of their ids, one
-- row per id.
UPDATE github.repositories AS target SET
    first_seen_at = LEAST(target.first_seen_at, %(seen_at)s),
    last_seen_at = GREATEST(target.last_seen_at, %(seen_at)s),
    deleted_at = CASE WHEN target.deleted_at <= %(seen_at)s THEN NULL ELSE target.deleted_at END,
    deleted_reason = CASE WHEN target.deleted_at <= %(seen_at)s THEN NULL ELSE target.deleted_reason END,
    generation = CASE WHEN target.first_seen_at > %(seen_at)s OR target.deleted_at <= %(seen_at)s
                      THEN %(generation)s ELSE target.generation END
FROM {seen} AS seen
WHERE target.id = seen.id
  AND (target.first_seen_at > %(seen_at)s
       OR target.last_seen_at < %(seen_at)s
       OR target.deleted_at <= %(seen_at)s);
