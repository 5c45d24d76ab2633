-- ETags of a run's detail responses, streamed in with COPY from the shards' staged files. Lines are
-- numbered so that, for a repository fetched twice, the later ETag is the one kept.
CREATE TEMP TABLE {table} (
    line    bigint GENERATED ALWAYS AS IDENTITY,
    repo_id bigint NOT NULL,
    etag    text   NOT NULL
) ON COMMIT DROP;
