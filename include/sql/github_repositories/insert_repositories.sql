-- Merge, first half (before update_repositories.sql): the staged repositories not stored yet, inserted.
-- Parameters: seen_at, the run's observation time, which both bookkeeping dates of a new row take.
-- First because the search for new ids reads the key's index alone while the table's pages are all
-- visible (as vacuum leaves them after the last load): 1.3 s for a million staged repositories, against
-- 5 s once the update has rewritten their rows. The update then finds the rows inserted here
-- unchanged and leaves them alone.
-- No other load can insert a repository meanwhile (lock_repositories_writers.sql); ON CONFLICT still
-- covers a writer that bypasses that lock, such as one with the table's triggers disabled: its row is
-- then updated under the update's rules and counted as updated. xmax = 0 only on a freshly inserted
-- row version; an updated one carries the conflict's row lock.
WITH merged AS (
    INSERT INTO github.repositories AS target ({columns}, first_seen_at, last_seen_at, deleted_at)
    SELECT {staged_columns}, %(seen_at)s, %(seen_at)s, NULL::timestamptz
    FROM staged_repositories AS staged
    WHERE NOT EXISTS (SELECT FROM github.repositories AS existing WHERE existing.id = staged.id)
    ON CONFLICT (id) DO UPDATE SET
        ({data_columns}) = ROW({excluded_data}),
        first_seen_at = LEAST(target.first_seen_at, excluded.first_seen_at),
        last_seen_at = GREATEST(target.last_seen_at, excluded.last_seen_at),
        deleted_at = NULL,
        deleted_reason = NULL
    WHERE target.row_hash IS DISTINCT FROM excluded.row_hash
       OR target.first_seen_at > excluded.first_seen_at
       OR target.last_seen_at < excluded.last_seen_at
       OR target.deleted_at IS NOT NULL
    RETURNING (xmax = 0) AS inserted
)
SELECT
    count(*) FILTER (WHERE inserted) AS inserted,
    count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged;
