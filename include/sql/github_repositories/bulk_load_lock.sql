-- An initial load into an empty warehouse rebuilds the secondary indexes and the snapshots' foreign
-- key instead of maintaining them row by row, which needs the tables to itself until it commits.
-- NOWAIT: if any other session uses them (a reader, a concurrent load), the load takes the ordinary path
-- rather than queueing behind it, so it can never deadlock or stall readers on a busy warehouse.
LOCK TABLE github.repositories, github.repository_snapshots IN ACCESS EXCLUSIVE MODE NOWAIT;
