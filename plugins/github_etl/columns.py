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

A repository's columns are declared once, in ``REPOSITORY_SPEC``: each column's name, its rule (the
PostgreSQL type, validation and COPY rendering, :mod:`github_etl.field_rules`), where REST keeps it and
how GraphQL selects it. The transform's readers and renderer, the GraphQL selection, the column lists of
the SQL, the quality check of counts and the API model are all made from it, so a new column is one entry
here (and its line in ``schema.sql``, which a test holds equal to the spec; a warehouse created before it
gets it from the ``ALTER TABLE`` its next run names). docs/design.md says what the tests' data need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from github_etl.field_rules import (
    BIG_COUNT,
    COUNT,
    CREATION_TIME,
    FLAG,
    FREE_TEXT,
    ID,
    IDENTIFIER,
    MAX_INTEGER,
    NON_EMPTY_FREE_TEXT,
    OPTIONAL_ID,
    OPTIONAL_IDENTIFIER,
    OPTIONAL_LABEL,
    TIMESTAMP,
    TOPICS,
    RejectedRecord,
    Rule,
    describe,
    is_object,
    parent_object,
)

# A repository without an owner is no repository: a null owner rejects the record, from REST and GraphQL
# alike. Every other nested object (license, primaryLanguage, ...) may be null, its columns then NULL.
REQUIRED_PARENTS = frozenset({"owner"})


@dataclass(frozen=True)
class GraphQLRead:
    """How a column is read from a GraphQL ``Repository`` node.

    :param selections: the node fields the query must select for it (columns may share one; the query
        selects each once).
    :param read: a dotted path to the value (``owner.login``; the first part may be null, see
        ``REQUIRED_PARENTS``), or a function of the node for values GraphQL spells differently from REST.
    """

    selections: tuple[str, ...]
    read: str | Callable[[Mapping[str, Any]], Any]


def graphql(*selections: str, read: str | Callable[[Mapping[str, Any]], Any] | None = None) -> GraphQLRead:
    """A GraphQL read; without ``read``, the value is the single selected field itself."""
    return GraphQLRead(selections, selections[0] if read is None else read)


@dataclass(frozen=True)
class RepositoryColumn:
    """One column of ``github.repositories`` that GitHub's data fill.

    :param name: the column name; GitHub's REST field name where there is one.
    :param rule: how its value is validated, typed, stored and rendered.
    :param rest: the dotted path of its value in a REST repository object; rejection reasons quote it,
        whichever API the record came from.
    :param graphql: how it is read from a GraphQL node.
    :param description: what it holds, for the warehouse's readers (the column's comment, which SQL clients
        show) and the API's (the field's description in its OpenAPI document).
    """

    name: str
    rule: Rule
    rest: str
    graphql: GraphQLRead
    description: str

    @property
    def sql_type(self) -> str:
        return self.rule.sql_type

    @property
    def nullable(self) -> bool:
        return self.rule.nullable


# GraphQL reads GitHub spells differently from REST. Owner ids live on the concrete types
# (RepositoryOwner has no databaseId), hence the inline fragments.
_OWNER = "owner { login __typename ... on User { databaseId } ... on Organization { databaseId } }"
# GitHub allows 20 topics per repository; 100 (one full page) leaves room if that ever grows.
_TOPICS = "repositoryTopics(first: 100) { nodes { topic { name } } }"
# REST's open_issues_count counts open issues *and* open pull requests, hence both totals.
_OPEN_ISSUES = "issues(states: OPEN) { totalCount }"
_OPEN_PULL_REQUESTS = "pullRequests(states: OPEN) { totalCount }"


def _graphql_inner(parent: Mapping[str, Any], name: str, inner: str) -> Any:
    """Return ``parent[name][inner]``, ``None`` when the object is null or absent."""
    value = parent_object(parent.get(name), name, required=False)
    return None if value is None else value.get(inner)


