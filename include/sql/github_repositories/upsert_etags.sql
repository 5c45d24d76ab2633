-- ETags of the detail responses of this run (fetched_etags), sent back as If-None-Match by later REST
-- refreshes. One per repository: the one fetched last.
INSERT INTO github.repository_etags (repo_id, etag, fetched_at)
SELECT DISTINCT ON (fetched.repo_id) fetched.repo_id, fetched.etag, %(fetched_at)s
FROM fetched_etags AS fetched
WHERE EXISTS (SELECT FROM github.repositories r WHERE r.id = fetched.repo_id)
ORDER BY fetched.repo_id, fetched.line DESC
ON CONFLICT (repo_id) DO UPDATE
SET etag = excluded.etag, fetched_at = excluded.fetched_at
WHERE github.repository_etags.etag IS DISTINCT FROM excluded.etag;
