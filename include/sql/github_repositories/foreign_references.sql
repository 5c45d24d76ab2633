-- Foreign keys of tables other than the snapshots that reference github.repositories (an analyst's own
-- table, say). The bulk load would have to drop them with the primary key they depend on, so with any
-- of them the load takes the ordinary path instead.
SELECT conrelid::regclass::text || '.' || conname
FROM pg_constraint
WHERE contype = 'f'
  AND confrelid = 'github.repositories'::regclass
  AND conrelid <> 'github.repository_snapshots'::regclass
  -- A partitioned table's foreign key is cloned onto each partition; the parent's stands for them all.
  AND conparentid = 0
ORDER BY 1;