def _graphql_topics(node: Mapping[str, Any]) -> list[Any] | None:
    """Collect ``repositoryTopics.nodes[].topic.name``, skipping null entries of a partial answer."""
    connection = parent_object(node.get("repositoryTopics"), "repositoryTopics", required=False)
    if connection is None:
        return None
    entries = connection.get("nodes")
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise RejectedRecord("wrong_type:repositoryTopics.nodes", f"must be a list, got {describe(entries)}")
    names = []
    for entry in entries:
        if entry is None:
            continue
        if not is_object(entry):
            raise RejectedRecord(
                "wrong_type:repositoryTopics.nodes", f"every entry must be an object, got {describe(entry)}"
            )
        name = _graphql_inner(entry, "topic", "name")
        if name is not None:
            names.append(name)
    return names


def _open_issues_and_pull_requests(node: Mapping[str, Any]) -> Any:
    """Add open issues and open pull requests the way REST's ``open_issues_count`` does.

    A malformed total is passed through unchanged so the column's rule rejects it by its REST name.
    """
    totals = [
        total
        for total in (
            _graphql_inner(node, "issues", "totalCount"),
            _graphql_inner(node, "pullRequests", "totalCount"),
        )
        if total is not None
    ]
    if not totals:
        return None
    for total in totals:
        # One out of range would disappear in a sum with the other (-5 issues and 10 pull requests make 5).
        if type(total) is not int or not 0 <= total <= MAX_INTEGER:
            return total
    return sum(totals)


def _lower_case_visibility(node: Mapping[str, Any]) -> Any:
    """GraphQL's enum is upper-case (PUBLIC); REST and the warehouse use lower case."""
    visibility = node.get("visibility")
    return visibility.lower() if isinstance(visibility, str) else visibility


