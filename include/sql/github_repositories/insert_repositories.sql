-- Merge, first half (before update_repositories.sql): the staged repositories not stored yet, inserted.
-- Parameters: seen_at, the run's observation time, which both bookkeeping dates of a new row take;
-- generation, the load's write generation.
-- First because the search for new ids reads the key's index alone while the table's pages are all
-- visible (as vacuum leaves them after the last load). The update then finds the rows inserted here
-- unchanged and leaves them alone.
-- No other load can insert a repository meanwhile (lock_repositories_writers.sql); a writer that
-- bypasses that lock (one with the table's triggers disabled) may still have, and its row is then left
-- to update_repositories.sql, which compares it like any stored row.
INSERT INTO github.repositories ({columns}, first_seen_at, last_seen_at, deleted_at, generation)
SELECT {staged_columns}, %(seen_at)s, %(seen_at)s, NULL::timestamptz, %(generation)s
FROM staged_repositories AS staged
WHERE NOT EXISTS (SELECT FROM github.repositories AS existing WHERE existing.id = staged.id)
ON CONFLICT (id) DO NOTHING;
