"""Pydantic models of the repository API: the query parameters it accepts and the bodies it returns.

The response models are the API's contract: the SQL selects exactly their fields. A repository's GitHub
columns come from the column spec (:mod:`github_etl.columns`); any other column added to the warehouse
reaches clients only once it is declared here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model

from github_etl.api.config import DAG_ID_PATTERN, MAX_DAG_ID_LENGTH
from github_etl.columns import BOOKKEEPING_DESCRIPTIONS, REPOSITORY_SPEC, RepositoryColumn

# Bounds of PostgreSQL's integer type, which the counters use: a larger bound could never match.
MAX_INT4 = 2**31 - 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
DEFAULT_RUNS = 50
MAX_RUNS = 500
# A year of daily snapshots; older history is one request with a larger ``history_limit`` away.
DEFAULT_HISTORY = 365
MAX_HISTORY = 10_000
# Longer than any language, login, topic or repository name GitHub allows; longer input matches nothing.
MAX_TEXT_LENGTH = 255
# A repository cursor (github_etl.api.paging): the sort key (a bigint, or n for none) and the id, in decimal.
CURSOR_PATTERN = r"^(?:n|-?[0-9]{1,19})\.-?[0-9]{1,19}$"
MAX_CURSOR_LENGTH = 41


# Any character but NUL: PostgreSQL cannot store or compare NUL in text, and the driver would fail the
# request. A pattern rather than a check in code, so that the OpenAPI document says it too.
WITHOUT_NUL = r"^[^\x00]*$"

# A string filter: non-empty, bounded, and free of NUL.
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=WITHOUT_NUL)]


# A path segment: free of NUL, of "/" (which would split it) and of a line feed (Starlette's route of the
# plugin's mount does not match one), and not "." or ".." (which a client's URL resolution removes), so that
# every value the OpenAPI document allows reaches the operation. Without lookahead: pydantic's regex has none.
SEGMENT = r"^(?:[^\x00\n/.]|\.[^\x00\n/.]|\.\.[^\x00\n/])[^\x00\n/]*$"
Segment = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=SEGMENT)]


def _unquoted(value: str) -> str:
    """A value quoted as GitHub's search syntax teaches (``language:"C++"``): the quotes are not the name's."""
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value


def _plus_signs_typed(value: str) -> str:
    """A query string reads ``+`` as a space, so ``?language=C++`` typed into a URL arrives as ``C`` and two
    spaces. No language name ends with a space; several end with ``+`` (C++, Objective-C++)."""
    name = value.rstrip(" ")
    return name + "+" * (len(value) - len(name))


# A topic filter, quoted or not.
Name = Annotated[Text, AfterValidator(_unquoted)]
# A language filter: quoted or not, its trailing plus signs typed unencoded or not.
Language = Annotated[Name, AfterValidator(_plus_signs_typed)]
LANGUAGE_FILTER = (
    'Primary language, in any case (`python` finds `Python`), quoted or not (`"C++"`), '
    "its plus signs encoded (`C%2B%2B`) or not (`C++`)."
)
# An owner filter: a login, or a mention of one (``@apache``), as the DAG's owners param takes it.
Login = Annotated[Text, AfterValidator(lambda value: value.removeprefix("@"))]


class RepositorySort(StrEnum):
    """Orders of the repository list, each descending, ties broken by descending id."""

    STARS = "stars"
    CREATED = "created"
    PUSHED = "pushed"


class RepositoryQuery(BaseModel):
    """Query parameters of ``GET /repositories``; unknown parameters are rejected, so a typo is not ignored."""

    model_config = ConfigDict(extra="forbid")

    language: Language | None = Field(None, description=LANGUAGE_FILTER)
    owner: Login | None = Field(None, description="Owner login, case-insensitive, with or without `@`.")
    topic: Name | None = Field(
        None, description="A topic the repository carries (GitHub topics are lower case), quoted or not."
    )
    min_stars: int | None = Field(
        None, ge=0, le=MAX_INT4, description="Only repositories with at least this many stars."
    )
    archived: bool | None = Field(None, description="`true`: archived repositories only; `false`: active ones only.")
    sort: RepositorySort = Field(
        RepositorySort.STARS,
        description="`stars` (stargazers), `created` or `pushed` (last push), descending; "
        "repositories without the date come last.",
    )
    cursor: Annotated[str, Field(pattern=CURSOR_PATTERN, max_length=MAX_CURSOR_LENGTH)] | None = Field(
        None, description="`next_cursor` of the previous page; omit for the first page."
    )
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Page size.")


class CountQuery(BaseModel):
    """Query parameters of ``GET /repositories/count``: none; a filter given is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class DetailQuery(BaseModel):
    """Query parameters of ``GET /repositories/{owner}/{name}``."""

    model_config = ConfigDict(extra="forbid")

    history_limit: int = Field(
        DEFAULT_HISTORY, ge=1, le=MAX_HISTORY, description="Most snapshots returned, newest first."
    )


