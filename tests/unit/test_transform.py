"""The transform stage: raw GitHub repository objects to typed COPY rows, with bad records quarantined."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shutil
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from github_etl.columns import GRAPHQL_REPOSITORY_FIELDS, REPOSITORY_COLUMNS, STAGED_COLUMNS
from github_etl.field_rules import (
    MAX_FREE_TEXT_CHARS,
    MAX_IDENTIFIER_CHARS,
    MAX_LABEL_CHARS,
    MAX_TOPICS,
    RejectedRecord,
)
from github_etl.transform import (
    MAX_QUARANTINE_LINE_CHARS,
    MAX_QUARANTINE_STRING_CHARS,
    TransformStats,
    format_copy_line,
    graphql_row,
    repository_row,
    staged_line,
    transform_records,
)

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "include" / "sql" / "github_repositories" / "schema.sql"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MISSING = object()  # marks a field _repo() must leave out

# A real `GET /repos/octokit-fixture-org/hello-world` answer, trimmed of most URL templates (kept a few,
# and the nested objects, as the unknown fields a real answer carries).
REAL_REPOSITORY: dict[str, Any] = {
    "id": 103703892,
    "node_id": "MDEwOlJlcG9zaXRvcnkxMDM3MDM4OTI=",
    "name": "hello-world",
    "full_name": "octokit-fixture-org/hello-world",
    "private": False,
    "owner": {
        "login": "octokit-fixture-org",
        "id": 31898100,
        "node_id": "MDEyOk9yZ2FuaXphdGlvbjMxODk4MTAw",
        "avatar_url": "https://avatars.githubusercontent.com/u/31898100?v=4",
        "gravatar_id": "",
        "url": "https://api.github.com/users/octokit-fixture-org",
        "html_url": "https://github.com/octokit-fixture-org",
        "type": "Organization",
        "site_admin": False,
    },
    "html_url": "https://github.com/octokit-fixture-org/hello-world",
    "description": None,
    "fork": False,
    "url": "https://api.github.com/repos/octokit-fixture-org/hello-world",
    "forks_url": "https://api.github.com/repos/octokit-fixture-org/hello-world/forks",
    "keys_url": "https://api.github.com/repos/octokit-fixture-org/hello-world/keys{/key_id}",
    "created_at": "2017-09-15T21:43:08Z",
    "updated_at": "2017-09-19T15:57:54Z",
    "pushed_at": "2017-11-03T20:11:46Z",
    "git_url": "git://github.com/octokit-fixture-org/hello-world.git",
    "clone_url": "https://github.com/octokit-fixture-org/hello-world.git",
    "homepage": None,
    "size": 0,
    "stargazers_count": 0,
    "watchers_count": 0,
    "language": None,
    "has_issues": True,
    "has_pages": False,
    "forks_count": 0,
    "mirror_url": None,
    "archived": False,
    "disabled": False,
    "open_issues_count": 0,
    "license": None,
    "allow_forking": True,
    "is_template": False,
    "web_commit_signoff_required": False,
    "topics": ["fixtures", "hello", "hello-world"],
    "visibility": "public",
    "forks": 0,
    "open_issues": 0,
    "watchers": 0,
    "default_branch": "master",
    "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    "temp_clone_token": "",
    "organization": {"login": "octokit-fixture-org", "id": 31898100, "type": "Organization"},
    "network_count": 0,
    "subscribers_count": 1,
}

REAL_ROW: dict[str, Any] = {
    "id": 103703892,
    "node_id": "MDEwOlJlcG9zaXRvcnkxMDM3MDM4OTI=",
    "full_name": "octokit-fixture-org/hello-world",
    "name": "hello-world",
    "owner_login": "octokit-fixture-org",
    "owner_id": 31898100,
    "owner_type": "Organization",
    "description": None,
    "homepage": None,
    "html_url": "https://github.com/octokit-fixture-org/hello-world",
    "language": None,
    "license_spdx_id": None,
    "topics": ["fixtures", "hello", "hello-world"],
    "stargazers_count": 0,
    "forks_count": 0,
    "open_issues_count": 0,
    "watchers_count": 0,
    "size": 0,
    "default_branch": "master",
    "fork": False,
    "archived": False,
    "disabled": False,
    "is_template": False,
    "visibility": "public",
    "created_at": datetime(2017, 9, 15, 21, 43, 8, tzinfo=UTC),
    "updated_at": datetime(2017, 9, 19, 15, 57, 54, tzinfo=UTC),
    "pushed_at": datetime(2017, 11, 3, 20, 11, 46, tzinfo=UTC),
}

# The same repository as a GraphQL node answering GRAPHQL_REPOSITORY_FIELDS.
REAL_GRAPHQL_NODE: dict[str, Any] = {
    "databaseId": 103703892,
    "id": "MDEwOlJlcG9zaXRvcnkxMDM3MDM4OTI=",
    "name": "hello-world",
    "nameWithOwner": "octokit-fixture-org/hello-world",
    "owner": {"login": "octokit-fixture-org", "__typename": "Organization", "databaseId": 31898100},
    "description": None,
    "homepageUrl": None,
    "url": "https://github.com/octokit-fixture-org/hello-world",
    "primaryLanguage": None,
    "licenseInfo": None,
    "repositoryTopics": {
        "nodes": [{"topic": {"name": "fixtures"}}, {"topic": {"name": "hello"}}, {"topic": {"name": "hello-world"}}]
    },
    "stargazerCount": 0,
    "forkCount": 0,
    "issues": {"totalCount": 0},
    "pullRequests": {"totalCount": 0},
    "diskUsage": 0,
    "defaultBranchRef": {"name": "master"},
    "isFork": False,
    "isArchived": False,
    "isDisabled": False,
    "isTemplate": False,
    "visibility": "PUBLIC",
    "createdAt": "2017-09-15T21:43:08Z",
    "updatedAt": "2017-09-19T15:57:54Z",
    "pushedAt": "2017-11-03T20:11:46Z",
}

# A busier repository, as REST and as GraphQL: licence, language, homepage, counts, a user owner,
# open pull requests (REST counts them as open issues), an id past 32 bits.
BUSY_REPOSITORY: dict[str, Any] = {
    **REAL_REPOSITORY,
    "id": 5_000_000_123,
    "node_id": "R_kgDOBusy",
    "name": "busy",
    "full_name": "mona/busy",
    "owner": {"login": "mona", "id": 583231, "type": "User", "site_admin": False},
    "html_url": "https://github.com/mona/busy",
    "description": "Fast ⚡ things, «quoted» and 😀",
    "homepage": "https://busy.example",
    "language": "Python",
    "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT", "url": "https://api.github.com/licenses/mit"},
    "topics": ["etl", "airflow"],
    "stargazers_count": 4321,
    "watchers_count": 4321,
    "forks_count": 99,
    "open_issues_count": 7,
    "size": 123456,
    "default_branch": "main",
    "fork": True,
    "archived": True,
    "is_template": True,
    "pushed_at": None,
    "created_at": "2020-02-29T23:59:59Z",
    "updated_at": "2024-05-01T00:00:00Z",
}
BUSY_GRAPHQL_NODE: dict[str, Any] = {
    **REAL_GRAPHQL_NODE,
    "databaseId": 5_000_000_123,
    "id": "R_kgDOBusy",
    "name": "busy",
    "nameWithOwner": "mona/busy",
    "owner": {"login": "mona", "__typename": "User", "databaseId": 583231},
    "url": "https://github.com/mona/busy",
    "description": "Fast ⚡ things, «quoted» and 😀",
    "homepageUrl": "https://busy.example",
    "primaryLanguage": {"name": "Python"},
    "licenseInfo": {"spdxId": "MIT", "name": "MIT License"},
    "repositoryTopics": {"nodes": [{"topic": {"name": "etl"}}, {"topic": {"name": "airflow"}}]},
    "stargazerCount": 4321,
    "forkCount": 99,
    "issues": {"totalCount": 5},
    "pullRequests": {"totalCount": 2},
    "diskUsage": 123456,
    "defaultBranchRef": {"name": "main"},
    "isFork": True,
    "isArchived": True,
    "isTemplate": True,
    "pushedAt": None,
    "createdAt": "2020-02-29T23:59:59Z",
    "updatedAt": "2024-05-01T00:00:00Z",
}

# Text that exercises every COPY and array escape, plus unicode beyond the BMP.
NASTY_TEXT = 'tab\there, new\nline, cr\rhere, back\\slash, "quotes", \\N, \\., {braces}, a,b, NULL, ü, 😀'


def _repo(**overrides: Any) -> dict[str, Any]:
    """A deep copy of the real repository with overrides; ``owner__login=...`` reaches into ``owner``.

    Pass ``MISSING`` to leave a field out.
    """
    raw = copy.deepcopy(REAL_REPOSITORY)
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        target = raw
        for parent in parents:
            if target.get(parent) is None:
                target[parent] = {}  # e.g. license__spdx_id on a repository without a licence
            target = target[parent]
        if value is MISSING:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return raw


def _row(raw: Any) -> dict[str, Any]:
    """``repository_row`` as a column-name mapping."""
    return dict(zip(REPOSITORY_COLUMNS, repository_row(raw), strict=True))


def _graphql(node: Any) -> dict[str, Any]:
    """``graphql_row`` as a column-name mapping."""
    return dict(zip(REPOSITORY_COLUMNS, graphql_row(node), strict=True))


def _reason(raw: Any, read_row: Callable[[Any], tuple] = repository_row) -> str:
    with pytest.raises(RejectedRecord) as rejection:
        read_row(raw)
    return rejection.value.reason


def _case_id(overrides: dict[str, Any]) -> str:
    """A short test id for an overrides dict, safe for values Python will not print (huge ints)."""

    def short(value: Any) -> str:
        if value is MISSING:
            return "MISSING"
        if isinstance(value, int) and value.bit_length() > 64:
            return f"int{value.bit_length()}bits"
        return repr(value)[:30]

    return ",".join(f"{key}={short(value)}" for key, value in overrides.items())


def _schema_columns() -> dict[str, str]:
    """``github.repositories`` column definitions from the warehouse contract: name -> 'type [NOT NULL]'."""
    text = SCHEMA_SQL.read_text()
    body = re.search(r"CREATE TABLE IF NOT EXISTS github\.repositories \((.*?)\n\);", text, re.S).group(1)
    columns = {}
    for line in body.splitlines():
        match = re.match(r"\s+(\w+)\s+(\w+(?:\[\])?)(.*)", line)
        if match and not line.strip().startswith("--"):
            name, sql_type, rest = match.groups()
            not_null = "NOT NULL" in rest or "PRIMARY KEY" in rest
            columns[name] = f"{sql_type}{' NOT NULL' if not_null else ''}"
    return columns


# -- repository_row: the real object ---------------------------------------------------------------


def test_real_repository_becomes_the_expected_row() -> None:
    assert _row(REAL_REPOSITORY) == REAL_ROW


def test_row_has_one_python_typed_value_per_column() -> None:
    row = repository_row(BUSY_REPOSITORY)

    assert len(row) == len(REPOSITORY_COLUMNS)
    allowed = (int, str, bool, list, datetime, type(None))
    assert all(isinstance(value, allowed) for value in row)
    assert all(value.tzinfo is UTC for value in row if isinstance(value, datetime))


def test_row_columns_cover_the_schema_contract() -> None:
    assert set(REPOSITORY_COLUMNS) <= set(_schema_columns())


def test_unknown_fields_at_any_depth_are_ignored() -> None:
    raw = _repo(
        brand_new_field={"deeply": {"nested": [1, 2, {"x": None}]}},
        owner__shiny_new={"a": 1},
        license={"spdx_id": "MIT", "future": ["field"]},
        security_and_analysis={"secret_scanning": {"status": "enabled"}},
    )

    assert _row(raw) == {**REAL_ROW, "license_spdx_id": "MIT"}


@pytest.mark.parametrize("not_an_object", [None, [], ["id", 1], "repo", 42, 1.5, True])
def test_a_record_that_is_not_an_object_is_rejected(not_an_object: Any) -> None:
    assert _reason(not_an_object) == "wrong_type:record"


# -- flattening ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"owner": {"login": "mona", "id": 1, "type": "User"}}, ("mona", 1, "User"), id="user"),
        pytest.param({"owner__id": MISSING, "owner__type": MISSING}, ("octokit-fixture-org", None, None), id="bare"),
        pytest.param({"owner__id": None}, ("octokit-fixture-org", None, "Organization"), id="null-id"),
        pytest.param({"owner__id": 2**40}, ("octokit-fixture-org", 2**40, "Organization"), id="id-past-32-bits"),
    ],
)
def test_owner_is_flattened(overrides: dict[str, Any], expected: tuple) -> None:
    row = _row(_repo(**overrides))

    assert (row["owner_login"], row["owner_id"], row["owner_type"]) == expected


@pytest.mark.parametrize(
    ("license_value", "expected"),
    [
        pytest.param(None, None, id="null"),
        pytest.param(MISSING, None, id="missing"),
        pytest.param({"key": "mit", "spdx_id": "MIT"}, "MIT", id="mit"),
        pytest.param({"key": "other", "spdx_id": "NOASSERTION"}, "NOASSERTION", id="noassertion-kept"),
        pytest.param({"key": "other", "spdx_id": None}, None, id="null-spdx"),
        pytest.param({"key": "other"}, None, id="no-spdx"),
    ],
)
def test_license_is_flattened_to_its_spdx_id(license_value: Any, expected: str | None) -> None:
    assert _row(_repo(license=license_value))["license_spdx_id"] == expected


@pytest.mark.parametrize(
    ("topics", "expected"),
    [
        pytest.param(MISSING, [], id="missing"),
        pytest.param(None, [], id="null"),
        pytest.param([], [], id="empty"),
        pytest.param(["b", "a", "b", "c", "a"], ["a", "b", "c"], id="repeats-dropped-sorted"),
        pytest.param(["x\x00", "x"], ["x"], id="equal-once-cleaned"),
        pytest.param(["😀", "ü", 'q"uote'], ['q"uote', "ü", "😀"], id="unicode-in-code-point-order"),
    ],
)
def test_topics_become_a_list_of_distinct_strings(topics: Any, expected: list[str]) -> None:
    assert _row(_repo(topics=topics))["topics"] == expected


# -- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2017-09-15T21:43:08Z", datetime(2017, 9, 15, 21, 43, 8, tzinfo=UTC), id="zulu"),
        pytest.param("2017-09-15T23:43:08+02:00", datetime(2017, 9, 15, 21, 43, 8, tzinfo=UTC), id="offset"),
        pytest.param("2017-09-15T21:43:08.5Z", datetime(2017, 9, 15, 21, 43, 8, 500000, tzinfo=UTC), id="fraction"),
        pytest.param("2017-01-01T00:30:00+01:00", datetime(2016, 12, 31, 23, 30, tzinfo=UTC), id="crosses-year"),
        pytest.param("2017-09-15T21:43:08Z\x00", datetime(2017, 9, 15, 21, 43, 8, tzinfo=UTC), id="nul-removed"),
        pytest.param("2017-09-15t21:43:08z", datetime(2017, 9, 15, 21, 43, 8, tzinfo=UTC), id="lower-case"),
        pytest.param(
            "2017-09-15T21:43:08.123456789Z", datetime(2017, 9, 15, 21, 43, 8, 123456, tzinfo=UTC), id="nanoseconds"
        ),
    ],
)
def test_timestamps_become_aware_utc_datetimes(text: str, expected: datetime) -> None:
    row = _row(_repo(created_at=text, updated_at=text, pushed_at=text))

    for column in ("created_at", "updated_at", "pushed_at"):
        assert row[column] == expected
        assert row[column].tzinfo is UTC


@pytest.mark.parametrize("column", ["updated_at", "pushed_at"])
@pytest.mark.parametrize("absent", [None, MISSING], ids=["null", "missing"])
def test_absent_timestamps_are_null(column: str, absent: Any) -> None:
    assert _row(_repo(**{column: absent}))[column] is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(None, "missing_field", id="null"),
        pytest.param(MISSING, "missing_field", id="missing"),
        pytest.param("2007-09-30T23:59:59Z", "out_of_range", id="before-github"),
        pytest.param("1970-01-01T00:00:00Z", "out_of_range", id="epoch"),
        pytest.param(
            (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z"), "out_of_range", id="future"
        ),
    ],
)
def test_a_creation_time_github_never_sends_is_rejected(value: Any, reason: str) -> None:
    """GitHub always sends one, after its launch: loaded, the row would fail the run's created_at check."""
    assert _reason(_repo(created_at=value)) == f"{reason}:created_at"
    assert _row(_repo(created_at="2007-10-01T00:00:00Z"))["created_at"] == datetime(2007, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize("column", ["created_at", "updated_at", "pushed_at"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("yesterday", "invalid_timestamp", id="words"),
        pytest.param("", "invalid_timestamp", id="empty"),
        pytest.param("2017-13-45T25:61:61Z", "invalid_timestamp", id="impossible"),
        pytest.param("2017-09-15T21:43:08", "invalid_timestamp", id="no-offset"),
        pytest.param("0001-01-01T00:00:00+01:00", "invalid_timestamp", id="before-year-1-in-utc"),
        pytest.param("2017-09-15T21:43:08Z\x00garbage", "invalid_timestamp", id="garbage-after-nul"),
        # Forms some Python versions' datetime.fromisoformat read and RFC 3339 does not have: each
        # supported Python must quarantine them alike.
        pytest.param("2017-09-15T24:00:00Z", "invalid_timestamp", id="hour-24"),
        pytest.param("20170915T214308Z", "invalid_timestamp", id="basic-format"),
        pytest.param("2017-09-15T21:43Z", "invalid_timestamp", id="no-seconds"),
        pytest.param("2017-W37-5T21:43:08Z", "invalid_timestamp", id="week-date"),
        pytest.param("2017-09-15T21:43:08+0200", "invalid_timestamp", id="offset-without-colon"),
        pytest.param(1505511788, "wrong_type", id="epoch-int"),
        pytest.param(["2017-09-15T21:43:08Z"], "wrong_type", id="list"),
    ],
)
def test_invalid_timestamps_are_rejected_naming_the_field(column: str, value: Any, reason: str) -> None:
    assert _reason(_repo(**{column: value})) == f"{reason}:{column}"


# -- text ------------------------------------------------------------------------------------------

STRING_FIELDS = {
    "node_id": "node_id",
    "full_name": "full_name",
    "name": "name",
    "owner__login": "owner_login",
    "owner__type": "owner_type",
    "description": "description",
    "homepage": "homepage",
    "html_url": "html_url",
    "language": "language",
    "license__spdx_id": "license_spdx_id",
    "default_branch": "default_branch",
    "visibility": "visibility",
}
FREE_TEXT_COLUMNS = {"description", "homepage", "html_url"}
IDENTIFIER_FIELDS = {field: column for field, column in STRING_FIELDS.items() if column not in FREE_TEXT_COLUMNS}


@pytest.mark.parametrize(("field", "column"), list(STRING_FIELDS.items()))
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a\x00b\x00", "ab", id="nul-removed"),
        pytest.param("a\ud800b", "a\ufffdb", id="lone-high-surrogate"),
        pytest.param("\udc00end", "\ufffdend", id="lone-low-surrogate"),
        pytest.param("\ud83d\ude00", "😀", id="split-pair-joined"),
        pytest.param("\x00\ud800ü", "\ufffdü", id="both"),
        pytest.param("keep\ttabs\nand\rcontrols\x01\x7f", "keep\ttabs\nand\rcontrols\x01\x7f", id="controls-kept"),
    ],
)
def test_every_string_field_is_made_storable(field: str, column: str, text: str, expected: str) -> None:
    value = _row(_repo(**{field: text}))[column]

    assert value == expected
    value.encode("utf-8")  # would raise for a surrogate left behind


