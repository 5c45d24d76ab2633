-- GitHub answered 304 Not Modified for these repositories (conditional request with the stored ETag):
-- their data is what the warehouse holds, so only the bookkeeping moves to this logical date.
UPDATE github.repositories
SET last_seen_at = %(logical_date)s,
    deleted_at = NULL
WHERE id = ANY(%(ids)s::bigint[])
  AND (last_seen_at < %(logical_date)s OR deleted_at IS NOT NULL);
