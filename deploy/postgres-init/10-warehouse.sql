-- Second database on the compose PostgreSQL server: the warehouse the DAG loads into.
-- The official postgres image runs this once, on an empty data directory, as POSTGRES_USER, so the
-- warehouse is owned by the same role the postgres_default connection logs in with. Its tables are
-- created by the DAG itself (include/sql/github_repositories/schema.sql), not here.
CREATE DATABASE warehouse;