def test_the_same_topics_in_another_order_are_the_same_row() -> None:
    """So that a list GitHub orders differently (REST and GraphQL, a topic removed and added back) keeps no
    new version in the repository's history."""
    assert _row(_repo(topics=["etl", "airflow"])) == _row(_repo(topics=["airflow", "etl"]))


def test_topics_are_made_storable_too() -> None:
    assert _row(_repo(topics=["a\x00b", "c\ud800"]))["topics"] == ["ab", "c\ufffd"]


@pytest.mark.parametrize("field", sorted(FREE_TEXT_COLUMNS))
def test_free_text_past_the_cap_is_truncated_not_rejected(field: str) -> None:
    huge = "x" * 300_000  # 300 KB

    assert _row(_repo(**{field: huge}))[field] == "x" * MAX_FREE_TEXT_CHARS


def test_truncated_text_is_cleaned_after_the_cut() -> None:
    text = "😀" * (MAX_FREE_TEXT_CHARS - 1) + "\ud800" + "tail" * 1000

    assert _row(_repo(description=text))["description"] == "😀" * (MAX_FREE_TEXT_CHARS - 1) + "\ufffd"


@pytest.mark.parametrize(
    ("homepage", "expected"),
    [("", None), ("\x00", None), (None, None), (MISSING, None), ("https://x.example", "https://x.example")],
)
def test_empty_homepage_is_null(homepage: Any, expected: str | None) -> None:
    assert _row(_repo(homepage=homepage))["homepage"] == expected


