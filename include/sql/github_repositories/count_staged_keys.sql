-- Distinct repositories among the staged keys (a repository may be staged by several shards).
SELECT count(*) FROM (SELECT id FROM staged_keys GROUP BY id) AS distinct_ids;
