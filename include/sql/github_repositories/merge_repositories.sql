-- Merge the staged rows into github.repositories and count what was inserted and what was updated.
--
-- Parameters: seen_at, the run's logical date. Bookkeeping comes from it, never from the clock:
--   first_seen_at  set on insert, only ever moved earlier (a backfill of an older date);
--   last_seen_at   only ever moved later;
--   deleted_at     cleared, since the repository answered again.
-- Data are compared through row_hash, the digest of the staged line (equal digests, equal data).
-- A row whose data and bookkeeping would stay the same is not written at all: the anti-join drops
-- it before INSERT, so re-running a logical date locks and rewrites nothing (every xmin stays). The
-- same test repeated in ON CONFLICT's WHERE covers a row committed by a concurrent load meanwhile.
-- xmax = 0 only on a freshly inserted row version; an updated one carries the conflict's row lock.
WITH merged AS (
    INSERT INTO github.repositories AS target ({columns}, first_seen_at, last_seen_at, deleted_at)
    SELECT {staged_columns}, %(seen_at)s, %(seen_at)s, NULL::timestamptz
    FROM staged_repositories AS staged
    LEFT JOIN github.repositories AS existing ON existing.id = staged.id
    WHERE existing.id IS NULL
       OR existing.row_hash IS DISTINCT FROM staged.row_hash
       OR existing.first_seen_at > %(seen_at)s
       OR existing.last_seen_at < %(seen_at)s
       OR existing.deleted_at IS NOT NULL
    ON CONFLICT (id) DO UPDATE SET
        ({data_columns}) = ROW({excluded_data}),
        first_seen_at = LEAST(target.first_seen_at, excluded.first_seen_at),
        last_seen_at = GREATEST(target.last_seen_at, excluded.last_seen_at),
        deleted_at = NULL
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