def test_empty_description_is_kept_as_sent() -> None:
    assert _row(_repo(description=""))["description"] == ""


@pytest.mark.parametrize(("field", "column"), list(IDENTIFIER_FIELDS.items()))
def test_identifier_fields_past_their_cap_are_rejected(field: str, column: str) -> None:
    at_cap = "x" * (MAX_LABEL_CHARS if column == "language" else MAX_IDENTIFIER_CHARS)

    assert _row(_repo(**{field: at_cap}))[column] == at_cap
    assert _reason(_repo(**{field: at_cap + "x"})) == f"too_long:{field.replace('__', '.')}"


def test_overlong_or_too_many_topics_are_rejected() -> None:
    assert _row(_repo(topics=["x" * MAX_LABEL_CHARS]))["topics"] == ["x" * MAX_LABEL_CHARS]
    assert _reason(_repo(topics=["x" * (MAX_LABEL_CHARS + 1)])) == "too_long:topics"
    assert _reason(_repo(topics=[f"t{i}" for i in range(MAX_TOPICS + 1)])) == "too_many:topics"


def test_a_topic_list_too_big_for_an_index_entry_is_rejected() -> None:
    """star_gains_order_idx holds the whole list; past about 2.7 kB PostgreSQL refuses the entry."""
    at_github_limits = [f"{i:02d}" + "x" * 48 for i in range(20)]
    assert _row(_repo(topics=at_github_limits))["topics"] == at_github_limits
    assert _reason(_repo(topics=[f"{i:03d}" + "x" * 47 for i in range(100)])) == "too_long:topics"
    assert _reason(_repo(topics=[f"{i}" + "\U0001f600" * 150 for i in range(5)])) == "too_long:topics"


