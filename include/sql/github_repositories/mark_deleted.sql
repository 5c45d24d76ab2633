-- Refresh mode: GitHub answered 404, 410 or 451 for the repositories in gone_ids. The rows stay
-- (history and snapshots keep their meaning); deleted_at records the first logical date the repository
-- was gone and is cleared by the merge when it answers again.
UPDATE github.repositories
SET deleted_at = %(deleted_at)s
WHERE id IN (SELECT id FROM gone_ids)
  AND deleted_at IS NULL;
