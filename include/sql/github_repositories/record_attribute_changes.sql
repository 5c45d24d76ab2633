-- Attribute history (schema.sql: github.repository_history): before update_repositories.sql overwrites the
-- staged repositories, keep the tracked attributes of those whose tracked attributes change. Only rows
-- whose row_hash differs can differ at all, so a repository staged unchanged costs one digest comparison
-- and adds nothing; the previous version's start is probed only for the rows kept.
-- Parameters: seen_at, the run's observation time, when the replaced version stopped being current;
-- generation, the load's write generation.
-- A run observed before the stored row's last observation (loaded late) changes no stored data
-- (update_repositories.sql) and records no version here: its attributes sit in the past of versions
-- already kept, where record_late_attributes.sql places them.
-- {tracked}/{existing_tracked}/{staged_tracked}: the HISTORY_COLUMNS, bare and qualified.
-- A re-run of the same load finds every row_hash equal and writes nothing; ON CONFLICT covers a second
-- load of the same observation time.
INSERT INTO github.repository_history (repo_id, valid_from, valid_until, {tracked}, generation)
SELECT
    existing.id,
    coalesce(
        (SELECT max(earlier.valid_until) FROM github.repository_history AS earlier WHERE earlier.repo_id = existing.id),
        existing.first_seen_at
    ),
    %(seen_at)s,
    {existing_tracked},
    %(generation)s
FROM staged_repositories AS staged
JOIN github.repositories AS existing ON existing.id = staged.id
WHERE existing.row_hash IS DISTINCT FROM staged.row_hash
  AND existing.last_seen_at <= %(seen_at)s
  AND ({existing_tracked}) IS DISTINCT FROM ({staged_tracked})
ON CONFLICT (repo_id, valid_until) DO NOTHING;