# -- required fields and types ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"id": MISSING}, "missing_field:id"),
        ({"id": None}, "missing_field:id"),
        ({"id": "103703892"}, "wrong_type:id"),
        ({"id": 103703892.0}, "wrong_type:id"),
        ({"id": True}, "wrong_type:id"),
        ({"id": 0}, "out_of_range:id"),
        ({"id": -5}, "out_of_range:id"),
        ({"id": 2**63}, "out_of_range:id"),
        ({"id": 10**5000}, "out_of_range:id"),
        ({"node_id": MISSING}, "missing_field:node_id"),
        ({"node_id": ""}, "missing_field:node_id"),
        ({"node_id": 12}, "wrong_type:node_id"),
        ({"full_name": MISSING}, "missing_field:full_name"),
        ({"full_name": "\x00"}, "missing_field:full_name"),
        ({"full_name": ["a", "b"]}, "wrong_type:full_name"),
        ({"name": None}, "missing_field:name"),
        ({"name": {"first": "x"}}, "wrong_type:name"),
        ({"owner": MISSING}, "missing_field:owner"),
        ({"owner": None}, "missing_field:owner"),
        ({"owner": "octokit-fixture-org"}, "wrong_type:owner"),
        ({"owner__login": MISSING}, "missing_field:owner.login"),
        ({"owner__login": 7}, "wrong_type:owner.login"),
        ({"owner__id": "31898100"}, "wrong_type:owner.id"),
        ({"owner__id": False}, "wrong_type:owner.id"),
        ({"owner__id": -1}, "out_of_range:owner.id"),
        ({"owner__type": 1}, "wrong_type:owner.type"),
        ({"license": "MIT"}, "wrong_type:license"),
        ({"license": {"spdx_id": 1}}, "wrong_type:license.spdx_id"),
        ({"topics": "fixtures,hello"}, "wrong_type:topics"),
        ({"topics": {"a": 1}}, "wrong_type:topics"),
        ({"topics": ["ok", 5]}, "wrong_type:topics"),
        ({"topics": ["ok", None]}, "wrong_type:topics"),
        ({"description": 42}, "wrong_type:description"),
        ({"homepage": ["x"]}, "wrong_type:homepage"),
        ({"html_url": False}, "wrong_type:html_url"),
        ({"language": {"name": "Python"}}, "wrong_type:language"),
        ({"default_branch": 1}, "wrong_type:default_branch"),
        ({"visibility": True}, "wrong_type:visibility"),
    ],
    ids=lambda value: _case_id(value) if isinstance(value, dict) else value,
)
def test_missing_or_wrongly_typed_fields_are_rejected_with_a_reason(overrides: dict[str, Any], reason: str) -> None:
    assert _reason(_repo(**overrides)) == reason


@pytest.mark.parametrize("repo_id", [1, 2**31, 2**32 + 1, 1_100_000_000, 2**63 - 1])
def test_ids_up_to_bigint_are_accepted(repo_id: int) -> None:
    assert _row(_repo(id=repo_id))["id"] == repo_id


def test_rejection_carries_reason_and_bounded_detail() -> None:
    with pytest.raises(RejectedRecord) as rejection:
        repository_row(_repo(stargazers_count="many" * 10_000))

    assert isinstance(rejection.value, ValueError)
    assert rejection.value.reason == "wrong_type:stargazers_count"
    assert "stargazers_count" in rejection.value.detail
    assert "str" in rejection.value.detail
    assert len(rejection.value.detail) < 200


# -- counts and flags ------------------------------------------------------------------------------

COUNT_COLUMNS = ("stargazers_count", "forks_count", "open_issues_count", "watchers_count", "size")
FLAG_COLUMNS = ("fork", "archived", "disabled", "is_template")


@pytest.mark.parametrize("column", COUNT_COLUMNS)
def test_counts_default_to_what_the_schema_says(column: str) -> None:
    schema_default = re.search(rf"\n\s+{column}\s+\w+\s+NOT NULL DEFAULT (\d+)", SCHEMA_SQL.read_text())

    assert schema_default, f"{column} has no NOT NULL DEFAULT in the schema"
    assert _row(_repo(**{column: MISSING}))[column] == int(schema_default.group(1))
    assert _row(_repo(**{column: None}))[column] == int(schema_default.group(1))


@pytest.mark.parametrize("column", COUNT_COLUMNS)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("many", "wrong_type", id="word"),
        pytest.param("12", "wrong_type", id="digits"),
        pytest.param(1.0, "wrong_type", id="float"),
        pytest.param(True, "wrong_type", id="bool"),
        pytest.param([1], "wrong_type", id="list"),
        pytest.param(-1, "negative", id="negative"),
    ],
)
def test_bad_counts_are_rejected(column: str, value: Any, reason: str) -> None:
    assert _reason(_repo(**{column: value})) == f"{reason}:{column}"


@pytest.mark.parametrize("column", COUNT_COLUMNS)
def test_count_bounds_follow_the_schema_column_type(column: str) -> None:
    sql_type = _schema_columns()[column].split()[0]
    maximum = {"integer": 2**31 - 1, "bigint": 2**63 - 1}[sql_type]

    assert _row(_repo(**{column: maximum}))[column] == maximum
    assert _row(_repo(**{column: 0}))[column] == 0
    assert _reason(_repo(**{column: maximum + 1})) == f"out_of_range:{column}"


@pytest.mark.parametrize("column", FLAG_COLUMNS)
def test_flags_default_to_false(column: str) -> None:
    assert _row(_repo(**{column: MISSING}))[column] is False
    assert _row(_repo(**{column: None}))[column] is False
    assert _row(_repo(**{column: True}))[column] is True


