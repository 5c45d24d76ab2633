-- Repositories GitHub no longer serves, with why (github_etl.github.responses.GONE_REASONS), as a run
-- reports them. Streamed in with COPY from the shards' staged files, so a repository reported by two
-- shards is here twice; the statements reading the table make its ids distinct.
CREATE TEMP TABLE {table} (id bigint NOT NULL, reason text NOT NULL) ON COMMIT DROP;
