-- What an initial bulk load drops and rebuilds: every index and constraint that the bulk insert would
-- otherwise maintain row by row: the secondary indexes of github.repositories, the primary keys of
-- both tables and the snapshots' foreign key. Definitions come from the catalog, so the rebuild
-- recreates exactly what schema.sql created. Rows come in rebuild order (and are dropped in reverse):
-- primary keys first (the snapshots' foreign key depends on the repositories' one), the foreign key last.
-- The snapshots' BRIN index stays: it costs next to nothing to maintain while inserting.
SELECT kind, schema_name, table_name, name, definition
FROM (
    SELECT 1 AS step, 'constraint' AS kind, table_class.relnamespace::regnamespace::text AS schema_name,
           table_class.relname::text AS table_name, constraint_info.conname::text AS name,
           pg_get_constraintdef(constraint_info.oid) AS definition
    FROM pg_constraint AS constraint_info
    JOIN pg_class AS table_class ON table_class.oid = constraint_info.conrelid
    WHERE constraint_info.conrelid IN ('github.repositories'::regclass, 'github.repository_snapshots'::regclass)
      AND constraint_info.contype = 'p'
    UNION ALL
    SELECT 2, 'index', table_class.relnamespace::regnamespace::text, table_class.relname::text,
           index_class.relname::text, pg_get_indexdef(index_info.indexrelid)
    FROM pg_index AS index_info
    JOIN pg_class AS index_class ON index_class.oid = index_info.indexrelid
    JOIN pg_class AS table_class ON table_class.oid = index_info.indrelid
    WHERE index_info.indrelid = 'github.repositories'::regclass
      AND NOT EXISTS (SELECT FROM pg_constraint WHERE pg_constraint.conindid = index_info.indexrelid)
    UNION ALL
    SELECT 3, 'constraint', table_class.relnamespace::regnamespace::text, table_class.relname::text,
           constraint_info.conname::text, pg_get_constraintdef(constraint_info.oid)
    FROM pg_constraint AS constraint_info
    JOIN pg_class AS table_class ON table_class.oid = constraint_info.conrelid
    WHERE constraint_info.conrelid = 'github.repository_snapshots'::regclass
      AND constraint_info.contype = 'f'
) AS structures
ORDER BY step, table_name, name;