# Order matters: it is the column order of every staged row file, of the COPY statement and of the API.
# REST's watchers_count is the star count (GraphQL's watchers are REST's subscribers_count), hence
# stargazerCount twice. One known difference remains: for an empty repository REST still names the
# configured default branch, while GraphQL's defaultBranchRef is null.
REPOSITORY_SPEC: tuple[RepositoryColumn, ...] = (
    RepositoryColumn(
        "id",
        ID,
        "id",
        graphql("databaseId"),
        "GitHub's numeric id of the repository; it stays the same when the repository is renamed or transferred.",
    ),
    RepositoryColumn("node_id", IDENTIFIER, "node_id", graphql("id"), "GitHub's global node id (GraphQL's `id`)."),
    RepositoryColumn(
        "full_name", IDENTIFIER, "full_name", graphql("nameWithOwner"), "`owner/name`, as GitHub last served it."
    ),
    RepositoryColumn("name", IDENTIFIER, "name", graphql("name"), "The repository's name, without its owner."),
    RepositoryColumn(
        "owner_login",
        IDENTIFIER,
        "owner.login",
        graphql(_OWNER, read="owner.login"),
        "Login of the user or organization that owns the repository.",
    ),
    RepositoryColumn(
        "owner_id",
        OPTIONAL_ID,
        "owner.id",
        graphql(_OWNER, read="owner.databaseId"),
        "GitHub's numeric id of the owner.",
    ),
    RepositoryColumn(
        "owner_type",
        OPTIONAL_IDENTIFIER,
        "owner.type",
        graphql(_OWNER, read="owner.__typename"),
        "`User` or `Organization`.",
    ),
    RepositoryColumn(
        "description",
        FREE_TEXT,
        "description",
        graphql("description"),
        "The description its owner wrote; NUL characters dropped, cut after 65,536 characters.",
    ),
    RepositoryColumn(
        "homepage",
        NON_EMPTY_FREE_TEXT,
        "homepage",
        graphql("homepageUrl"),
        "The website its owner named; null when none.",
    ),
    RepositoryColumn("html_url", FREE_TEXT, "html_url", graphql("url"), "The repository's page on GitHub."),
    RepositoryColumn(
        "language",
        OPTIONAL_LABEL,
        "language",
        graphql("primaryLanguage { name }", read="primaryLanguage.name"),
        "Primary language, as GitHub detects it (`Python`); null when GitHub detected none.",
    ),
    RepositoryColumn(
        "license_spdx_id",
        OPTIONAL_IDENTIFIER,
        "license.spdx_id",
        graphql("licenseInfo { spdxId }", read="licenseInfo.spdxId"),
        "SPDX id of the license GitHub detected (`MIT`, `Apache-2.0`; `NOASSERTION` for a license it could not "
        "identify); null when it found none.",
    ),
    RepositoryColumn(
        "topics",
        TOPICS,
        "topics",
        graphql(_TOPICS, read=_graphql_topics),
        "Topics, in lower case, as GitHub lists them.",
    ),
    RepositoryColumn("stargazers_count", COUNT, "stargazers_count", graphql("stargazerCount"), "Stars."),
    RepositoryColumn("forks_count", COUNT, "forks_count", graphql("forkCount"), "Forks."),
    RepositoryColumn(
        "open_issues_count",
        COUNT,
        "open_issues_count",
        graphql(_OPEN_ISSUES, _OPEN_PULL_REQUESTS, read=_open_issues_and_pull_requests),
        "Open issues and open pull requests together, as GitHub's REST API counts them.",
    ),
    RepositoryColumn(
        "watchers_count",
        COUNT,
        "watchers_count",
        graphql("stargazerCount"),
        "Stars again: GitHub's REST API names the star count so. People watching the repository are not counted.",
    ),
    # kilobytes, hence a bigint
    RepositoryColumn("size", BIG_COUNT, "size", graphql("diskUsage"), "Size in kilobytes, as GitHub reports it."),
    RepositoryColumn(
        "default_branch",
        OPTIONAL_IDENTIFIER,
        "default_branch",
        graphql("defaultBranchRef { name }", read="defaultBranchRef.name"),
        "Name of the default branch; null for an empty repository read through GraphQL.",
    ),
    RepositoryColumn("fork", FLAG, "fork", graphql("isFork"), "True for a fork of another repository."),
    RepositoryColumn(
        "archived", FLAG, "archived", graphql("isArchived"), "True once its owner archived it (read-only)."
    ),
    RepositoryColumn("disabled", FLAG, "disabled", graphql("isDisabled"), "True when GitHub disabled it."),
    RepositoryColumn("is_template", FLAG, "is_template", graphql("isTemplate"), "True for a template repository."),
    RepositoryColumn(
        "visibility",
        OPTIONAL_IDENTIFIER,
        "visibility",
        graphql("visibility", read=_lower_case_visibility),
        "`public`. A private or internal repository that only the token may read is not stored; one stored "
        "before is marked deleted (`not_public`).",
    ),
    RepositoryColumn(
        "created_at", CREATION_TIME, "created_at", graphql("createdAt"), "When the repository was created on GitHub."
    ),
    RepositoryColumn(
        "updated_at",
        TIMESTAMP,
        "updated_at",
        graphql("updatedAt"),
        "When GitHub last changed the repository's record: any change, a new star included. GitHub's time, not "
        "the warehouse's: not a watermark for reading changes (a load may store an earlier one; read by generation).",
    ),
    RepositoryColumn(
        "pushed_at",
        TIMESTAMP,
        "pushed_at",
        graphql("pushedAt"),
        "When a commit was last pushed to any of its branches.",
    ),
)

REPOSITORY_COLUMNS: tuple[str, ...] = tuple(column.name for column in REPOSITORY_SPEC)


def graphql_selection(spec: tuple[RepositoryColumn, ...]) -> str:
    """The fields a GraphQL query selects on each repository to read ``spec``'s columns, each field once."""
    return "\n".join(dict.fromkeys(selection for column in spec for selection in column.graphql.selections))