class RunSort(StrEnum):
    """Orders of the run list, newest first."""

    LOGICAL_DATE = "logical_date"
    FINISHED = "finished"


class RunQuery(BaseModel):
    """Query parameters of ``GET /runs``."""

    model_config = ConfigDict(extra="forbid")

    sort: RunSort = Field(
        RunSort.LOGICAL_DATE,
        description="`logical_date`: the day each run was scheduled for, newest first; `finished`: the last load "
        "to commit first (a backfill's runs, whose logical dates are weeks back, come first when they loaded last).",
    )
    checks_passed: bool | None = Field(
        None, description="Only runs whose quality checks passed (`true`), or only those whose did not (`false`)."
    )
    dag_id: Annotated[str, StringConstraints(max_length=MAX_DAG_ID_LENGTH, pattern=DAG_ID_PATTERN)] | None = Field(
        None, description="Only the runs of this DAG (a warehouse several harvests load holds the runs of each)."
    )
    limit: int = Field(DEFAULT_RUNS, ge=1, le=MAX_RUNS, description="Number of runs, newest first.")


class ErrorMessage(BaseModel):
    """The body of a 401, 403, 404 or 503: what went wrong, in a sentence."""

    detail: str = Field(description="E.g. `Repository octo/absent not found`.")


class RepositoryCount(BaseModel):
    """Number of repositories in the warehouse."""

    count: int = Field(description="Rows of `github.repositories`, deleted repositories included.")


def described_as(column: str) -> Any:
    """A response field that holds a column of ``github.repositories``, described as the column spec does."""
    return Field(description=_SPEC_DESCRIPTIONS[column])


_SPEC_DESCRIPTIONS = {column.name: column.description for column in REPOSITORY_SPEC}


def _field_type(column: RepositoryColumn) -> Any:
    """A column's type in a response: its rule's Python type, or None where the column may be NULL."""
    return column.rule.python_type | None if column.nullable else column.rule.python_type


def repository_columns_model(spec: Sequence[RepositoryColumn]) -> type[BaseModel]:
    """A model with one required field per column of ``spec``, typed by the column's rule."""
    return create_model(
        "RepositoryColumns",
        __doc__="A repository's GitHub data, one field per column of the spec (github_etl.columns).",
        **{column.name: (_field_type(column), Field(description=column.description)) for column in spec},
    )


# Made from the column spec, so that a column added there reaches the API (and its OpenAPI document)
# with no edit here.
RepositoryColumns = repository_columns_model(REPOSITORY_SPEC)


class Repository(RepositoryColumns):  # type: ignore[misc,valid-type]
    """A repository as the warehouse holds it; field names follow GitHub's REST API."""

    first_seen_at: datetime = Field(description=BOOKKEEPING_DESCRIPTIONS["first_seen_at"])
    last_seen_at: datetime = Field(description=BOOKKEEPING_DESCRIPTIONS["last_seen_at"])
    deleted_at: datetime | None = Field(description=BOOKKEEPING_DESCRIPTIONS["deleted_at"])
    deleted_reason: str | None = Field(description=BOOKKEEPING_DESCRIPTIONS["deleted_reason"])


