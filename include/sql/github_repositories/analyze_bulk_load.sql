-- Statistics for the freshly bulk-loaded tables, for the columns that joins, filters and sort orders use
-- (the load's change test, the API's filters). Autovacuum analyses every column later, as usual.
ANALYZE github.repositories (
    id, row_hash, first_seen_at, last_seen_at, deleted_at,
    language, owner_login, topics, stargazers_count, archived, created_at, pushed_at
),
github.repository_snapshots;
