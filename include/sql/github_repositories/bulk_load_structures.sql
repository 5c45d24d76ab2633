-- What an initial bulk load drops and rebuilds: the secondary indexes of github.repositories (not the
-- primary keys, which ON CONFLICT needs) and the foreign keys of github.repository_snapshots.
-- Definitions come from the catalog, so the rebuild recreates exactly what schema.sql created.
SELECT 'index' AS kind, index_class.relname AS name, pg_get_indexdef(index_info.indexrelid) AS definition
FROM pg_index AS index_info
JOIN pg_class AS index_class ON index_class.oid = index_info.indexrelid
WHERE index_info.indrelid = 'github.repositories'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE pg_constraint.conindid = index_info.indexrelid)
UNION ALL
SELECT 'foreign_key', conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE conrelid = 'github.repository_snapshots'::regclass
  AND contype = 'f'
ORDER BY kind, name;