@pytest.mark.parametrize("column", FLAG_COLUMNS)
@pytest.mark.parametrize("value", [1, 0, "true", "false", [], 1.0], ids=repr)
def test_non_boolean_flags_are_rejected(column: str, value: Any) -> None:
    assert _reason(_repo(**{column: value})) == f"wrong_type:{column}"


@pytest.mark.parametrize("column", ["description", "homepage", "html_url", "language", "default_branch", "visibility"])
def test_missing_optional_strings_are_null(column: str) -> None:
    assert _row(_repo(**{column: MISSING}))[column] is None


# -- totality: hostile values never escape as anything but RejectedRecord --------------------------

HOSTILE_VALUES = [
    *(None, "", "x", "\x00", "\ud800", "2017-09-15T21:43:08Z"),
    *(-1, 0, 1, 2**31, 2**63, 10**5000, 1.5, float("nan"), True, False),
    *([], [None], ["a", "a"], {}, {"login": None}, {"spdx_id": ["x"]}, b"bytes", object()),
]
# Every REST field the row reads; a hostile value in any other field never matters.
ROW_FIELDS = (
    *("id", "node_id", "full_name", "name", "owner", "owner__login", "owner__id", "owner__type"),
    *("description", "homepage", "html_url", "language", "license", "license__spdx_id", "topics"),
    *("stargazers_count", "forks_count", "open_issues_count", "watchers_count", "size", "default_branch"),
    *("fork", "archived", "disabled", "is_template", "visibility", "created_at", "updated_at", "pushed_at"),
)
IGNORED_FIELDS = ("private", "permissions", "organization", "owner__site_admin", "subscribers_count", "brand_new")


