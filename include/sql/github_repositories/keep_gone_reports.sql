-- This run's reports of repositories the warehouse does not hold (after the merge, so not one this run
-- inserted): kept for a run that saw them alive earlier and loads later (apply_gone_reports.sql).
INSERT INTO github.gone_reports (id, observed_at, reason)
SELECT DISTINCT ON (gone.id) gone.id, %(deleted_at)s, gone.reason
FROM gone_ids AS gone
WHERE NOT EXISTS (SELECT FROM github.repositories AS stored WHERE stored.id = gone.id)
ORDER BY gone.id, gone.reason
ON CONFLICT (id, observed_at) DO NOTHING;
