-- Warehouse schema for the github_repositories DAG.
-- Applied by the DAG on every run: every statement is idempotent (IF NOT EXISTS). It declares today's
-- shape only; a change that must migrate a deployed warehouse will come with a migration of its own. A
-- column added to a table below is not added to a table that exists: the schema step then fails, naming
-- the ALTER TABLE that adds it (github_etl.hooks.warehouse.apply_schema).

-- Created only when missing: CREATE SCHEMA IF NOT EXISTS asks for CREATE on the database even when the
-- schema exists, and a role that owns only a schema its DBA made for it has no such privilege.
DO $$
BEGIN
    IF to_regnamespace('github') IS NULL THEN
        CREATE SCHEMA github;
    END IF;
END
$$;

-- The write generation of the transaction that calls it: a number greater than every generation a committed
-- transaction wrote, the same for every call in the transaction. Taking it takes the writers' lock (the row of
-- github.repositories_generation, below) until commit, so the generations rows carry follow the order their
-- writes commit in: a reader that has read every row up to generation G has read every committed change up to
-- G, and no transaction can commit one later with a generation of G or below (docs/history.md#reading-changes-incrementally).
-- The load calls it once and passes the value to its statements; it is also the columns' default, so that a
-- row inserted by hand gets a generation too. Kept for the transaction in a setting of its own (undone with it).
CREATE OR REPLACE FUNCTION github.write_generation() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    claimed text := current_setting('github_etl.write_generation', true);
    taken bigint;
BEGIN
    IF claimed IS NOT NULL AND claimed <> '' THEN
        RETURN claimed::bigint;
    END IF;
    UPDATE github.repositories_generation SET generation = generation + 1 RETURNING generation INTO taken;
    PERFORM set_config('github_etl.write_generation', taken::text, true);
    RETURN taken;
END
$$;

-- One row per repository, keyed by GitHub's numeric id (stable across renames).
-- Column names follow GitHub's REST fields so analysts can read GitHub's docs for them.
--
-- owner_login and topics compare byte by byte (COLLATE "C"): GitHub allows only ASCII letters, digits
-- and hyphens in logins and topics, where byte order and lower() agree with every collation, and a
-- memcmp per comparison makes their indexes cheaper to build than a locale's comparison.
CREATE TABLE IF NOT EXISTS github.repositories (
    id                bigint      PRIMARY KEY,
    node_id           text        NOT NULL,
    full_name         text        NOT NULL,
    name              text        NOT NULL,
    owner_login       text        COLLATE "C" NOT NULL,
    owner_id          bigint,
    owner_type        text,
    description       text,
    homepage          text,
    html_url          text,
    language          text,
    license_spdx_id   text,
    topics            text[]      COLLATE "C" NOT NULL DEFAULT '{}',
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
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz,
    pushed_at         timestamptz,
    -- Bookkeeping: set from when the run fetched the data (staged with them), never from the logical
    -- date or the wall clock at load, so a backfill stores no false history and a re-run writes nothing new.
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    -- Set when GitHub no longer serves a repository we hold, with what it answered: not_found
    -- (404/410), legal_block (451), disabled (403 "Repository access blocked"), not_public.
    deleted_at        timestamptz,
    deleted_reason    text,
    -- Digest of the data columns as last loaded (see github_etl.columns): equal digests, equal data.
    row_hash          bigint,
    -- The write generation (github.write_generation) of the load that last changed the row: inserted it, changed
    -- its data, first_seen_at or deletion. Not moved when only last_seen_at moves (a repository seen again
    -- unchanged, most rows of a daily run): that keeps the daily update HOT despite the index on it, and the
    -- observation itself is the snapshot, which carries a generation of its own.
    generation        bigint      NOT NULL DEFAULT github.write_generation()
)
-- Half of every page is left free for the next version of its rows: a daily run moves the last_seen_at
-- of most stored repositories, and with room on the same page that is a HOT update (no index touched)
-- instead of a new entry in each of the table's seven indexes. The price is twice the pages on disk.
WITH (fillfactor = 50);

-- Star, fork and issue counts per repository per observed date (UTC): how stars are tracked over time.
-- repo_id is a github.repositories id, but no foreign key enforces it: the load writes a snapshot
-- only for a repository it writes in the same transaction, and the quality check
-- snapshots_reference_repositories verifies every run's snapshots afterwards; a foreign key would
-- probe and lock a repository row for every snapshot. To remove a repository, delete its snapshots too.
--
-- Partitioned by month (github.repository_snapshots_YYYY_MM, created by the load before it writes a
-- month's first snapshot; see github.ensure_snapshot_partition below): in one table a day's append
-- would touch every page of a primary key that grows with the whole history, and old months can be
-- detached or dropped whole.
CREATE TABLE IF NOT EXISTS github.repository_snapshots (
    repo_id           bigint  NOT NULL,
    snapshot_date     date    NOT NULL,
    stargazers_count  integer NOT NULL,
    forks_count       integer NOT NULL,
    open_issues_count integer NOT NULL,
    -- The repository's primary language as the run saw it (github_etl.columns.SNAPSHOT_ATTRIBUTES): the
    -- day summaries group a day's snapshots by it without joining github.repositories.
    language          text,
    -- When the run whose counts the row holds fetched them: of two runs of one day the later observation's
    -- counts are kept, whatever order their loads commit in. NULL: inserted by hand, time unknown.
    observed_at       timestamptz,
    -- The write generation of the load that wrote or last changed the snapshot (see github.repositories).
    generation        bigint  NOT NULL DEFAULT github.write_generation(),
    PRIMARY KEY (repo_id, snapshot_date)
) PARTITION BY RANGE (snapshot_date);

-- Whether an attached partition holds a date's snapshots (one an operator made, a year wide, say), read from
-- the catalog alone: no lock, so it never waits for a first load's or a DBA's exclusive lock on a month. The
-- bound is deparsed without its table (relid 0: a range of dates holds only constants), as opening the table
-- would lock it. A partition being detached (14 and later) holds nothing.
CREATE OR REPLACE FUNCTION github.snapshot_partition_exists(day date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT FROM pg_catalog.pg_inherits AS child
        JOIN pg_catalog.pg_class AS part ON part.oid = child.inhrelid,
        LATERAL regexp_match(
            pg_catalog.pg_get_expr(part.relpartbound, 0), '^FOR VALUES FROM \((.*)\) TO \((.*)\)$'
        ) AS bound
        WHERE child.inhparent = 'github.repository_snapshots'::regclass
          AND NOT coalesce((to_jsonb(child) ->> 'inhdetachpending')::boolean, false)
          AND (bound[1] = 'MINVALUE' OR btrim(bound[1], '''')::date <= day)
          AND (bound[2] = 'MAXVALUE' OR day < btrim(bound[2], '''')::date)
    )
$$;

-- The partition that holds a date's snapshots, created if missing: an empty table attached to the
-- partitioned one. ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE lock on the parent, which readers
-- and writers do not wait for (CREATE TABLE ... PARTITION OF would take an ACCESS EXCLUSIVE one), but which
-- waits for a DBA's ANALYZE or DETACH ... CONCURRENTLY. A month's table kept after it was detached is refused
-- by name: loading into it again needs the DBA's choice (drop, rename or attach it). So is one whose
-- DETACH ... CONCURRENTLY was cancelled half-way (a lock or statement timeout, Ctrl-C): until the detach is
-- finalized it is still a partition, which none of those choices can take the place of.
CREATE OR REPLACE FUNCTION github.ensure_snapshot_partition(day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    month_start date := date_trunc('month', day)::date;
    partition_name text := 'repository_snapshots_' || to_char(month_start, 'YYYY_MM');
    overlap text;
BEGIN
    IF github.snapshot_partition_exists(day) THEN
        RETURN;
    END IF;
    IF EXISTS (
        SELECT FROM pg_catalog.pg_inherits AS child
        WHERE child.inhparent = 'github.repository_snapshots'::regclass
          AND child.inhrelid = to_regclass(format('github.%I', partition_name))
          AND coalesce((to_jsonb(child) ->> 'inhdetachpending')::boolean, false)
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format(
                'github.%I is half-detached from github.repository_snapshots (a DETACH PARTITION ... CONCURRENTLY '
                'that did not finish), so the snapshots of %s have nowhere to go', partition_name, day
            ),
            HINT = format(
                'Finish the detach first: ALTER TABLE github.repository_snapshots DETACH PARTITION github.%I '
                'FINALIZE; then drop, rename or attach it again',
                partition_name
            );
    END IF;
    IF to_regclass(format('github.%I', partition_name)) IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format(
                'github.%I is no attached partition of github.repository_snapshots (detached for retention?), '
                'so the snapshots of %s have nowhere to go', partition_name, day
            ),
            HINT = format(
                'Drop or rename github.%I, or attach it again: ALTER TABLE github.repository_snapshots ATTACH '
                'PARTITION github.%I FOR VALUES FROM (%L) TO (%L); then summarize its days again: SELECT '
                'github.refresh_day_summaries(d::date) FROM generate_series(%L::date, %L::date, interval ''1 day'') '
                'AS d',
                partition_name, partition_name, month_start, (month_start + interval '1 month')::date,
                month_start, (month_start + interval '1 month' - interval '1 day')::date
            );
    END IF;
    -- Columns and CHECK constraints (ATTACH requires the parent's): attaching gives the table the parent's key
    -- and indexes, named as a rebuild names them.
    EXECUTE format('CREATE TABLE github.%I (LIKE github.repository_snapshots INCLUDING CONSTRAINTS)', partition_name);
    BEGIN
        EXECUTE format(
            'ALTER TABLE github.repository_snapshots ATTACH PARTITION github.%I FOR VALUES FROM (%L) TO (%L)',
            partition_name, month_start, (month_start + interval '1 month')::date
        );
    EXCEPTION WHEN invalid_object_definition THEN
        -- "would overlap partition ...": another partition holds the month, one the catalog read above left out
        -- (half-detached under another name). Nothing could store the day's snapshots: refused, naming it.
        GET STACKED DIAGNOSTICS overlap = MESSAGE_TEXT;
        EXECUTE format('DROP TABLE github.%I', partition_name);
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('the snapshots of %s have nowhere to go (%s)', day, overlap),
            HINT = 'Finish a detach left half-done (ALTER TABLE github.repository_snapshots DETACH PARTITION ... '
                   'FINALIZE), or attach a partition that holds the date';
    END;
END
$$;

-- The GitHub whose data the warehouse holds, by its API root: recorded by the first load, in its transaction.
-- Two GitHubs (github.com and a GitHub Enterprise Server, say) number their repositories, node ids and
-- owners independently, so one id names two different repositories: plan and load refuse a run of
-- another GitHub (github_etl.load.source) instead of overwriting these rows and marking them deleted.
CREATE TABLE IF NOT EXISTS github.source (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    api_url     text        NOT NULL,
    dag_id      text        NOT NULL,
    run_id      text        NOT NULL,
    recorded_at timestamptz NOT NULL
);

-- Audit trail: one row per DAG run, written in the load transaction. A run is its DAG's id and its run id:
-- two DAGs harvesting into the warehouse on one schedule give their runs the same run ids.
CREATE TABLE IF NOT EXISTS github.load_runs (
    run_id        text        NOT NULL,
    dag_id        text        NOT NULL,
    logical_date  timestamptz NOT NULL,
    -- When the run fetched its data: its rows' last_seen_at and its snapshots' date.
    observed_at   timestamptz NOT NULL,
    mode          text        NOT NULL,
    listed        integer     NOT NULL DEFAULT 0,
    enriched      integer     NOT NULL DEFAULT 0,
    skipped       integer     NOT NULL DEFAULT 0,
    rejected      integer     NOT NULL DEFAULT 0,
    -- How many of them for each reason ({"wrong_type:stargazers_count": 2}), so that a run's quarantine is
    -- explained without reading its staged files.
    rejected_reasons jsonb    NOT NULL DEFAULT '{}',
    inserted      integer     NOT NULL DEFAULT 0,
    updated       integer     NOT NULL DEFAULT 0,
    unchanged     integer     NOT NULL DEFAULT 0,
    -- Staged lines dropped because another line of the run had the same id (search pages that shifted
    -- while stars moved): enriched - rejected = inserted + updated + unchanged + duplicates.
    duplicates    integer     NOT NULL DEFAULT 0,
    -- Stored repositories the run found gone (deleted, made private, blocked) and marked deleted.
    marked_deleted integer    NOT NULL DEFAULT 0,
    -- Owners mode: owners GitHub no longer knew when they were listed (deleted or renamed since the plan).
    missing_owners integer    NOT NULL DEFAULT 0,
    -- Repositories GraphQL gave no node for or refused (SAML single sign-on) that REST served, a request each:
    -- with skipped, what the next run's plan counts for them.
    read_over_rest integer    NOT NULL DEFAULT 0,
    api_requests  integer     NOT NULL DEFAULT 0,
    -- Search mode: each second holding more matches than GitHub serves for one query
    -- ({"second", "matches", "unreachable"}), so an incomplete search is never silent.
    unreachable   jsonb       NOT NULL DEFAULT '[]',
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    -- The write generation of the load that wrote the row (see github.repositories): the rows that load changed
    -- carry it, unless a later load changed them again.
    generation    bigint      NOT NULL DEFAULT github.write_generation(),
    -- When the run's quality checks passed (github_etl.load.checks); NULL until then, and again when a later
    -- load of the run changes rows. The next run's checks cover every row written since the last pass.
    checks_passed_at timestamptz,
    PRIMARY KEY (dag_id, run_id)
);

-- Indexes that serve the repository API's filters and sort orders. A language is matched in any case,
-- as GitHub's `language:` qualifier is (`python` finds Python).
-- Created only when missing, here and below: CREATE INDEX IF NOT EXISTS takes a SHARE lock on its table
-- even when the index exists, so every run would wait for any open writer of the table (or a VACUUM, or a
-- REINDEX ... CONCURRENTLY) and hold back new writers meanwhile.
DO $$
BEGIN
    IF to_regclass('github.repositories_language_stars_idx') IS NULL THEN
        CREATE INDEX repositories_language_stars_idx
            ON github.repositories (lower(language), stargazers_count DESC, id DESC);
    END IF;
    IF to_regclass('github.repositories_owner_login_idx') IS NULL THEN
        CREATE INDEX repositories_owner_login_idx
            ON github.repositories (lower(owner_login), id);
    END IF;
    IF to_regclass('github.repositories_stars_idx') IS NULL THEN
        CREATE INDEX repositories_stars_idx
            ON github.repositories (stargazers_count DESC, id DESC);
    END IF;
    IF to_regclass('github.repositories_created_idx') IS NULL THEN
        CREATE INDEX repositories_created_idx
            ON github.repositories (created_at DESC, id DESC);
    END IF;
    IF to_regclass('github.repositories_pushed_idx') IS NULL THEN
        CREATE INDEX repositories_pushed_idx
            ON github.repositories (pushed_at DESC NULLS LAST, id DESC);
    END IF;
    IF to_regclass('github.repositories_topics_idx') IS NULL THEN
        CREATE INDEX repositories_topics_idx
            ON github.repositories USING gin (topics);
    END IF;
    -- No index on last_seen_at: it would make every daily bookkeeping update a non-HOT one. generation does
    -- not move on those updates (see the column), so its index costs only the rows whose content changed.
    IF to_regclass('github.repositories_generation_idx') IS NULL THEN
        CREATE INDEX repositories_generation_idx ON github.repositories (generation);
    END IF;
    -- Snapshots arrive a day at a time and are appended in date order, so a BRIN index (a few pages, next
    -- to nothing to maintain) finds one date's rows without reading the whole history.
    IF to_regclass('github.repository_snapshots_date_brin') IS NULL THEN
        CREATE INDEX repository_snapshots_date_brin
            ON github.repository_snapshots USING brin (snapshot_date);
    END IF;
    -- A load appends its snapshots together, all with its generation: a BRIN index finds those newer than a
    -- reader's last generation in each month's partition, for next to nothing.
    IF to_regclass('github.repository_snapshots_generation_brin') IS NULL THEN
        CREATE INDEX repository_snapshots_generation_brin
            ON github.repository_snapshots USING brin (generation);
    END IF;
    IF to_regclass('github.load_runs_logical_date_idx') IS NULL THEN
        CREATE INDEX load_runs_logical_date_idx
            ON github.load_runs (logical_date DESC);
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Repository count in O(1) for the API (github_etl.api.counting): a generation number that every
-- statement writing github.repositories moves forward in its own transaction.
--
-- The API caches (generation, count(*)) read in one snapshot and, per request, reads only the
-- generation: equal means no write has committed since the count was taken, so the cached count is
-- exact; larger means it counts again (once, shared by concurrent requests). Nothing needs to call
-- anything: loads, tools and tests that write the table directly all move the generation.
--
-- A statement-level trigger without transition tables: one single-row UPDATE per writing statement,
-- whatever the number of rows. BEFORE, so a writer takes the generation's row lock before any row lock
-- of github.repositories; every writer takes them in that order, so the lock adds no deadlock. Writers
-- of github.repositories run one after another from their first write to their commit (the DAG runs one
-- at a time; two concurrent loads already queue on the rows they share).
CREATE TABLE IF NOT EXISTS github.repositories_generation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint  NOT NULL
);
-- Only when missing: a conflict with the row would wait for a writer holding its lock to commit.
INSERT INTO github.repositories_generation (generation)
SELECT 0 WHERE NOT EXISTS (SELECT FROM github.repositories_generation)
ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION github.bump_repositories_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE github.repositories_generation SET generation = generation + 1;
    RETURN NULL;
END
$$;

-- Created only when missing: CREATE OR REPLACE TRIGGER would lock the table against writers on every run.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_trigger
        WHERE tgrelid = 'github.repositories'::regclass AND tgname = 'repositories_bump_generation'
    ) THEN
        CREATE TRIGGER repositories_bump_generation
            BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON github.repositories
            FOR EACH STATEMENT EXECUTE FUNCTION github.bump_repositories_generation();
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Attribute history: a repository's name, owner, license and terms (github_etl.columns.HISTORY_COLUMNS)
-- as they were before a load changed them, one row per version replaced. The current version is the
-- github.repositories row; together they hold every state the warehouse observed. Written by the merge in
-- its own transaction (record_attribute_changes.sql), only for repositories whose data changed, so an
-- unchanged repository adds nothing. valid_from/valid_until are observation times: the version was seen
-- from valid_from and replaced by what the load at valid_until saw.
-- No foreign key to github.repositories, for the reasons given for the snapshots above.
CREATE TABLE IF NOT EXISTS github.repository_history (
    repo_id          bigint      NOT NULL,
    valid_from       timestamptz NOT NULL,
    valid_until      timestamptz NOT NULL,
    full_name        text        NOT NULL,
    owner_login      text        COLLATE "C" NOT NULL,
    owner_id         bigint,
    license_spdx_id  text,
    archived         boolean     NOT NULL,
    visibility       text,
    default_branch   text,
    fork             boolean     NOT NULL,
    is_template      boolean     NOT NULL,
    topics           text[]      COLLATE "C" NOT NULL,
    -- The write generation of the load that wrote or last changed the version (see github.repositories).
    generation       bigint      NOT NULL DEFAULT github.write_generation(),
    PRIMARY KEY (repo_id, valid_until)
);
-- A renamed or transferred repository is found by its former full name (the API's detail endpoint).
DO $$
BEGIN
    IF to_regclass('github.repository_history_full_name_idx') IS NULL THEN
        CREATE INDEX repository_history_full_name_idx
            ON github.repository_history (lower(full_name), valid_until DESC);
    END IF;
    IF to_regclass('github.repository_history_generation_idx') IS NULL THEN
        CREATE INDEX repository_history_generation_idx ON github.repository_history (generation);
    END IF;
END
$$;

-- The census's cursor (mode census, docs/census.md): the warehouse holds every repository that
-- GET /repositories listed with an id in (since_id, cursor_id] when a census crawled it. Only a
-- census load moves it (advance_census_cursor.sql), in the load's own transaction.
CREATE TABLE IF NOT EXISTS github.census_cursor (
    census    text        PRIMARY KEY,
    since_id  bigint      NOT NULL,
    cursor_id bigint      NOT NULL,
    dag_id    text        NOT NULL,
    run_id    text        NOT NULL,
    moved_at  timestamptz NOT NULL,
    CHECK (since_id <= cursor_id)
);

-- The id range each census load crawled, kept so that the covered range takes in a range once a
-- range it touches is covered: census runs loaded again out of their order (a warehouse rebuilt from
-- staging after a restore) leave the cursor where loading them in order does (absorb_census_ranges.sql).
CREATE TABLE IF NOT EXISTS github.census_ranges (
    census   text   NOT NULL,
    dag_id   text   NOT NULL,
    run_id   text   NOT NULL,
    since_id bigint NOT NULL,
    until_id bigint NOT NULL,
    PRIMARY KEY (census, dag_id, run_id)
);

-- A run's reports of repositories gone that the warehouse did not hold when it loaded: a run that saw
-- them alive earlier, loaded after it (a failed load cleared later), stores them marked deleted from
-- the earliest report after its observation, as loading the runs in order does (apply_gone_reports.sql).
-- A report leaves once its repository is stored; those of repositories never stored (gone between a
-- listing and its enrichment) are few, and any older than every run that may still load can be deleted.
CREATE TABLE IF NOT EXISTS github.gone_reports (
    id          bigint      NOT NULL,
    observed_at timestamptz NOT NULL,
    reason      text        NOT NULL,
    PRIMARY KEY (id, observed_at)
);

-- Day summaries for the API's trending and language views (github_etl.api.insights). Answering
-- those from the snapshots would join or aggregate a whole day of them (a million rows) per request;
-- these tables hold the answers, a few rows per language and one per repository whose stars rose.
-- The load refreshes the summaries of its snapshot date in its own transaction
-- (github.refresh_day_summaries below), so they never disagree with the snapshots they summarize.

-- Days whose snapshots were dropped for retention after they were summarized and which a load then wrote
-- again in part (a run of the day loaded again brings back its own snapshots, not the day's other runs'):
-- their summaries stay as they were summarized, as those of a day whose snapshots are all gone do. Delete a
-- day's row to have its summaries made from its snapshots again (github.refresh_day_summaries).
CREATE TABLE IF NOT EXISTS github.summaries_kept_days (
    snapshot_date date        PRIMARY KEY,
    kept_at       timestamptz NOT NULL DEFAULT now()
);

-- Repositories and stars per primary language (NULL: none) among the repositories observed on a date.
-- A date has rows here exactly when it has snapshots: this is also the list of observation dates.
CREATE TABLE IF NOT EXISTS github.language_days (
    snapshot_date date    NOT NULL,
    language      text,
    repositories  integer NOT NULL,
    stars         bigint  NOT NULL
);
DO $$
BEGIN
    IF to_regclass('github.language_days_date_idx') IS NULL THEN
        CREATE INDEX language_days_date_idx ON github.language_days (snapshot_date);
    END IF;
END
$$;

-- Star gains over the trending windows: for each end date and window (in days) observed at both
-- ends, one row per repository observed on both dates whose stars rose. Repositories whose stars
-- stayed or fell are counted in star_gain_windows only: a trending list never reaches them while
-- another repository rose, and leaving them out keeps a day's rows to the few that moved. Each row
-- carries the repository's language on the end date and its topics as they were when the gain was
-- computed, so that a filtered list is read from the summaries alone.
CREATE TABLE IF NOT EXISTS github.star_gains (
    end_date         date     NOT NULL,
    window_days      smallint NOT NULL,
    repo_id          bigint   NOT NULL,
    gain             integer  NOT NULL,
    stargazers_count integer  NOT NULL,
    language         text,
    topics           text[]   COLLATE "C" NOT NULL DEFAULT '{}'
);
-- The trending order, read from the top and stopped after a page; the topics ride along so that a
-- filter on a topic many risers carry (star_gain_windows.common_topics) reads the index alone.
DO $$
BEGIN
    IF to_regclass('github.star_gains_order_idx') IS NULL THEN
        CREATE INDEX star_gains_order_idx
            ON github.star_gains (end_date, window_days, gain DESC, repo_id DESC) INCLUDE (stargazers_count, topics);
    END IF;
    -- The same order within one language (the API looks up its spellings in the date's language_days).
    IF to_regclass('github.star_gains_language_idx') IS NULL THEN
        CREATE INDEX star_gains_language_idx
            ON github.star_gains (end_date, window_days, language, gain DESC, repo_id DESC) INCLUDE (stargazers_count);
    END IF;
END
$$;

-- The rows of star_gains once per topic that fewer than one in a hundred of the window's risers carry,
-- in the trending order within each topic. Walking the trending order, a filter on such a topic would
-- read a hundred rows or more per row it keeps, and the whole window for a topic no riser carries;
-- here it reads its own rows alone. A topic carried more widely is found within a few thousand rows
-- of the walk, and is left out: those are the topics a day's risers share most, the bulk of the rows.
CREATE TABLE IF NOT EXISTS github.star_gain_topics (
    end_date         date     NOT NULL,
    window_days      smallint NOT NULL,
    topic            text     COLLATE "C" NOT NULL,
    repo_id          bigint   NOT NULL,
    gain             integer  NOT NULL,
    stargazers_count integer  NOT NULL,
    language         text
);
DO $$
BEGIN
    IF to_regclass('github.star_gain_topics_order_idx') IS NULL THEN
        CREATE INDEX star_gain_topics_order_idx
            ON github.star_gain_topics (end_date, window_days, topic, gain DESC, repo_id DESC)
            INCLUDE (stargazers_count, language);
    END IF;
END
$$;

-- One row per end date and window whose two dates were both observed: how many repositories were
-- observed on both (compared), how many of them rose (the rows of star_gains), and the topics that
-- at least one in a hundred of the risers carry (common_topics, the ones star_gain_topics leaves out).
CREATE TABLE IF NOT EXISTS github.star_gain_windows (
    end_date      date     NOT NULL,
    window_days   smallint NOT NULL,
    compared      integer  NOT NULL,
    rising        integer  NOT NULL,
    common_topics text[]   COLLATE "C" NOT NULL DEFAULT '{}',
    PRIMARY KEY (end_date, window_days)
);

-- The trending windows, in days; the API offers exactly these (github_etl.api.insights.TRENDING_WINDOWS).
CREATE OR REPLACE FUNCTION github.trending_windows() RETURNS smallint[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY[1, 7, 30]::smallint[] $$;

-- Planner settings of the summaries' statements. The date a load summarizes is new to the planner's
-- statistics (autovacuum analyzes a month's partition once a tenth of it has changed: most days, never),
-- so it expects a few of the date's rows where there are a million, and would read the whole month,
-- sort a million rows, or probe repository by repository; it would also read github.repositories
-- through an index-only scan that the load's own updates have turned into a heap fetch per row. Each
-- statement names the plan methods it may use (the others are off, for the transaction only), and
-- github.restore_plan puts back the settings as they were.
CREATE OR REPLACE FUNCTION github.plan_methods() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['seqscan', 'indexscan', 'indexonlyscan', 'bitmapscan', 'nestloop', 'mergejoin', 'hashjoin', 'sort']
$$;

CREATE OR REPLACE FUNCTION github.allow_plan(methods text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    method text;
BEGIN
    FOREACH method IN ARRAY github.plan_methods() LOOP
        PERFORM set_config('enable_' || method, CASE WHEN method = ANY (methods) THEN 'on' ELSE 'off' END, true);
    END LOOP;
END
$$;

-- The settings github.allow_plan changes, as they are now: for github.restore_plan.
CREATE OR REPLACE FUNCTION github.current_plan() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(current_setting('enable_' || method) ORDER BY position)
    FROM unnest(github.plan_methods()) WITH ORDINALITY AS methods (method, position)
$$;

CREATE OR REPLACE FUNCTION github.restore_plan(settings text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    position integer;
BEGIN
    FOR position IN 1 .. cardinality(settings) LOOP
        PERFORM set_config('enable_' || (github.plan_methods())[position], settings[position], true);
    END LOOP;
END
$$;

-- Rebuild the gains of the windows ending on `end_day`, one pass over its snapshots for all of them:
-- the day's snapshots are joined by hash once with those of every window's first day that was observed
-- (each date's rows found through the BRIN index), and the pairs are counted per window as they
-- stream by, only the risers being kept, in arrays: no table of every pair is written. Windows whose
-- other end has no observation get no row: no gain is invented across a gap. The risers then take
-- their language and topics from github.repositories by key.
CREATE OR REPLACE FUNCTION github.refresh_star_gains(end_day date, windows smallint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    starts date[];
    counted record;
    settings text[] := github.current_plan();
    window_list smallint[] := '{}';
    compared_list integer[] := '{}';
    rising_windows smallint[] := '{}';
    rising_ids bigint[] := '{}';
    rising_gains integer[] := '{}';
    rising_stars integer[] := '{}';
    rising_languages text[] := '{}';
BEGIN
    -- A window with a day whose snapshots were dropped for retention (its language_days kept, or the day
    -- written again in part: github.summaries_kept_days) keeps the gains computed while they were there: a
    -- run of a dropped month loaded again would otherwise erase them.
    SELECT coalesce(array_agg(days), '{}') INTO windows
    FROM unnest(windows) AS days
    WHERE NOT EXISTS (
        SELECT FROM unnest(ARRAY[end_day, end_day - days]) AS compared (day)
        WHERE EXISTS (SELECT FROM github.summaries_kept_days WHERE snapshot_date = compared.day)
           OR (EXISTS (SELECT FROM github.language_days WHERE snapshot_date = compared.day)
               AND NOT EXISTS (SELECT FROM github.repository_snapshots WHERE snapshot_date = compared.day))
    );
    DELETE FROM github.star_gains WHERE end_date = end_day AND window_days = ANY (windows);
    DELETE FROM github.star_gain_topics WHERE end_date = end_day AND window_days = ANY (windows);
    DELETE FROM github.star_gain_windows WHERE end_date = end_day AND window_days = ANY (windows);
    SELECT array_agg(end_day - days) INTO starts
    FROM unnest(windows) AS days
    WHERE EXISTS (SELECT FROM github.language_days WHERE snapshot_date = end_day)
      AND EXISTS (SELECT FROM github.language_days WHERE snapshot_date = end_day - days)
      -- A month of snapshots dropped for retention keeps its language_days: its days compare with nothing.
      AND EXISTS (SELECT FROM github.repository_snapshots WHERE snapshot_date = end_day - days);
    IF starts IS NULL THEN
        RETURN;
    END IF;
    PERFORM github.allow_plan(ARRAY['bitmapscan', 'hashjoin']);
    FOR counted IN
        SELECT (end_day - start_day)::smallint AS window_days, coalesce(pairs.compared, 0) AS compared,
               coalesce(pairs.ids, '{}') AS ids, coalesce(pairs.gains, '{}') AS gains,
               coalesce(pairs.stars, '{}') AS stars, coalesce(pairs.languages, '{}') AS languages
        FROM unnest(starts) AS start_day
        LEFT JOIN (
            SELECT earliest.snapshot_date, count(*) AS compared,
                   array_agg(latest.repo_id) FILTER (WHERE latest.stargazers_count > earliest.stargazers_count) AS ids,
                   array_agg(latest.stargazers_count - earliest.stargazers_count)
                       FILTER (WHERE latest.stargazers_count > earliest.stargazers_count) AS gains,
                   array_agg(latest.stargazers_count)
                       FILTER (WHERE latest.stargazers_count > earliest.stargazers_count) AS stars,
                   array_agg(latest.language)
                       FILTER (WHERE latest.stargazers_count > earliest.stargazers_count) AS languages
            FROM github.repository_snapshots AS latest
            JOIN github.repository_snapshots AS earliest ON earliest.repo_id = latest.repo_id
            WHERE latest.snapshot_date = end_day AND earliest.snapshot_date = ANY (starts)
            GROUP BY earliest.snapshot_date
        ) AS pairs ON pairs.snapshot_date = start_day
    LOOP
        window_list := window_list || counted.window_days;
        compared_list := compared_list || counted.compared::integer;
        rising_windows := rising_windows || array_fill(counted.window_days, ARRAY[cardinality(counted.ids)]);
        rising_ids := rising_ids || counted.ids;
        rising_gains := rising_gains || counted.gains;
        rising_stars := rising_stars || counted.stars;
        rising_languages := rising_languages || counted.languages;
    END LOOP;

    -- The risers' topics: by key when they are few, in one pass over the table when they are many (the
    -- planner knows how many from the arrays; probing half the table by key took 5 s at 1M). The language is
    -- the end day's snapshot's, so that it is one the day's language_days spells (the API's filter reads them).
    PERFORM github.allow_plan(ARRAY['seqscan', 'indexscan', 'bitmapscan', 'nestloop', 'hashjoin', 'sort']);
    WITH risers AS MATERIALIZED (
        SELECT rising.window_days, rising.repo_id, rising.gain, rising.stargazers_count,
               rising.language, repository.topics
        FROM unnest(rising_windows, rising_ids, rising_gains, rising_stars, rising_languages)
             AS rising (window_days, repo_id, gain, stargazers_count, language)
        JOIN github.repositories AS repository ON repository.id = rising.repo_id
    ), gains AS (
        INSERT INTO github.star_gains (end_date, window_days, repo_id, gain, stargazers_count, language, topics)
        SELECT end_day, window_days, repo_id, gain, stargazers_count, language, topics FROM risers
        -- In the trending order: each index entry then lands beside the previous one.
        ORDER BY window_days, gain DESC, repo_id DESC
    ), rising AS MATERIALIZED (
        SELECT listed.window_days, listed.compared, count(risers.repo_id) AS risers
        FROM unnest(window_list, compared_list) AS listed (window_days, compared)
        LEFT JOIN risers ON risers.window_days = listed.window_days
        GROUP BY listed.window_days, listed.compared
    ), carried AS MATERIALIZED (
        -- Per window and topic, whether at least one in a hundred of the window's risers carry it.
        SELECT tagged.window_days, tagged.topic, count(*) * 100 >= min(rising.risers) AS common
        FROM (SELECT risers.window_days, unnest(risers.topics) AS topic FROM risers) AS tagged
        JOIN rising USING (window_days)
        GROUP BY tagged.window_days, tagged.topic
    ), counted_windows AS (
        INSERT INTO github.star_gain_windows (end_date, window_days, compared, rising, common_topics)
        SELECT end_day, rising.window_days, rising.compared, rising.risers,
               coalesce(
                   (SELECT array_agg(carried.topic ORDER BY carried.topic) FROM carried
                    WHERE carried.window_days = rising.window_days AND carried.common),
                   '{}'
               )
        FROM rising
    )
    -- DISTINCT: a topic listed twice on a repository is one row of its topic's list.
    INSERT INTO github.star_gain_topics (end_date, window_days, topic, repo_id, gain, stargazers_count, language)
    SELECT DISTINCT end_day, risers.window_days, tagged.topic, risers.repo_id, risers.gain, risers.stargazers_count,
           risers.language
    FROM risers, unnest(risers.topics) AS tagged (topic)
    JOIN carried ON carried.topic = tagged.topic
    WHERE carried.window_days = risers.window_days AND NOT carried.common;
    PERFORM github.restore_plan(settings);
END
$$;

-- Rebuild every summary that the snapshots of `day` enter: the day's language totals, the gains
-- ending on it, and the gains starting on it (a date loaded after later ones, as a backfill does;
-- a daily load finds no later date and skips them at the cost of a lookup). The day's snapshots are
-- read once through the BRIN index and grouped by the language each of them carries.
CREATE OR REPLACE FUNCTION github.refresh_day_summaries(day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    days smallint;
    settings text[] := github.current_plan();
BEGIN
    IF EXISTS (SELECT FROM github.summaries_kept_days WHERE snapshot_date = day) THEN
        RETURN;
    END IF;
    DELETE FROM github.language_days WHERE snapshot_date = day;
    -- Sorting is off: the few languages are grouped by hash.
    PERFORM github.allow_plan(ARRAY['bitmapscan']);
    INSERT INTO github.language_days (snapshot_date, language, repositories, stars)
    SELECT day, language, count(*), sum(stargazers_count)
    FROM github.repository_snapshots WHERE snapshot_date = day
    GROUP BY language;
    PERFORM github.restore_plan(settings);

    PERFORM github.refresh_star_gains(day, github.trending_windows());
    FOREACH days IN ARRAY github.trending_windows() LOOP
        IF EXISTS (SELECT FROM github.language_days WHERE snapshot_date = day + days) THEN
            PERFORM github.refresh_star_gains(day + days, ARRAY[days]);
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- What each table and column holds, as comments: psql's \d+ and SQL clients show them to analysts.
-- The columns that hold GitHub's data are described in github_etl.columns, beside their spec, and set
-- by the schema step after this file (github_etl.hooks.warehouse.apply_schema).
-- A comment is set only when it differs: COMMENT takes a SHARE UPDATE EXCLUSIVE lock on its table, which
-- would wait for a VACUUM or an index built concurrently on every run.
CREATE OR REPLACE FUNCTION github.describe(relation regclass, column_name text, description text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    position smallint;
BEGIN
    IF column_name IS NULL THEN
        IF obj_description(relation, 'pg_class') IS DISTINCT FROM description THEN
            EXECUTE format('COMMENT ON TABLE %s IS %L', relation, description);
        END IF;
        RETURN;
    END IF;
    SELECT attnum INTO STRICT position
    FROM pg_attribute WHERE attrelid = relation AND attname = column_name AND NOT attisdropped;
    IF col_description(relation, position) IS DISTINCT FROM description THEN
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', relation, column_name, description);
    END IF;
END
$$;

SELECT github.describe(relation::regclass, column_name, description)
FROM (VALUES
    ('github.repositories', NULL,
     'One row per public repository the runs fetched, keyed by GitHub''s id; columns named after GitHub''s REST '
     'fields. Deleted repositories stay, with deleted_at set.'),
    ('github.repository_snapshots', NULL,
     'Stars, forks and open issues of each repository on each day (UTC) a run observed it; a day without a row '
     'was not observed. Partitioned by month.'),
    ('github.repository_snapshots', 'repo_id', 'The repository (github.repositories.id).'),
    ('github.repository_snapshots', 'snapshot_date',
     'The day (UTC) the run fetched the counts. Not a watermark for reading new snapshots: a run loaded after a later '
     'one writes an earlier day; read by generation.'),
    ('github.repository_snapshots', 'observed_at',
     'When the run whose counts the row holds fetched them (its github.load_runs.observed_at): of two runs of one '
     'day the later observation''s are kept, whatever order their loads commit in. NULL: inserted by hand. Its '
     'move alone (a later run of the day seeing the same counts) leaves generation as it is.'),
    ('github.repository_snapshots', 'generation',
     'The write generation of the load that wrote the snapshot or last changed its counts, in the order loads '
     'commit (github.repositories.generation).'),
    ('github.repository_history', NULL,
     'Earlier versions of each repository''s name, owner, license and terms, one row per version a load '
     'replaced; the current version is the github.repositories row.'),
    ('github.repository_history', 'repo_id', 'The repository (github.repositories.id).'),
    ('github.repository_history', 'valid_from', 'When a run first fetched this version.'),
    ('github.repository_history', 'valid_until',
     'When a run fetched the version that replaced it. A run loaded late may end a kept version earlier, changing '
     'this key: read changes by generation, and a repository''s versions again whole.'),
    ('github.repository_history', 'generation',
     'The write generation of the load that wrote or last changed the version, in the order loads commit '
     '(github.repositories.generation).'),
    ('github.source', NULL,
     'The GitHub whose repositories the warehouse holds: ids of two GitHubs name different repositories, so runs '
     'of another GitHub are refused (docs/github-enterprise.md).'),
    ('github.source', 'singleton', 'Always true: the table has one row.'),
    ('github.source', 'api_url', 'The GitHub''s API root, e.g. https://api.github.com or https://HOST/api/v3.'),
    ('github.source', 'dag_id', 'The DAG of the run whose load recorded it.'),
    ('github.source', 'run_id', 'The run whose load recorded it.'),
    ('github.source', 'recorded_at', 'When that load''s transaction began.'),
    ('github.load_runs', NULL, 'One row per DAG run that loaded, written in its load''s transaction.'),
    ('github.load_runs', 'run_id', 'Airflow''s run id: a run is its DAG id and its run id.'),
    ('github.load_runs', 'dag_id', 'Airflow''s DAG id: two DAGs may harvest into one warehouse.'),
    ('github.load_runs', 'logical_date',
     'The run''s logical date (which day it was scheduled for). Not a watermark for reading changes: a backfill '
     'loads past logical dates after later ones; read by generation.'),
    ('github.load_runs', 'observed_at',
     'When the run fetched its data: its repositories'' last_seen_at and its snapshots'' date. Not a watermark '
     'for reading changes: a run loaded after a later one has an earlier one; read by generation.'),
    ('github.load_runs', 'mode', 'sample, search, owners, refresh or census.'),
    ('github.load_runs', 'listed', 'Repositories the run listed, found or was asked for.'),
    ('github.load_runs', 'enriched', 'Repositories whose full metadata the run staged.'),
    ('github.load_runs', 'skipped',
     'Listed repositories GitHub no longer served to everyone when the run fetched them (deleted, made private, '
     'blocked).'),
    ('github.load_runs', 'rejected',
     'Records the transform quarantined, not loaded: each with its reason in the run''s staged '
     'rejected/<shard>.jsonl files, which the transform and load task logs name.'),
    ('github.load_runs', 'rejected_reasons',
     'How many records were quarantined for each reason, as {"reason": count}; empty when none.'),
    ('github.load_runs', 'inserted', 'Repositories the warehouse did not hold.'),
    ('github.load_runs', 'updated',
     'Stored repositories whose row was written: their data changed, or they were seen at a later time than '
     'recorded (last_seen_at moved), or seen again after being marked deleted.'),
    ('github.load_runs', 'unchanged',
     'Stored repositories staged with the data and observation times already recorded (a run loaded again): '
     'nothing written.'),
    ('github.load_runs', 'duplicates',
     'Staged copies of a repository the run had already staged (search pages shift while stars move, and a '
     'slice that shifted is read again), dropped for the latest one: enriched - rejected = inserted + updated + '
     'unchanged + duplicates.'),
    ('github.load_runs', 'marked_deleted',
     'Stored repositories the run found gone (deleted, made private, blocked) and marked deleted.'),
    ('github.load_runs', 'missing_owners',
     'Owners mode: owners the plan found that GitHub no longer knew when their repositories were listed '
     '(deleted or renamed since): their repositories are missing from the run.'),
    ('github.load_runs', 'read_over_rest',
     'Repositories GraphQL gave no node for or refused (SAML single sign-on) that the run asked over REST,'
     ' a request each: found gone there, or served. Not those a refresh knew gone already.'),
    ('github.load_runs', 'api_requests', 'GitHub API requests the run''s extract made.'),
    ('github.load_runs', 'unreachable',
     'Search mode: each second with more matches than GitHub serves for one query, as '
     '{"second", "matches", "unreachable"}; empty when the search was complete.'),
    ('github.load_runs', 'started_at', 'When the run began.'),
    ('github.load_runs', 'finished_at',
     'When its load committed (the wall clock just before). Not a watermark for reading changes: the rows it '
     'wrote carry observation times, not this; read by generation.'),
    ('github.load_runs', 'generation',
     'The write generation of the load that wrote the row: the rows of github.repositories, repository_snapshots '
     'and repository_history it changed carry it, unless a later load changed them again. The asset event names '
     'it too.'),
    ('github.load_runs', 'checks_passed_at',
     'When the run''s quality checks passed; NULL until then, or since a later load of the run changed rows. A '
     'run''s checks cover every row with a generation above the greatest generation of a run whose checks '
     'passed, up to its own.'),
    ('github.census_cursor', NULL,
     'How far the census has crawled GET /repositories: the warehouse holds every repository listed with an id '
     'in (since_id, cursor_id].'),
    ('github.census_cursor', 'census', 'The census''s name.'),
    ('github.census_cursor', 'since_id', 'The id the census started after.'),
    ('github.census_cursor', 'cursor_id', 'The highest id crawled so far.'),
    ('github.census_cursor', 'dag_id', 'The DAG of the run whose load moved the cursor last.'),
    ('github.census_cursor', 'run_id', 'The run whose load moved the cursor last.'),
    ('github.census_cursor', 'moved_at', 'When that load committed.'),
    ('github.census_ranges', NULL,
     'The id range each census load crawled: the cursor takes in a range once it touches the covered one, so '
     'census runs loaded out of their order leave it where loading them in order does.'),
    ('github.census_ranges', 'census', 'The census''s name (github.census_cursor.census).'),
    ('github.census_ranges', 'dag_id', 'The DAG of the run that crawled the range.'),
    ('github.census_ranges', 'run_id', 'The run that crawled the range.'),
    ('github.census_ranges', 'since_id', 'The id the range starts after.'),
    ('github.census_ranges', 'until_id', 'The highest id of the range.'),
    ('github.gone_reports', NULL,
     'Repositories a run found gone that the warehouse did not hold then: a run loaded later that saw one alive '
     'before stores it marked deleted from the earliest such report. Removed once the repository is stored.'),
    ('github.gone_reports', 'id', 'The repository''s GitHub id.'),
    ('github.gone_reports', 'observed_at', 'When the reporting run fetched its data.'),
    ('github.gone_reports', 'reason', 'What GitHub answered (github.repositories.deleted_reason).'),
    ('github.repositories_generation', NULL,
     'A number every write to github.repositories moves forward; the repository API counts rows by it, and each '
     'load takes its write generation from it (github.write_generation).'),
    ('github.repositories_generation', 'singleton', 'Always true: the table has one row.'),
    ('github.repositories_generation', 'generation',
     'Moved forward by every statement writing github.repositories and every write generation taken; every '
     'committed row''s generation is at most this.'),
    ('github.summaries_kept_days', NULL,
     'Days whose snapshots were dropped for retention after they were summarized and which a load wrote again in '
     'part: their summaries stay as summarized. Delete a row to have the day summarized from its snapshots again.'),
    ('github.summaries_kept_days', 'snapshot_date', 'The day (UTC).'),
    ('github.summaries_kept_days', 'kept_at', 'When a load first wrote the day again.'),
    ('github.language_days', NULL,
     'Repositories and stars per primary language among the repositories observed each day; kept by the load.'),
    ('github.language_days', 'snapshot_date', 'The day (UTC).'),
    ('github.language_days', 'language', 'Primary language; null for none.'),
    ('github.language_days', 'repositories', 'Repositories observed that day with this language.'),
    ('github.language_days', 'stars', 'Their stars that day.'),
    ('github.star_gains', NULL,
     'Repositories whose stars rose over a trending window (1, 7 or 30 days) ending on end_date, both ends '
     'observed; kept by the load.'),
    ('github.star_gains', 'end_date', 'The window''s last day (UTC).'),
    ('github.star_gains', 'window_days', 'The window''s length in days: it starts on end_date - window_days.'),
    ('github.star_gains', 'repo_id', 'The repository (github.repositories.id).'),
    ('github.star_gains', 'gain', 'Stars on end_date minus stars on the window''s first day.'),
    ('github.star_gains', 'stargazers_count', 'Stars on end_date.'),
    ('github.star_gains', 'language', 'Primary language on end_date (its snapshot''s).'),
    ('github.star_gains', 'topics', 'Topics when the gain was computed.'),
    ('github.star_gain_topics', NULL,
     'The rows of github.star_gains once per topic that fewer than one in a hundred of the window''s risers '
     'carry (an index for filtering the trending list by a rare topic).'),
    ('github.star_gain_topics', 'end_date', 'As github.star_gains.end_date.'),
    ('github.star_gain_topics', 'window_days', 'As github.star_gains.window_days.'),
    ('github.star_gain_topics', 'topic', 'The topic.'),
    ('github.star_gain_topics', 'repo_id', 'As github.star_gains.repo_id.'),
    ('github.star_gain_topics', 'gain', 'As github.star_gains.gain.'),
    ('github.star_gain_topics', 'stargazers_count', 'As github.star_gains.stargazers_count.'),
    ('github.star_gain_topics', 'language', 'As github.star_gains.language.'),
    ('github.star_gain_windows', NULL, 'One row per trending window whose two days were both observed.'),
    ('github.star_gain_windows', 'end_date', 'As github.star_gains.end_date.'),
    ('github.star_gain_windows', 'window_days', 'As github.star_gains.window_days.'),
    ('github.star_gain_windows', 'compared', 'Repositories observed on both days.'),
    ('github.star_gain_windows', 'rising', 'How many of them gained stars (their rows in github.star_gains).'),
    ('github.star_gain_windows', 'common_topics',
     'Topics at least one in a hundred of the risers carry (left out of github.star_gain_topics).')
) AS described (relation, column_name, description);
