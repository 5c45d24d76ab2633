-- Of a sample of the staged keys, the share whose row must be parsed: not stored yet, or stored with
-- other data (row_hash). Decides whether the merge parses the changed lines alone or every line
-- (see github_etl.load.merge.merge_with_keys). Index probes, one per sampled key.
-- {sample_size}: the number of keys sampled.
SELECT coalesce(avg((existing.id IS NULL OR existing.row_hash IS DISTINCT FROM staged.row_hash)::int), 0)
FROM (SELECT id, row_hash FROM staged_keys LIMIT {sample_size}) AS staged
LEFT JOIN github.repositories AS existing ON existing.id = staged.id;
