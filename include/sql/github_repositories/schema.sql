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
    deleted_at        timestamptz
);

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
CREATE INDEX IF NOT EXISTS repositories_last_seen_idx
    ON github.repositories (last_seen_at, id);
CREATE INDEX IF NOT EXISTS load_runs_logical_date_idx
    ON github.load_runs (logical_date DESC);