def _outcomes(field: str) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Each hostile value in ``field``: the record and its rejection reason (None when it made a row)."""
    for value in HOSTILE_VALUES:
        raw = _repo(**{field: value})
        try:
            repository_row(raw)
        except RejectedRecord as rejection:
            yield raw, rejection.reason
        else:
            yield raw, None


@pytest.mark.parametrize("field", ROW_FIELDS)
def test_any_hostile_value_gives_a_storable_row_or_a_rejection(field: str) -> None:
    outcomes = list(_outcomes(field))
    reasons = [reason for _, reason in outcomes if reason]
    accepted = [raw for raw, reason in outcomes if reason is None]

    assert reasons, "no hostile value was rejected"
    assert all(re.fullmatch(r"[a-z_]+:[a-zA-Z_.]+", reason) for reason in reasons), reasons
    for raw in accepted:
        line = format_copy_line(repository_row(raw))
        assert "\x00" not in line
        line.encode("utf-8")
        # The streaming writer renders exactly what format_copy_line renders.
        out = io.StringIO()
        transform_records([raw], out, io.StringIO())
        assert out.getvalue() == staged_line(line)[0]


@pytest.mark.parametrize("field", IGNORED_FIELDS)
def test_hostile_values_in_fields_the_row_ignores_are_harmless(field: str) -> None:
    assert [reason for _, reason in _outcomes(field)] == [None] * len(HOSTILE_VALUES)


# -- COPY text format ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, r"\N", id="null"),
        pytest.param(True, "t", id="true"),
        pytest.param(False, "f", id="false"),
        pytest.param(0, "0", id="zero"),
        pytest.param(2**40, "1099511627776", id="bigint"),
        pytest.param("plain", "plain", id="plain"),
        pytest.param("", "", id="empty-string-is-not-null"),
        pytest.param("a\tb", r"a\tb", id="tab"),
        pytest.param("a\nb", r"a\nb", id="newline"),
        pytest.param("a\rb", r"a\rb", id="carriage-return"),
        pytest.param("back\\slash", r"back\\slash", id="backslash"),
        pytest.param("\\N", r"\\N", id="text-that-looks-like-null"),
        pytest.param("\\.", r"\\.", id="end-of-data-marker"),
        pytest.param("ü 😀 \x01", "ü 😀 \x01", id="unicode-and-controls-literal"),
        pytest.param(datetime(2017, 9, 15, 21, 43, 8, tzinfo=UTC), "2017-09-15T21:43:08+00:00", id="datetime"),
        pytest.param([], "{}", id="empty-array"),
        pytest.param(["a", "b c"], '{"a","b c"}', id="array"),
        pytest.param(["NULL", "a,b", "{x}"], '{"NULL","a,b","{x}"}', id="array-syntax-quoted"),
        pytest.param(['say "hi"'], r'{"say \\"hi\\""}', id="array-quote"),
        pytest.param(["back\\slash"], r'{"back\\\\slash"}', id="array-backslash"),
        pytest.param(["tab\there", "nl\nhere"], r'{"tab\there","nl\nhere"}', id="array-tab-newline"),
        pytest.param(["a", None], '{"a",NULL}', id="array-null"),
    ],
)
def test_copy_text_rendering(value: Any, expected: str) -> None:
    assert format_copy_line((value,)) == expected + "\n"


def test_copy_line_separates_with_tabs_and_ends_with_a_newline() -> None:
    assert format_copy_line((1, "a\tb", None, True)) == "1\ta\\tb\t\\N\tt\n"


def test_real_row_copy_line() -> None:
    assert format_copy_line(repository_row(REAL_REPOSITORY)) == (
        "103703892\tMDEwOlJlcG9zaXRvcnkxMDM3MDM4OTI=\toctokit-fixture-org/hello-world\thello-world\t"
        "octokit-fixture-org\t31898100\tOrganization\t\\N\t\\N\thttps://github.com/octokit-fixture-org/hello-world\t"
        '\\N\t\\N\t{"fixtures","hello","hello-world"}\t0\t0\t0\t0\t0\tmaster\tf\tf\tf\tf\tpublic\t'
        "2017-09-15T21:43:08+00:00\t2017-09-19T15:57:54+00:00\t2017-11-03T20:11:46+00:00\n"
    )


def test_copy_line_rejects_types_a_row_never_holds() -> None:
    with pytest.raises(TypeError):
        format_copy_line((1.5,))


# -- GraphQL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", REPOSITORY_COLUMNS)
@pytest.mark.parametrize(
    ("rest", "node"),
    [(REAL_REPOSITORY, REAL_GRAPHQL_NODE), (BUSY_REPOSITORY, BUSY_GRAPHQL_NODE)],
    ids=["real", "busy"],
)
def test_graphql_and_rest_give_the_same_row(column: str, rest: dict[str, Any], node: dict[str, Any]) -> None:
    assert _graphql(node)[column] == _row(rest)[column]


class _RecordingNode(dict):
    """A GraphQL node that remembers which keys were read, at every depth."""

    def __init__(self, data: dict[str, Any], read: set[str]) -> None:
        super().__init__({key: self._wrap(value, read) for key, value in data.items()})
        self.read = read

    @classmethod
    def _wrap(cls, value: Any, read: set[str]) -> Any:
        if isinstance(value, dict):
            return cls(value, read)
        if isinstance(value, list):
            return [cls._wrap(item, read) for item in value]
        return value

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def test_mapping_reads_only_fields_the_query_selects() -> None:
    read: set[str] = set()
    graphql_row(_RecordingNode(BUSY_GRAPHQL_NODE, read))
    selected = set(re.findall(r"[A-Za-z_]+", GRAPHQL_REPOSITORY_FIELDS))

    assert read
    assert read - selected == set()


def test_query_selects_every_field_of_a_full_node() -> None:
    selected = set(re.findall(r"[A-Za-z_]+", GRAPHQL_REPOSITORY_FIELDS))

    def keys(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from keys(item)
        elif isinstance(value, list):
            for item in value:
                yield from keys(item)

    assert set(keys(BUSY_GRAPHQL_NODE)) - {"name"} <= selected
    assert GRAPHQL_REPOSITORY_FIELDS.count("{") == GRAPHQL_REPOSITORY_FIELDS.count("}")


@pytest.mark.parametrize(
    ("overrides", "column", "expected"),
    [
        pytest.param({"visibility": "PRIVATE"}, "visibility", "private", id="visibility-lower-cased"),
        pytest.param({"visibility": "internal"}, "visibility", "internal", id="visibility-already-lower"),
        pytest.param(
            {"issues": {"totalCount": 3}, "pullRequests": {"totalCount": 4}},
            "open_issues_count",
            7,
            id="open-issues-include-pull-requests",
        ),
        pytest.param({"pullRequests": None, "issues": {"totalCount": 3}}, "open_issues_count", 3, id="issues-only"),
        pytest.param({"pullRequests": None, "issues": None}, "open_issues_count", 0, id="no-totals"),
        pytest.param({"stargazerCount": 12}, "watchers_count", 12, id="watchers-are-stars"),
        pytest.param({"owner": {"login": "ghost", "__typename": "User"}}, "owner_id", None, id="owner-without-id"),
        pytest.param(
            {"repositoryTopics": {"nodes": [None, {"topic": None}, {"topic": {"name": "a"}}]}},
            "topics",
            ["a"],
            id="partial-topics-skipped",
        ),
        pytest.param({"repositoryTopics": None}, "topics", [], id="no-topics"),
        pytest.param({"defaultBranchRef": None}, "default_branch", None, id="empty-repository"),
        pytest.param({"licenseInfo": {"spdxId": "NOASSERTION"}}, "license_spdx_id", "NOASSERTION", id="noassertion"),
        pytest.param({"homepageUrl": ""}, "homepage", None, id="empty-homepage"),
        pytest.param({"unknownNewField": {"x": 1}}, "id", 103703892, id="unknown-field-ignored"),
    ],
)
def test_graphql_mapping_details(overrides: dict[str, Any], column: str, expected: Any) -> None:
    assert _graphql({**REAL_GRAPHQL_NODE, **overrides})[column] == expected


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        pytest.param(None, "wrong_type:record", id="null-node"),
        pytest.param(["not", "a", "node"], "wrong_type:record", id="list"),
        pytest.param({**REAL_GRAPHQL_NODE, "primaryLanguage": "Python"}, "wrong_type:primaryLanguage", id="language"),
        pytest.param({**REAL_GRAPHQL_NODE, "owner": "octocat"}, "wrong_type:owner", id="owner"),
        pytest.param({**REAL_GRAPHQL_NODE, "licenseInfo": ["MIT"]}, "wrong_type:licenseInfo", id="license"),
        pytest.param(
            {**REAL_GRAPHQL_NODE, "repositoryTopics": {"nodes": "a,b"}},
            "wrong_type:repositoryTopics.nodes",
            id="topics",
        ),
        pytest.param(
            {**REAL_GRAPHQL_NODE, "repositoryTopics": {"nodes": [1]}},
            "wrong_type:repositoryTopics.nodes",
            id="topic-entry",
        ),
        pytest.param({**REAL_GRAPHQL_NODE, "issues": 5}, "wrong_type:issues", id="issues"),
    ],
)
def test_malformed_graphql_nodes_are_rejected(node: Any, reason: str) -> None:
    assert _reason(node, graphql_row) == reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"databaseId": None}, "missing_field:id", id="no-database-id"),
        pytest.param({"owner": None}, "missing_field:owner", id="no-owner"),
        pytest.param({"stargazerCount": "many"}, "wrong_type:stargazers_count", id="stars"),
        pytest.param({"issues": {"totalCount": "3"}}, "wrong_type:open_issues_count", id="issue-total"),
        pytest.param({"pullRequests": {"totalCount": -1}}, "negative:open_issues_count", id="pull-request-total"),
        pytest.param({"isFork": "no"}, "wrong_type:fork", id="fork"),
        pytest.param({"createdAt": "soon"}, "invalid_timestamp:created_at", id="created"),
        pytest.param({"visibility": 3}, "wrong_type:visibility", id="visibility"),
    ],
)
def test_graphql_values_are_validated_by_the_rest_rules(overrides: dict[str, Any], reason: str) -> None:
    assert _reason({**REAL_GRAPHQL_NODE, **overrides}, graphql_row) == reason


# -- streaming -------------------------------------------------------------------------------------


def _numbered(repo_id: int, **overrides: Any) -> dict[str, Any]:
    """Another repository: the real one with its own id, node id and names (unless overridden)."""
    identity = {"id": repo_id, "node_id": f"R_{repo_id}", "full_name": f"o/r{repo_id}", "name": f"r{repo_id}"}
    return _repo(**{**identity, **overrides})


def _rejections(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_stream_writes_rows_and_quarantines_bad_records() -> None:
    records = [
        _numbered(1, description="first"),
        _numbered(2),
        _numbered(3, stargazers_count="many"),
        _numbered(1, description="second"),  # a second copy: written too, the load keeps one
        "not an object",
        _numbered(4, created_at="later"),
        _numbered(5),
    ]
    rows_out, rejected_out = io.StringIO(), io.StringIO()

    stats = transform_records(records, rows_out, rejected_out)

    assert stats == TransformStats(
        seen=7,
        rows=4,
        rejected=3,
        reasons={"wrong_type:stargazers_count": 1, "wrong_type:record": 1, "invalid_timestamp:created_at": 1},
    )
    lines = rows_out.getvalue().splitlines(keepends=True)
    assert lines == [staged_line(format_copy_line(repository_row(records[i])))[0] for i in (0, 1, 3, 6)]
    assert ("\tfirst\t" in lines[0], "\tsecond\t" in lines[2]) == (True, True)
    rejected = _rejections(rejected_out.getvalue())
    assert [(r["id"], r["reason"]) for r in rejected] == [
        (3, "wrong_type:stargazers_count"),
        (None, "wrong_type:record"),
        (4, "invalid_timestamp:created_at"),
    ]
    assert rejected[0]["record"] == records[2]
    assert "stargazers_count" in rejected[0]["detail"]
    assert rejected[1]["record"] == "not an object"


def test_a_rejected_copy_does_not_hide_a_valid_one() -> None:
    rows_out = io.StringIO()

    stats = transform_records([_numbered(1, fork="yes"), _numbered(1)], rows_out, io.StringIO())

    assert (stats.rows, stats.rejected) == (1, 1)
    assert rows_out.getvalue() == staged_line(format_copy_line(repository_row(_numbered(1))))[0]


@pytest.mark.parametrize(
    ("raw_id", "expected"),
    [(7, 7), ("7", None), (True, None), (None, None), (2**40, 2**40), (10**5000, None)],
    ids=["int", "string", "bool", "null", "big", "huge"],
)
def test_quarantine_id_is_the_raw_integer_id_or_null(raw_id: Any, expected: int | None) -> None:
    rejected_out = io.StringIO()

    transform_records([_repo(id=raw_id, fork="not a bool")], io.StringIO(), rejected_out)

    assert _rejections(rejected_out.getvalue())[0]["id"] == expected


def test_quarantine_lines_stay_small_and_valid_json_for_hostile_records() -> None:
    hostile = _repo(
        id=9,
        stargazers_count=-1,
        description="d" * 300_000,
        homepage="\ud800 lone surrogate \x00 nul",
        many=[f"t{i}" for i in range(50_000)],
        nested={"deep": {"er": {"list": ["x" * 10_000]}}},
        ratio=float("nan"),
        blob=b"\xff\xfe",
    )
    rejected_out = io.StringIO()

    transform_records([hostile], io.StringIO(), rejected_out)

    text = rejected_out.getvalue()
    assert text.isascii()
    assert len(text) < 64_000
    (entry,) = _rejections(text)
    assert entry["reason"] == "negative:stargazers_count"
    record = entry["record"]
    assert record["description"].startswith("d" * MAX_QUARANTINE_STRING_CHARS)
    assert record["description"].endswith("[truncated 295904 characters]")
    assert record["homepage"] == "\ud800 lone surrogate \x00 nul"
    assert record["many"][-1] == "...[truncated 49000 items]"
    assert record["nested"]["deep"]["er"]["list"][0].endswith("[truncated 5904 characters]")
    assert record["ratio"] == "nan"
    assert record["blob"] == repr(b"\xff\xfe")


def test_a_quarantine_line_stays_small_however_many_long_fields_the_record_has() -> None:
    # Each string and list is cut, but 1,500 fields of 5,000 characters made a line of 4 MB.
    hostile = _repo(id=9, stargazers_count="many", **{f"x{i}": "y" * 5000 for i in range(1500)})
    rejected_out = io.StringIO()

    transform_records([hostile], io.StringIO(), rejected_out)

    text = rejected_out.getvalue()
    assert len(text) <= MAX_QUARANTINE_LINE_CHARS
    (entry,) = _rejections(text)
    assert (entry["id"], entry["reason"]) == (9, "wrong_type:stargazers_count")
    record = entry["record"]
    # What identifies the repository is kept; the rest is said to be in the run's raw pages.
    assert (record["id"], record["full_name"], record["html_url"]) == (9, hostile["full_name"], hostile["html_url"])
    assert "x0" not in record
    assert "raw/" in record["...truncated"]


def test_a_huge_record_that_is_no_object_is_cut_to_a_small_line_too() -> None:
    rejected_out = io.StringIO()

    transform_records([["id", *["z" * 5000] * 1500]], io.StringIO(), rejected_out)

    (entry,) = _rejections(rejected_out.getvalue())
    assert len(rejected_out.getvalue()) <= MAX_QUARANTINE_LINE_CHARS
    assert (entry["id"], entry["reason"]) == (None, "wrong_type:record")
    assert list(entry["record"]) == ["...truncated"]


def test_deeply_nested_garbage_is_quarantined_not_raised() -> None:
    nested: Any = "bottom"
    for _ in range(500):
        nested = {"n": nested}
    rejected_out = io.StringIO()

    stats = transform_records([_repo(id=5, owner=[nested])], io.StringIO(), rejected_out)

    assert stats.rejected == 1
    assert "nested too deep" in rejected_out.getvalue()


def test_io_errors_propagate() -> None:
    class BrokenFile(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        transform_records([_numbered(1)], BrokenFile(), io.StringIO())
    with pytest.raises(OSError, match="disk full"):
        transform_records([_numbered(1, fork=3)], io.StringIO(), BrokenFile())


class _CountingSink:
    """A text sink that keeps only counts, so a test measures the transform and not its output."""

    def __init__(self) -> None:
        self.lines = 0
        self.chars = 0

    def write(self, text: str) -> int:
        self.lines += 1
        self.chars += len(text)
        return len(text)


def _stream(count: int) -> Iterator[dict[str, Any]]:
    """Realistic records, one in 50 needing escapes, one in 1,000 bad, one in 1,000 a duplicate."""
    base = _repo(description="A library for doing things", language="Python", license={"spdx_id": "MIT"})
    nasty = NASTY_TEXT
    for index in range(count):
        record = base.copy()
        record["id"] = 1_000_000 + index - (1 if index % 1000 == 999 else 0)
        record["stargazers_count"] = index % 50_000
        if index % 50 == 0:
            record["description"] = nasty
        if index % 1000 == 500:
            record["forks_count"] = "many"
        yield record


def _peak_traced_bytes(count: int) -> int:
    tracemalloc.start()
    try:
        stats = transform_records(_stream(count), _CountingSink(), _CountingSink())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.seen == count
    return peak


def test_memory_does_not_grow_with_the_stream() -> None:
    _peak_traced_bytes(1_000)  # first-use caches (regular expressions, encoders) are not the stream's
    small, large = _peak_traced_bytes(5_000), _peak_traced_bytes(40_000)

    # Nothing is kept per record, duplicates included: eight times the records, the same peak. An id
    # set would add ~2.5 MB at 40,000; keeping rows or lines, ~20 MB.
    assert large < small + 256 * 1024, f"peak {small / 1e6:.2f} MB at 5,000 records, {large / 1e6:.2f} MB at 40,000"


def test_streaming_200k_records(record_property: pytest.RecordProperty) -> None:
    count = 200_000
    rows_out, rejected_out = _CountingSink(), _CountingSink()

    started, cpu_started = time.perf_counter(), time.process_time()
    stats = transform_records(_stream(count), rows_out, rejected_out)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started

    assert stats.seen == count
    assert stats.rejected == count // 1000 == rejected_out.lines
    assert stats.rows == count - stats.rejected == rows_out.lines
    # Reported, not asserted: a shared CI machine's speed says nothing about the code. CPU time is
    # shown beside wall time because it is less disturbed by other processes.
    record_property("records_per_second", round(count / elapsed))
    record_property("records_per_cpu_second", round(count / cpu))
    print(f"transform_records: {count} records, {count / elapsed:,.0f}/s wall, {count / cpu:,.0f}/s CPU")


# -- round trip through a real PostgreSQL ----------------------------------------------------------


@pytest.fixture
def pg_cursor() -> Iterator[Any]:
    """A cursor on the local PostgreSQL, or a skip saying why there is none."""
    url = os.environ.get("GITHUB_ETL_TEST_POSTGRES_URL", "").strip() or DEFAULT_POSTGRES_URL
    try:
        conn = psycopg2.connect(url, connect_timeout=3)
    except psycopg2.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at {url.split('@')[-1]} ({str(error).strip()[:100]})")
    try:
        conn.set_client_encoding("UTF8")
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            yield cur
    finally:
        conn.rollback()
        conn.close()


def _round_trip_records() -> list[dict[str, Any]]:
    return [
        REAL_REPOSITORY,
        BUSY_REPOSITORY,
        _numbered(
            2**32 + 5,
            description=NASTY_TEXT,
            homepage="https://e.example/a\tb?q=\\x",
            topics=[NASTY_TEXT[:40], 'quo"te', "back\\slash", "NULL", "", "a,b", "{x}", "ü", "😀", " spaced "],
            language="C\\C++",
            owner__login="tab\tuser",
        ),
        _numbered(11, description="\x00nul\x00 and \ud800 surrogate", topics=["\ud83d\ude00"]),
        _numbered(12, description="z" * 300_000, size=2**40, stargazers_count=2**31 - 1, pushed_at=None),
        _numbered(
            13, description="", homepage="", license=None, owner__id=MISSING, created_at="2017-09-15T23:43:08+02:00"
        ),
        _numbered(14, description="ends with backslash \\", topics=["\\"]),
        _numbered(15, description="\r\n\r\n", name="\\N", full_name="\\."),
    ]


def test_copy_round_trip_through_postgresql(pg_cursor: Any) -> None:
    schema = _schema_columns()
    columns = ", ".join(f"{name} {schema[name]}" for name in STAGED_COLUMNS)
    pg_cursor.execute(f"CREATE TEMP TABLE staged_repositories ({columns}) ON COMMIT DROP")
    records = _round_trip_records()
    rows_out, rejected_out = io.StringIO(), io.StringIO()

    stats = transform_records(records, rows_out, rejected_out)
    assert (stats.rows, stats.rejected) == (len(records), 0), rejected_out.getvalue()
    node = {**BUSY_GRAPHQL_NODE, "databaseId": 77, "id": "R_graphql"}
    stats = transform_records([node], rows_out, rejected_out, source_format="graphql")
    assert (stats.rows, stats.rejected) == (1, 0), rejected_out.getvalue()
    rows_out.seek(0)
    pg_cursor.copy_expert(f"COPY staged_repositories ({', '.join(STAGED_COLUMNS)}) FROM STDIN", rows_out)
    pg_cursor.execute(f"SELECT {', '.join(REPOSITORY_COLUMNS)} FROM staged_repositories")
    stored = {row[0]: dict(zip(REPOSITORY_COLUMNS, row, strict=True)) for row in pg_cursor.fetchall()}

    expected = {row["id"]: row for row in [*map(_row, records), _graphql(node)]}
    assert stored.keys() == expected.keys()
    for repo_id, row in expected.items():
        for column, value in row.items():
            assert stored[repo_id][column] == value, f"id {repo_id} column {column}"
    assert stored[2**32 + 5]["description"] == NASTY_TEXT
    assert stored[12]["description"] == "z" * MAX_FREE_TEXT_CHARS
    assert stored[13]["created_at"] == datetime(2017, 9, 15, 21, 43, 8, tzinfo=timezone(timedelta(0)))


# -- row digests and key files ---------------------------------------------------------------------


def test_the_staged_line_ends_with_the_digest_of_the_copy_line() -> None:
    line = format_copy_line(repository_row(_numbered(7)))

    staged, digest = staged_line(line)

    assert staged == f"{line[:-1]}\t{digest}\n"
    assert -(2**63) <= digest < 2**63
    assert digest == staged_line(line)[1], "the digest is deterministic"


def test_a_changed_value_changes_the_digest() -> None:
    digests = {
        staged_line(format_copy_line(repository_row(_numbered(7, **change))))[1]
        for change in ({}, {"stargazers_count": 8}, {"description": "other"}, {"topics": ["a"]}, {"pushed_at": None})
    }

    assert len(digests) == 5


def test_the_key_file_lists_each_written_row_with_its_digest() -> None:
    rows_out, keys_out = io.StringIO(), io.StringIO()

    transform_records([_numbered(1), _numbered(1), {"id": 2}, _numbered(3)], rows_out, io.StringIO(), keys_out=keys_out)

    written = [line.split("\t") for line in rows_out.getvalue().splitlines()]
    assert keys_out.getvalue().splitlines() == [f"{fields[0]}\t{fields[-1]}" for fields in written]
    assert [fields[0] for fields in written] == ["1", "1", "3"]


# RFC 3339's offset minutes are 00-59; datetime.fromisoformat reads more as more hours (-00:99 as -01:39).
OFFSETS_PAST_59_MINUTES = ["2015-01-01T00:00:00-00:99", "2015-01-01T00:00:00+00:60", "2015-01-01T00:00:00+05:75"]


@pytest.mark.parametrize("value", OFFSETS_PAST_59_MINUTES)
@pytest.mark.parametrize("field", ["created_at", "updated_at", "pushed_at"])
def test_an_offset_past_59_minutes_is_quarantined_not_read_as_another_instant(field: str, value: str) -> None:
    assert _reason(_repo(**{field: value})) == f"invalid_timestamp:{field}"


@pytest.mark.parametrize("value", OFFSETS_PAST_59_MINUTES)
def test_a_graphql_time_with_an_offset_past_59_minutes_is_quarantined(value: str) -> None:
    assert _reason({**REAL_GRAPHQL_NODE, "createdAt": value}, graphql_row) == "invalid_timestamp:created_at"


@pytest.mark.parametrize(
    ("issues", "pull_requests", "reason"),
    [
        (-5, 10, "negative:open_issues_count"),
        (10, -5, "negative:open_issues_count"),
        (2**31, -1, "out_of_range:open_issues_count"),
    ],
)
def test_a_graphql_total_out_of_range_is_quarantined_whatever_the_other_total(
    issues: int, pull_requests: int, reason: str
) -> None:
    """Summed with the other total, -5 issues and 10 pull requests would pass as 5 open issues."""
    node = {**REAL_GRAPHQL_NODE, "issues": {"totalCount": issues}, "pullRequests": {"totalCount": pull_requests}}
    assert _reason(node, graphql_row) == reason


# docs/error-handling.md, "Bad data": the command it gives to list the quarantined records' pages on GitHub.
_DOCUMENTED_LISTING = re.search(
    r"`(jq -r '\[\.id, \.reason, .*?' rejected/\*\.jsonl)`",
    (Path(__file__).resolve().parents[2] / "docs" / "error-handling.md").read_text(),
)


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (.ci/run installs it)")
def test_the_documented_listing_of_the_quarantine_names_every_record_whatever_was_wrong_with_its_url(tmp_path):
    """A record quarantined for the type of its URL keeps that URL as GitHub sent it: jq's @tsv refuses an object,
    and a listing that stops there leaves the record out."""
    assert _DOCUMENTED_LISTING, "docs/error-handling.md gives no jq listing of rejected/*.jsonl"
    good = _repo(id=1)
    bad_count = _repo(id=2, stargazers_count="many")
    bad_url = _repo(id=3, html_url={"href": "https://github.com/octo/three"})
    (tmp_path / "rejected").mkdir()
    with (tmp_path / "rejected" / "census-000.jsonl").open("w") as rejected_out:
        stats = transform_records([good, bad_count, bad_url], io.StringIO(), rejected_out)
    assert stats.rejected == 2

    listing = subprocess.run(
        ["bash", "-c", _DOCUMENTED_LISTING.group(1)], cwd=tmp_path, capture_output=True, text=True, check=False
    )

    assert listing.returncode == 0, listing.stderr
    listed = [line.split("\t") for line in listing.stdout.splitlines()]
    assert [(repo_id, reason) for repo_id, reason, _ in listed] == [
        ("2", "wrong_type:stargazers_count"),
        ("3", "wrong_type:html_url"),
    ]
    assert listed[0][2] == bad_count["html_url"]
    assert json.loads(listed[1][2]) == bad_url["html_url"]
