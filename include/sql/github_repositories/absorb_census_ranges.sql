-- Widen the census's covered range by every crawled range that touches or overlaps it, in the load's
-- transaction after advance_census_cursor.sql. A range crawled by a census loaded before the one
-- that ran before it stays apart until that one is loaded; then it is taken in here. Repeated by the
-- load until it writes no row, as each widening may bring another range into touch.
UPDATE github.census_cursor AS stored
SET since_id = LEAST(stored.since_id, touching.since_id),
    cursor_id = GREATEST(stored.cursor_id, touching.until_id),
    dag_id = %(dag_id)s,
    run_id = %(run_id)s,
    moved_at = clock_timestamp()
FROM (
    SELECT min(crawled.since_id) AS since_id, max(crawled.until_id) AS until_id
    FROM github.census_ranges AS crawled
    JOIN github.census_cursor AS covered USING (census)
    WHERE crawled.census = %(census)s
      AND crawled.since_id <= covered.cursor_id
      AND crawled.until_id >= covered.since_id
) AS touching
WHERE stored.census = %(census)s
  AND (touching.since_id < stored.since_id OR touching.until_id > stored.cursor_id);
