-- A census load that crawled (since_id, until_id] widens the census's covered range to include it, in
-- the load's transaction: the cursor never moves backwards, and only a range that touches or overlaps
-- the covered one widens it, so no id between since_id and cursor_id is ever left uncrawled. The first
-- census load that crawled up to the end of the id space (reaches_end) starts the covered range; a range
-- crawl short of it starts none, as the next daily census would then crawl every id above it. Writes no
-- row when the crawl was apart from the covered range or started nothing.
INSERT INTO github.census_cursor AS stored (census, since_id, cursor_id, dag_id, run_id, moved_at)
SELECT %(census)s, %(since_id)s, %(until_id)s, %(dag_id)s, %(run_id)s, clock_timestamp()
WHERE %(reaches_end)s OR EXISTS (SELECT FROM github.census_cursor WHERE census = %(census)s)
ON CONFLICT (census) DO UPDATE SET
    since_id = LEAST(stored.since_id, excluded.since_id),
    cursor_id = GREATEST(stored.cursor_id, excluded.cursor_id),
    dag_id = excluded.dag_id,
    run_id = excluded.run_id,
    moved_at = excluded.moved_at
WHERE excluded.since_id <= stored.cursor_id
  AND excluded.cursor_id >= stored.since_id
  AND (excluded.since_id < stored.since_id OR excluded.cursor_id > stored.cursor_id);
