-- How many stored repositories mark_deleted.sql would mark: those in gone_ids not marked yet and not
-- seen after this observation (parameter deleted_at, as there). The
-- deletion guard (github_etl.load.deletions.mark_gone) compares it with the repositories the run checked.
SELECT count(*)
FROM github.repositories
WHERE id IN (SELECT id FROM gone_ids)
  AND deleted_at IS NULL
  AND last_seen_at <= %(deleted_at)s;
