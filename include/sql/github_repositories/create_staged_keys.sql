-- The staged key files of one load: each staged row's id and row_hash, a few bytes per repository.
CREATE TEMPORARY TABLE staged_keys (
    id       bigint NOT NULL,
    row_hash bigint NOT NULL
) ON COMMIT DROP;
