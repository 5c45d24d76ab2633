-- The id range (since_id, until_id] a census load crawled, in the load's transaction (see
-- github.census_ranges). A run loaded again records the range its staged plan crawled, the same one.
INSERT INTO github.census_ranges (census, dag_id, run_id, since_id, until_id)
VALUES (%(census)s, %(dag_id)s, %(run_id)s, %(since_id)s, %(until_id)s)
ON CONFLICT (census, dag_id, run_id) DO UPDATE SET since_id = excluded.since_id, until_id = excluded.until_id;
