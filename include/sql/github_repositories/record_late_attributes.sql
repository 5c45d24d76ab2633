-- Attribute history (schema.sql: github.repository_history) of a run observed before the stored row's last
-- observation, which record_attribute_changes.sql leaves alone: a run whose load commits after a later
-- observation's (two runs whose loads overlap, a failed load cleared after the next day's run). Its
-- observation at seen_at is placed among the versions kept, so that the history does not depend on the
-- order loads commit in:
--   inside a kept version whose tracked attributes it did not see, that version ends at seen_at. When the run
--   saw the version that followed (the next kept one, or the current row), that one begins at seen_at;
--   otherwise the run's own attributes are a version from seen_at until the kept one's end.
--   before the first observation, it saw the first version (which then begins at seen_at) or a version of its
--   own, until the first observation.
-- Observed inside the current version with other attributes, it is not placed: when they changed back is not
-- known. Run before the merge moves first_seen_at back, and only when a run observed later has loaded.
-- Parameters: seen_at; generation, the load's write generation, which every version it writes or changes takes
-- (a changed version may change its key, valid_until: a reader of changes re-reads the repository's versions).
-- {source}: the run's repositories, id and the tracked columns; {tracked}: the
-- HISTORY_COLUMNS, and {seen_tracked} and the like the same qualified by a relation of the statement.
DROP TABLE IF EXISTS pg_temp.late_versions;
CREATE TEMPORARY TABLE late_versions ON COMMIT DROP AS
SELECT seen.id, {seen_tracked}, covering.valid_from AS covering_from, covering.valid_until AS covering_until,
       following.valid_until AS following_until,
       CASE WHEN following.valid_until IS NULL
            THEN ({seen_tracked}) IS NOT DISTINCT FROM ({current_tracked})
            ELSE ({seen_tracked}) IS NOT DISTINCT FROM ({following_tracked})
       END AS joins_following
FROM {source} AS seen
JOIN github.repositories AS current ON current.id = seen.id
JOIN github.repository_history AS covering
    ON covering.repo_id = seen.id AND covering.valid_from < %(seen_at)s AND covering.valid_until > %(seen_at)s
LEFT JOIN LATERAL (
    SELECT following.valid_until, {following_tracked}
    FROM github.repository_history AS following
    WHERE following.repo_id = seen.id AND following.valid_until > covering.valid_until
    ORDER BY following.valid_until
    LIMIT 1
) AS following ON true
WHERE current.last_seen_at > %(seen_at)s
  AND ({seen_tracked}) IS DISTINCT FROM ({covering_tracked});

-- Inside a version, having seen the next one: the change came by seen_at.
UPDATE github.repository_history AS version
SET valid_from = CASE WHEN version.valid_until = late.following_until THEN %(seen_at)s ELSE version.valid_from END,
    valid_until = CASE WHEN version.valid_until = late.covering_until THEN %(seen_at)s ELSE version.valid_until END,
    generation = %(generation)s
FROM late_versions AS late
WHERE late.joins_following
  AND version.repo_id = late.id
  AND version.valid_until IN (late.covering_until, late.following_until);

-- Inside a version, having seen neither it nor the next: the kept version until seen_at (a key of its own),
-- then the run's from seen_at under the kept version's key.
INSERT INTO github.repository_history (repo_id, valid_from, valid_until, {tracked}, generation)
SELECT kept.repo_id, kept.valid_from, %(seen_at)s, {kept_tracked}, %(generation)s
FROM late_versions AS late
JOIN github.repository_history AS kept ON kept.repo_id = late.id AND kept.valid_until = late.covering_until
WHERE NOT late.joins_following;
UPDATE github.repository_history AS version
SET valid_from = %(seen_at)s, ({tracked}) = ROW({late_tracked}), generation = %(generation)s
FROM late_versions AS late
WHERE NOT late.joins_following AND version.repo_id = late.id AND version.valid_until = late.covering_until;

-- Before the first observation, having seen the first version kept: it begins at seen_at.
UPDATE github.repository_history AS earliest
SET valid_from = %(seen_at)s, generation = %(generation)s
FROM {source} AS seen
JOIN github.repositories AS current ON current.id = seen.id
WHERE earliest.repo_id = seen.id
  AND current.first_seen_at > %(seen_at)s
  AND earliest.valid_until = (SELECT min(first.valid_until) FROM github.repository_history AS first WHERE first.repo_id = seen.id)
  AND ({seen_tracked}) IS NOT DISTINCT FROM ({earliest_tracked});

-- Before the first observation, having seen other attributes than the first version: a version until then.
INSERT INTO github.repository_history (repo_id, valid_from, valid_until, {tracked}, generation)
SELECT seen.id, %(seen_at)s, current.first_seen_at, {seen_tracked}, %(generation)s
FROM {source} AS seen
JOIN github.repositories AS current ON current.id = seen.id
LEFT JOIN LATERAL (
    SELECT true AS kept, {earliest_tracked}
    FROM github.repository_history AS earliest
    WHERE earliest.repo_id = seen.id
    ORDER BY earliest.valid_until
    LIMIT 1
) AS earliest ON true
WHERE current.first_seen_at > %(seen_at)s
  AND CASE WHEN earliest.kept
           THEN ({seen_tracked}) IS DISTINCT FROM ({earliest_tracked})
           ELSE ({seen_tracked}) IS DISTINCT FROM ({current_tracked})
      END;
