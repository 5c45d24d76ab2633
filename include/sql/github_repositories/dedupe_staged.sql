-- Run on the staging table, or on github.repositories itself during an initial bulk load.
-- A repository may appear in several staged files (search pages overlap while stars move). Keep one
-- row per id: the latest updated_at, and on a tie the one staged last (the later file). Only ids that
-- really repeat are sorted, so a load without duplicates pays for one hash aggregate, not a full sort.
WITH repeated AS (
    SELECT id
    FROM {table}
    GROUP BY id
    HAVING count(*) > 1
),
keepers AS (
    SELECT DISTINCT ON (staged.id) staged.id, staged.ctid AS kept
    FROM {table} AS staged
    JOIN repeated USING (id)
    ORDER BY staged.id, staged.updated_at DESC NULLS LAST, staged.ctid DESC
)
DELETE FROM {table} AS staged
USING keepers
WHERE staged.id = keepers.id
  AND staged.ctid <> keepers.kept;