class RepositoryPage(BaseModel):
    """One page of repositories."""

    items: list[Repository] = Field(description="At most `limit` repositories, in the order asked for.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Snapshot(BaseModel):
    """Counters of a repository on one day (UTC) a run fetched it."""

    snapshot_date: date = Field(description="The day (UTC) a run fetched the counters.")
    stargazers_count: int = described_as("stargazers_count")
    forks_count: int = described_as("forks_count")
    open_issues_count: int = described_as("open_issues_count")


class AttributeVersion(BaseModel):
    """A repository's name, owner, license and terms as they were until a run saw them change."""

    valid_from: datetime = Field(description="When this version was first seen (or the repository first fetched).")
    valid_until: datetime = Field(description="When a run fetched the version that replaced it.")
    full_name: str = described_as("full_name")
    owner_login: str = described_as("owner_login")
    owner_id: int | None = described_as("owner_id")
    license_spdx_id: str | None = described_as("license_spdx_id")
    archived: bool = described_as("archived")
    visibility: str | None = described_as("visibility")
    default_branch: str | None = described_as("default_branch")
    fork: bool = described_as("fork")
    is_template: bool = described_as("is_template")
    topics: list[str] = described_as("topics")


class RepositoryDetail(Repository):
    """A repository with its counters over time and the earlier versions of its name, owner and license."""

    snapshots: list[Snapshot] = Field(description="Newest first.")
    history: list[AttributeVersion] = Field(
        description="Earlier versions, newest first, at most the latest 100; the current one is the repository "
        "itself. Empty when its name, owner, license, archived, visibility, default branch, fork, template flag "
        "and topics never changed while the warehouse watched; github.repository_history holds them all."
    )


class UnreachableSecond(BaseModel):
    """A creation second holding more repositories matching a search than GitHub serves for one query."""

    second: str = Field(description="The second, in UTC (`2024-03-01T10:00:00Z`).")
    matches: int = Field(description="Repositories matching the run's query created in that second.")
    unreachable: int = Field(description="How many of them no search can reach (GitHub serves 1,000).")


class LoadRun(BaseModel):
    """The audit row of one DAG run that loaded the warehouse."""

    run_id: str = Field(description="Airflow's run id.")
    dag_id: str = Field(description="Airflow's DAG id.")
    logical_date: datetime = Field(description="The run's logical date (which day it was scheduled for).")
    observed_at: datetime = Field(
        description="When the run fetched its data: the date its observations are stored under."
    )
    mode: str = Field(description="`sample`, `search`, `owners`, `refresh` or `census`.")
    listed: int = Field(description="Repositories the run listed, found or was asked for.")
    enriched: int = Field(description="Repositories whose full metadata the run staged.")
    skipped: int = Field(
        description="Listed repositories GitHub no longer served to everyone when the run fetched them (deleted, "
        "made private, blocked)."
    )
    rejected: int = Field(
        description="Records the transform quarantined, not loaded: each with its reason in the run's staged "
        "`rejected/<shard>.jsonl` files, which the transform and load task logs name."
    )
    rejected_reasons: dict[str, int] = Field(
        description='How many for each reason (`{"wrong_type:stargazers_count": 2}`); empty when none.'
    )
    inserted: int = Field(description="Repositories the warehouse did not hold.")
    updated: int = Field(
        description="Stored repositories whose row was written: their data changed, or they were seen at a later "
        "time than recorded (`last_seen_at` moved), or seen again after being marked deleted."
    )
    unchanged: int = Field(
        description="Stored repositories staged with the data and observation times already recorded (a run "
        "loaded again): nothing written."
    )
    duplicates: int = Field(
        description="Staged copies of a repository the run had already staged (search pages shift while stars "
        "move), dropped for the latest one: `enriched - rejected = inserted + updated + unchanged + duplicates`."
    )
    marked_deleted: int = Field(
        description="Stored repositories the run found gone (deleted, made private, blocked) and marked deleted."
    )
    api_requests: int = Field(description="GitHub API requests the run's extract made.")
    missing_owners: int = Field(
        description="Owners mode: owners the plan found that GitHub no longer knew when their repositories were "
        "listed (deleted or renamed since): their repositories are missing from the run."
    )
    read_over_rest: int = Field(
        description="Repositories GraphQL gave no node for or refused (SAML single sign-on) that the run asked over "
        "REST, a request each: found gone there, or served. Not those a refresh knew gone already."
    )
    unreachable: list[UnreachableSecond] = Field(
        description="Search mode: the seconds whose matches GitHub could not serve in full, so an incomplete "
        "search is never silent. Empty otherwise."
    )
    started_at: datetime = Field(description="When the run began.")
    finished_at: datetime = Field(description="When its load committed.")
    checks_passed_at: datetime | None = Field(
        description="When the data-quality checks passed over what the run loaded (and every row written since the "
        "last run whose checks passed); null while they have not: failed, not run yet, or a later load of the run "
        "changed rows."
    )
    generation: int = Field(
        description="The write generation of the run's load: the rows it changed carry it. An incremental reader "
        'reads `generation > last AND generation <= this` (docs/history.md, "Reading changes incrementally").'
    )


class LoadRunList(BaseModel):
    """Load runs, newest logical date first."""

    items: list[LoadRun] = Field(description="At most `limit` runs, newest logical date first.")
