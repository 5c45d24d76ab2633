-- ETags of the detail responses of this run, sent back as If-None-Match by later REST refreshes.
INSERT INTO github.repository_etags (repo_id, etag, fetched_at)
SELECT repo_id, etag, %(fetched_at)s
FROM unnest(%(ids)s::bigint[], %(etags)s::text[]) AS fetched (repo_id, etag)
WHERE EXISTS (SELECT FROM github.repositories r WHERE r.id = fetched.repo_id)
ON CONFLICT (repo_id) DO UPDATE
SET etag = excluded.etag, fetched_at = excluded.fetched_at
WHERE github.repository_etags.etag IS DISTINCT FROM excluded.etag;
