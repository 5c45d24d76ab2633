-- GitHub no longer serves the repositories in gone_ids. The rows stay (history and snapshots keep their
-- meaning); deleted_at records the first observation time the repository was gone, deleted_reason what
-- GitHub answered then (not_found, legal_block, disabled, not_public); the merge clears both when it
-- answers again. A repository reported twice keeps one reason. Only an observation no earlier than the
-- repository's last one marks it: a run loaded late must not call gone what a later run saw alive.
UPDATE github.repositories AS target
SET deleted_at = %(deleted_at)s,
    deleted_reason = gone.reason,
    generation = %(generation)s
FROM (SELECT DISTINCT ON (id) id, reason FROM gone_ids ORDER BY id, reason) AS gone
WHERE target.id = gone.id
  AND target.deleted_at IS NULL
  AND target.last_seen_at <= %(deleted_at)s;
