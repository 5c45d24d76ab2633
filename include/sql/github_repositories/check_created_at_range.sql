-- Quality check: every repository the run covers (see check_ids_unique.sql) was created between GitHub's
-- launch and tomorrow.
-- GitHub opened in October 2007 (repository 1 dates from 2007-10-29); the day of slack at the other
-- end absorbs clock skew between GitHub and this server. The transform quarantines such a record
-- already (github_etl.field_rules.creation_time): this catches rows written some other way.
-- Result: no row when the check passes, else one row (failing_rows, sample_ids, detail).
WITH failing AS (
    SELECT repo.id
    FROM github.repositories AS repo
    WHERE repo.generation > %(after_generation)s AND repo.generation <= %(upto_generation)s
      AND (repo.created_at < TIMESTAMPTZ '2007-10-01 00:00:00+00' OR repo.created_at > now() + INTERVAL '1 day')
)
SELECT
    count(*) AS failing_rows,
    (array_agg(id ORDER BY id))[1:%(sample_size)s] AS sample_ids,
    NULL::text AS detail
FROM failing
HAVING count(*) > 0;
