-- The staged repositories stored with the data staged (those left in staged_keys by
-- take_changed_lines.sql): only their bookkeeping moves, under update_repositories.sql's rules, and a
-- row whose bookkeeping would stay the same is not written. Parameters: seen_at, the run's logical date.
UPDATE github.repositories AS target SET
    first_seen_at = LEAST(target.first_seen_at, %(seen_at)s),
    last_seen_at = GREATEST(target.last_seen_at, %(seen_at)s),
    deleted_at = NULL
FROM (SELECT DISTINCT id FROM staged_keys) AS staged
WHERE target.id = staged.id
  AND (target.first_seen_at > %(seen_at)s
       OR target.last_seen_at < %(seen_at)s
       OR target.deleted_at IS NOT NULL);
