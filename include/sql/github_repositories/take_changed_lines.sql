-- The staged lines the merge must parse: every line of a repository not stored yet or stored with other
-- data (row_hash), all of its lines when it was staged more than once, so that dedupe_staged.sql keeps
-- the same one as when every line is parsed. They move from staged_keys to changed_lines; staged_keys
-- keeps the repositories stored with the data staged, whose bookkeeping and snapshot come from the
-- stored row (touch_unchanged.sql) and whose lines are never parsed.
-- Run under lock_repositories_writers.sql: no other load changes a stored row_hash until the commit.
CREATE TEMPORARY TABLE changed_lines ON COMMIT DROP AS
SELECT staged.line
FROM staged_keys AS staged
WHERE staged.id IN (
    SELECT keys.id
    FROM staged_keys AS keys
    LEFT JOIN github.repositories AS existing ON existing.id = keys.id
    WHERE existing.id IS NULL
       OR existing.row_hash IS DISTINCT FROM keys.row_hash
);
DELETE FROM staged_keys WHERE line IN (SELECT line FROM changed_lines);
