-- Distinct repositories among the staged keys (a repository may be staged by several shards), and the
-- staged lines.
SELECT count(*), sum(lines) FROM (SELECT id, count(*) AS lines FROM staged_keys GROUP BY id) AS distinct_ids;
