-- A run loaded after a later one that had already marked some of the repositories in gone_ids deleted:
-- this run saw them gone first, and no observation between the two saw them alive (last_seen_at is not
-- after this run), so deleted_at moves back to this observation and deleted_reason to what GitHub
-- answered then. Without it the order loads commit in (a cleared load, runs re-loaded after a restore)
-- would decide the date a repository is said to have gone. Run before mark_deleted.sql, whose count
-- stays that of the repositories newly marked.
UPDATE github.repositories AS target
SET deleted_at = %(deleted_at)s,
    deleted_reason = gone.reason,
    generation = %(generation)s
FROM (SELECT DISTINCT ON (id) id, reason FROM gone_ids ORDER BY id, reason) AS gone
WHERE target.id = gone.id
  AND target.deleted_at > %(deleted_at)s
  AND target.last_seen_at <= %(deleted_at)s;
