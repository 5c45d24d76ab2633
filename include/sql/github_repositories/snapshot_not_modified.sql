-- Today's snapshot of repositories GitHub reported unchanged: their current counts, as stored.
INSERT INTO github.repository_snapshots (repo_id, snapshot_date, stargazers_count, forks_count, open_issues_count)
SELECT id, %(snapshot_date)s, stargazers_count, forks_count, open_issues_count
FROM github.repositories
WHERE id = ANY(%(ids)s::bigint[])
ON CONFLICT (repo_id, snapshot_date) DO NOTHING;
