"""The typed shape of a repository row, shared by the transform (which writes it) and the load (which reads it).

Staged row files use PostgreSQL's COPY *text* format: one line per repository, columns in
``REPOSITORY_COLUMNS`` order separated by a tab, ``\\N`` for NULL, backslash escapes for
backslash, tab, newline and carriage return; booleans as ``t``/``f``; timestamps as ISO-8601 UTC;
``topics`` as a PostgreSQL array literal. Of the text formats it is the one COPY parses fastest
(CSV of the same million rows took 1.1 times as long), and a human can read it with ``head``.
COPY's binary format parses faster still: 0.67 times the text format's time for the same rows,
files 12 % larger. It is not used (yet) because the digest below is defined over the text line, so
switching means either rendering each row twice or re-digesting every stored row once, and because
a binary file must match each column's type exactly; see docs/design.md.

Each staged line ends with one more column, ``row_hash``: a 64-bit digest of the line's data
columns, stored with the row. Comparing two digests tells whether a repository changed without
comparing thirty columns, and lets the load see from a small key file (``id``, ``row_hash`` per line)
that a run changes nothing before it parses any row file.
"""

from __future__ import annotations

# Order matters: it is the column list of every staged row file and of the COPY statement.
REPOSITORY_COLUMNS: tuple[str, ...] = (
    "id",
    "node_id",
    "full_name",
    "name",
    "owner_login",
    "owner_id",
    "owner_type",
    "description",
    "homepage",
    "html_url",
    "language",
    "license_spdx_id",
    "topics",
    "stargazers_count",
    "forks_count",
    "open_issues_count",
    "watchers_count",
    "size",
    "default_branch",
    "fork",
    "archived",
    "disabled",
    "is_template",
    "visibility",
    "created_at",
    "updated_at",
    "pushed_at",
)

# Digest of a staged line's data columns (see github_etl.transform.staged_line); bookkeeping, not GitHub data.
ROW_HASH_COLUMN = "row_hash"

# Columns of a staged row file, in order: the data columns, then the digest.
STAGED_COLUMNS: tuple[str, ...] = (*REPOSITORY_COLUMNS, ROW_HASH_COLUMN)

# Columns of a staged key file, one line per staged row: enough to tell whether a load changes anything.
KEY_COLUMNS: tuple[str, ...] = ("id", ROW_HASH_COLUMN)

# Columns whose change is worth a snapshot row (how stars are tracked over time).
SNAPSHOT_COLUMNS: tuple[str, ...] = ("stargazers_count", "forks_count", "open_issues_count")

# Attributes whose earlier values are kept when a load changes them (github.repository_history): who
# owns a repository and under what name, license and terms, not its counts or free text.
HISTORY_COLUMNS: tuple[str, ...] = (
    "full_name",
    "owner_login",
    "owner_id",
    "license_spdx_id",
    "archived",
    "visibility",
    "default_branch",
    "fork",
    "is_template",
    "topics",
)