# The selection the extractor sends for each repository, e.g.
# ``nodes(ids: $ids) { ... on Repository { <GRAPHQL_REPOSITORY_FIELDS> } }``.
GRAPHQL_REPOSITORY_FIELDS = graphql_selection(REPOSITORY_SPEC)

# Digest of a staged line's data columns (see github_etl.transform.staged_line); bookkeeping, not GitHub data.
ROW_HASH_COLUMN = "row_hash"

# Why no time column is a watermark for reading changes, said where an analyst looks (docs/history.md).
NOT_A_WATERMARK = (
    "Not a watermark for reading changes: a run loaded after a later one (a backfill, a cleared load, two loads at "
    "once) writes earlier times than those already read; read by generation."
)

# The columns of github.repositories that the load keeps, after GitHub's: what each holds.
BOOKKEEPING_DESCRIPTIONS: Mapping[str, str] = {
    "first_seen_at": f"When a run first fetched the repository from GitHub. {NOT_A_WATERMARK}",
    "last_seen_at": f"When the latest run that saw the repository fetched it. {NOT_A_WATERMARK}",
    "deleted_at": "Set when GitHub stopped serving the repository: when a run first found it gone, which a run "
    "loaded later can move back. Not a watermark for reading deletions: read by generation.",
    "deleted_reason": "What GitHub answered then: `not_found` (404: deleted or made private), `legal_block` (451), "
    '`disabled` (403 "Repository access blocked") or `not_public` '
    "(served as private or internal, only because the token can read it).",
    ROW_HASH_COLUMN: "Digest of the GitHub columns as last loaded: equal digests, equal data.",
    "generation": "The write generation of the load that last inserted the row or changed its data, first_seen_at "
    "or deletion (not last_seen_at alone), in the order loads commit: read rows with a generation above the "
    "greatest read before to get every change once (docs/history.md#reading-changes-incrementally).",
}

# Columns of a staged row file, in order: the data columns, then the digest.
STAGED_COLUMNS: tuple[str, ...] = (*REPOSITORY_COLUMNS, ROW_HASH_COLUMN)

# Columns of a staged key file, one line per staged row: enough to tell whether a load changes anything.
KEY_COLUMNS: tuple[str, ...] = ("id", ROW_HASH_COLUMN)


def count_columns(spec: tuple[RepositoryColumn, ...]) -> tuple[str, ...]:
    """The columns of ``spec`` that hold a count or a size, which the quality check holds not negative."""
    return tuple(column.name for column in spec if column.rule in (COUNT, BIG_COUNT))


COUNT_COLUMNS: tuple[str, ...] = count_columns(REPOSITORY_SPEC)

# Columns whose change is worth a snapshot row (how stars are tracked over time).
SNAPSHOT_COLUMNS: tuple[str, ...] = ("stargazers_count", "forks_count", "open_issues_count")

# Attributes each snapshot also records as the run saw them, so that the day summaries
# (github.refresh_day_summaries) group a day's snapshots by language without joining github.repositories.
SNAPSHOT_ATTRIBUTES: tuple[str, ...] = ("language",)

# Columns every snapshot writer fills, after repo_id and snapshot_date.
SNAPSHOT_WRITTEN_COLUMNS: tuple[str, ...] = (*SNAPSHOT_COLUMNS, *SNAPSHOT_ATTRIBUTES)

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


def column_descriptions() -> dict[str, dict[str, str]]:
    """The comment of each column of the warehouse tables that hold the spec's columns, by table then column.

    The other tables' columns, and every table, are described in ``schema.sql`` beside their definitions.
    """
    spec = {column.name: column.description for column in REPOSITORY_SPEC}
    return {
        "repositories": {**spec, **BOOKKEEPING_DESCRIPTIONS},
        "repository_snapshots": {
            name: f"github.repositories.{name} as the run saw it on snapshot_date: {spec[name]}"
            for name in SNAPSHOT_WRITTEN_COLUMNS
        },
        "repository_history": {
            name: f"github.repositories.{name} in this version: {spec[name]}" for name in HISTORY_COLUMNS
        },
    }
