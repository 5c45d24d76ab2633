-- Warehouse schema for the github_repositories DAG.
-- Applied by the DAG on every run: every statement is idempotent (IF NOT EXISTS),
-- so a fresh database and a long-lived one end up with the same shape.

CREATE SCHEMA IF NOT EXISTS github;

-- One row per repository, keyed by GitHub's numeric id (stable across renames).
-- Column names follow GitHub's REST fields so analysts can read GitHub's docs for them.
CREATE TABLE IF NOT EXISTS github.repositories (
    id                bigint      PRIMARY KEY,
    node_id           text        NOT NULL,
    full_name         text        NOT NULL,
    name              text        NOT NULL,
    owner_login       text        NOT NULL,
    owner_id          bigint,
    owner_type        text,
    description       text,
    homepage          text,
    html_url          text,
    language          text,
    license_spdx_id   text,
    topics            text[]      NOT NULL DEFAULT '{}',
    stargazers_count  integer     NOT NULL DEFAULT 0,
    forks_count       integer     NOT NULL DEFAULT 0,
    open_issues_count integer     NOT NULL DEFAULT 0,
    watchers_count    integer     NOT NULL DEFAULT 0,
    size              bigint      NOT NULL DEFAULT 0,
    default_branch    text,
    fork              boolean     NOT NULL DEFAULT false,
    archived          boolean     NOT NULL DEFAULT false,
    disabled          boolean     NOT NULL DEFAULT false,
    is_template       boolean     NOT NULL DEFAULT false,
    visibility        text,
    created_at        timestamptz,
    updated_at        timestamptz,
    pushed_at         timestamptz,
    -- Bookkeeping: set from the run's logical date, never from the wall clock, so
    -- re-running the same logical date writes nothing new.
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    -- Set by the refresh mode when GitHub answers 404/410/451 for a repository we hold.
    deleted_at        timestamptz,
    -- Digest of the data columns as last loaded (see github_etl.columns): equal digests, equal data.
    row_hash          bigint
);

-- Warehouses created before row_hash existed: their rows get a digest the next time they are loaded.
-- Checked first because ALTER TABLE locks the table exclusively even when there is nothing to add.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_attribute
        WHERE attrelid = 'github.repositories'::regclass AND attname = 'row_hash' AND NOT attisdropped
    ) THEN
        ALTER TABLE github.repositories ADD COLUMN row_hash bigint;
    END IF;
END
$$;

-- Star, fork and issue counts per repository per logical date: how stars are tracked over time.
CREATE TABLE IF NOT EXISTS github.repository_snapshots (
    repo_id           bigint  NOT NULL REFERENCES github.repositories (id) ON DELETE CASCADE,
    snapshot_date     date    NOT NULL,
    stargazers_count  integer NOT NULL,
    forks_count       integer NOT NULL,
    open_issues_count integer NOT NULL,
    PRIMARY KEY (repo_id, snapshot_date)
);

-- Audit trail: one row per DAG run, written in the load transaction.
CREATE TABLE IF NOT EXISTS github.load_runs (
    run_id        text        PRIMARY KEY,
    dag_id        text        NOT NULL,
    logical_date  timestamptz NOT NULL,
    mode          text        NOT NULL,
    listed        integer     NOT NULL DEFAULT 0,
    enriched      integer     NOT NULL DEFAULT 0,
    skipped       integer     NOT NULL DEFAULT 0,
    rejected      integer     NOT NULL DEFAULT 0,
    inserted      integer     NOT NULL DEFAULT 0,
    updated       integer     NOT NULL DEFAULT 0,
    unchanged     integer     NOT NULL DEFAULT 0,
    api_requests  integer     NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL
);

-- ETags of repository detail responses: sent back as If-None-Match, a 304 costs no quota.
CREATE TABLE IF NOT EXISTS github.repository_etags (
    repo_id     bigint      PRIMARY KEY,
    etag        text        NOT NULL,
    fetched_at  timestamptz NOT NULL
);

-- Indexes that serve the repository API's filters and sort orders.
CREATE INDEX IF NOT EXISTS repositories_language_stars_idx
    ON github.repositories (language, stargazers_count DESC, id DESC);
CREATE INDEX IF NOT EXISTS repositories_owner_login_idx
    ON github.repositories (lower(owner_login), id);
CREATE INDEX IF NOT EXISTS repositories_stars_idx
    ON github.repositories (stargazers_count DESC, id DESC);
CREATE INDEX IF NOT EXISTS repositories_created_idx
    ON github.repositories (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS repositories_pushed_idx
    ON github.repositories (pushed_at DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS repositories_topics_idx
    ON github.repositories USING gin (topics);
-- Dropped: the only reader (a quality check) scans anyway, and an index on last_seen_at made every
-- daily bookkeeping update a non-HOT one that rewrote all eight indexes.
DROP INDEX IF EXISTS github.repositories_last_seen_idx;
-- Snapshots arrive a day at a time and are appended in date order, so a BRIN index (a few pages, next
-- to nothing to maintain) finds one date's rows without reading the whole history.
CREATE INDEX IF NOT EXISTS repository_snapshots_date_brin
    ON github.repository_snapshots USING brin (snapshot_date);
CREATE INDEX IF NOT EXISTS load_runs_logical_date_idx
    ON github.load_runs (logical_date DESC);
