-- The staged key files of one load: each staged row's id and row_hash, a few bytes per repository.
-- line numbers the keys in the order they were copied, which is the order of the row files' lines
-- (a key file holds one line per line of its row file): see take_changed_lines.sql.
CREATE TEMPORARY TABLE staged_keys (
    id       bigint NOT NULL,
    row_hash bigint NOT NULL,
    line     bigint GENERATED ALWAYS AS IDENTITY
) ON COMMIT DROP;
