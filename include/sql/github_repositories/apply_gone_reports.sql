-- Reports of repositories gone, kept by runs that loaded before the warehouse held them
-- (github.gone_reports), applied to those stored now: a run loaded late inserted one it saw alive
-- before a later run found it gone. It is marked deleted from the earliest report no earlier than its
-- last observation, as mark_deleted.sql and backdate_deleted.sql would have marked it had the runs
-- loaded in order; then the reports of stored repositories leave. Run after the merge, before this
-- run's own reports are marked.
UPDATE github.repositories AS target
SET deleted_at = report.observed_at,
    deleted_reason = report.reason,
    generation = %(generation)s
FROM (
    SELECT DISTINCT ON (reports.id) reports.id, reports.observed_at, reports.reason
    FROM github.gone_reports AS reports
    JOIN github.repositories AS stored ON stored.id = reports.id
    WHERE reports.observed_at >= stored.last_seen_at
    ORDER BY reports.id, reports.observed_at, reports.reason
) AS report
WHERE target.id = report.id
  AND (target.deleted_at IS NULL OR target.deleted_at > report.observed_at);

DELETE FROM github.gone_reports AS reports
USING github.repositories AS stored
WHERE stored.id = reports.id;
