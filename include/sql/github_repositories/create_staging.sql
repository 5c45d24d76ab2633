-- Staging table of one load: the staged files' columns, with the warehouse's types but none of its
-- constraints or indexes, so COPY only parses and appends. Temporary tables write no WAL; ON COMMIT
-- DROP makes it vanish with the load's transaction, committed or rolled back.
CREATE TEMPORARY TABLE staged_repositories ON COMMIT DROP AS
SELECT {columns}
FROM github.repositories
WITH NO DATA;
