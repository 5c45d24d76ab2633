-- Ids a run reports beside its rows: repositories GitHub no longer serves.
-- Streamed in with COPY from the shards' staged files, so a repository reported by two shards is here
-- twice; the statements reading the table make its ids distinct.
CREATE TEMP TABLE {table} (id bigint NOT NULL) ON COMMIT DROP;
