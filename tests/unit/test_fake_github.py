"""The fake GitHub API speaks GitHub's shapes, headers, budgets and failure modes, over real HTTP."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from github_etl.columns import REPOSITORY_COLUMNS
from tests.fake_github import FakeGitHub, sanitise_text
from tests.fake_github import hostile as hostile_kinds
from tests.fake_github.objects import MINIMAL_FIELDS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fake-test-token-1"  # a made-up token: the fake accepts any token unless told otherwise
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REQUEST_TIMEOUT = 10  # seconds; generous, nothing here should come close
# The listing's fields before its 36 *_url templates, in GitHub's order.
LISTING_FIELDS = ("id", "node_id", "name", "full_name", "private", "owner", "html_url", "description", "fork", "url")
# Fields of GET /repos a client relies on, beyond the listing's.
FULL_ONLY_FIELDS = (
    "created_at", "updated_at", "pushed_at", "homepage", "size", "stargazers_count", "watchers_count",
    "forks_count", "open_issues_count", "language", "has_issues", "has_projects", "has_downloads", "has_wiki",
    "has_pages", "archived", "disabled", "license", "allow_forking", "is_template", "web_commit_signoff_required",
    "topics", "visibility", "forks", "open_issues", "watchers", "default_branch", "network_count",
    "subscribers_count", "temp_clone_token",
)  # fmt: skip
RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "x-ratelimit-resource",
)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A keep-alive session that sends a token."""
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


def _get(session: requests.Session, fake: FakeGitHub, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", REQUEST_TIMEOUT)
    return session.get(fake.base_url + path, **kwargs)


def _graphql(session: requests.Session, fake: FakeGitHub, query: str, **variables: Any) -> requests.Response:
    return session.post(
        f"{fake.base_url}/graphql", json={"query": query, "variables": variables}, timeout=REQUEST_TIMEOUT
    )


def _available(fake: FakeGitHub) -> list[int]:
    return [repo_id for repo_id in fake.ids if not fake.is_vanished(repo_id)]


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.05)


# --------------------------------------------------------------------------- listing and objects
def test_listing_pages_through_link_next_to_an_empty_page(fake_github: FakeGitHub, http: requests.Session) -> None:
    seen: list[int] = []
    url = f"{fake_github.base_url}/repositories?since=0&per_page=7"  # per_page is ignored, as on GitHub
    while True:
        response = http.get(url, timeout=REQUEST_TIMEOUT)
        assert response.status_code == 200
        page = response.json()
        assert 'rel="first"' in response.headers["Link"]
        if not page:
            assert "next" not in response.links
            break
        assert len(page) <= 100
        assert [item["id"] for item in page] == sorted(item["id"] for item in page)
        seen.extend(item["id"] for item in page)
        url = response.links["next"]["url"]
        assert url.endswith(f"since={page[-1]['id']}")
    assert seen == list(fake_github.ids)
    assert len(seen) == 300 + 150 + 7


def test_listing_items_are_minimal_and_agree_with_the_full_object(
    fake_github: FakeGitHub, http: requests.Session
) -> None:
    page = _get(http, fake_github, "/repositories").json()
    for item in page:
        assert tuple(item)[: len(LISTING_FIELDS)] == LISTING_FIELDS
        url_templates = tuple(item)[len(LISTING_FIELDS) :]
        assert len(url_templates) == 36
        assert all(field.endswith("_url") for field in url_templates)
        assert not set(FULL_ONLY_FIELDS) & set(item)
        full = fake_github.repository(item["id"])
        assert {field: full[field] for field in MINIMAL_FIELDS} == item


def test_detail_is_the_full_object_with_github_invariants(fake_github: FakeGitHub, http: requests.Session) -> None:
    for repo_id in _available(fake_github)[:40]:
        repo = _get(http, fake_github, f"/repositories/{repo_id}").json()
        assert repo == fake_github.repository(repo_id)
        assert set(FULL_ONLY_FIELDS) < set(repo)
        assert base64.b64decode(repo["node_id"]).decode() == f"010:Repository{repo_id}"
        owner_prefix = "012:Organization" if repo["owner"]["type"] == "Organization" else "04:User"
        assert base64.b64decode(repo["owner"]["node_id"]).decode() == f"{owner_prefix}{repo['owner']['id']}"
        assert repo["watchers_count"] == repo["watchers"] == repo["stargazers_count"]
        assert repo["forks"] == repo["forks_count"]
        assert repo["open_issues"] == repo["open_issues_count"]
        assert repo["private"] is False
        assert repo["visibility"] == "public"
        assert repo["custom_properties"] == {}
        assert repo["temp_clone_token"] is None
        assert repo["created_at"].endswith("Z")
        assert repo["updated_at"] >= repo["created_at"]
        assert repo["url"] == f"{fake_github.base_url}/repos/{repo['full_name']}"


def test_ids_are_sparse_and_created_at_grows_with_them(fake_github: FakeGitHub) -> None:
    ids = list(fake_github.ids)
    assert ids == sorted(set(ids))
    assert ids[0] > 0
    assert ids[-1] <= 1_100_000_000
    assert min(later - earlier for earlier, later in itertools.pairwise(ids)) > 1
    created = [fake_github.repository(repo_id)["created_at"] for repo_id in ids]
    assert created == sorted(created)
    assert created[0] >= "2008-01-01"
    assert created[-1] < "2026-11-01"


def test_fields_vary_like_real_repositories(fake_github_factory: Callable[..., FakeGitHub]) -> None:
    fake = fake_github_factory(repo_count=2000, seed=11)
    repos = [fake.repository(repo_id) for repo_id in fake.ids]
    descriptions = [repo["description"] for repo in repos]
    assert None in descriptions
    assert "" in descriptions
    assert any(text and any(ord(char) > 0x2000 for char in text) for text in descriptions)  # emoji, CJK
    assert any(text and len(text) > 1000 for text in descriptions)
    assert any(text and any(char in text for char in "\t\r\n\x1b") for text in descriptions)
    assert {None, ""} <= {repo["homepage"] for repo in repos}
    assert any(repo["pushed_at"] is None for repo in repos)
    assert {None, "NOASSERTION", "MIT"} <= {(repo["license"] or {}).get("spdx_id") for repo in repos}
    assert None in {repo["language"] for repo in repos}
    assert len({repo["language"] for repo in repos}) >= 15
    assert {len(repo["topics"]) for repo in repos} == set(range(7))
    assert all(topic == topic.lower() and " " not in topic for repo in repos for topic in repo["topics"])
    stars = sorted(repo["stargazers_count"] for repo in repos)
    assert stars[len(stars) // 2] <= 2 < 100 < stars[-1]  # heavy-tailed
    assert {True, False} == {repo["fork"] for repo in repos} == {repo["archived"] for repo in repos}


def test_same_seed_same_world_other_seed_other_world(fake_github_factory: Callable[..., FakeGitHub]) -> None:
    first, second, other = (fake_github_factory(repo_count=50, seed=seed) for seed in (5, 5, 6))
    assert list(first.ids) == list(second.ids) != list(other.ids)
    repo_id = first.ids[10]
    assert _portless(first, first.repository(repo_id)) == _portless(second, second.repository(repo_id))


def _portless(fake: FakeGitHub, repo: dict[str, Any]) -> str:
    """A repository's JSON with the fake's own base URL (which differs per port) taken out."""
    return json.dumps(repo).replace(fake.base_url, "BASE")


# --------------------------------------------------------------------------- detail statuses
def test_vanished_ids_are_listed_but_answer_404_or_451(fake_github: FakeGitHub, http: requests.Session) -> None:
    vanished = [repo_id for repo_id in fake_github.ids if fake_github.is_vanished(repo_id)]
    taken_down = [repo_id for repo_id in vanished if fake_github.is_dmca(repo_id)]
    assert vanished
    assert taken_down
    assert len(taken_down) < len(vanished)
    for repo_id in vanished:
        response = _get(http, fake_github, f"/repositories/{repo_id}")
        if repo_id in taken_down:
            assert response.status_code == 451
            assert response.json()["message"] == "Repository access blocked"
            assert response.json()["block"]["reason"] == "dmca"
        else:
            assert response.status_code == 404
            assert response.json() == {
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
                "status": "404",
            }


@pytest.mark.parametrize(
    "path",
    ["/repositories/1", "/repositories/not-a-number", "/repos/nobody/nothing-zz", "/no/such/endpoint"],
)
def test_unknown_things_answer_404_json(fake_github: FakeGitHub, http: requests.Session, path: str) -> None:
    response = _get(http, fake_github, path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["message"] == "Not Found"


def test_renamed_repository_redirects_from_its_old_name(fake_github: FakeGitHub, http: requests.Session) -> None:
    repo_id = _available(fake_github)[5]
    old_name = fake_github.repository(repo_id)["full_name"]
    fake_github.rename_repository(repo_id, "octocat/renamed-thing")

    moved = _get(http, fake_github, f"/repos/{old_name}", allow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"{fake_github.base_url}/repositories/{repo_id}"
    assert moved.json()["message"] == "Moved Permanently"
    followed = _get(http, fake_github, f"/repos/{old_name}")
    assert followed.status_code == 200
    assert followed.json()["full_name"] == "octocat/renamed-thing"
    assert _get(http, fake_github, "/repos/OctoCat/Renamed-Thing").json()["id"] == repo_id
    octocat_ids = [repo["id"] for repo in _get(http, fake_github, "/users/octocat/repos").json()]
    assert repo_id in octocat_ids


def test_changed_and_deleted_repositories(fake_github: FakeGitHub, http: requests.Session) -> None:
    grown, deleted = _available(fake_github)[:2]
    before = _get(http, fake_github, f"/repositories/{grown}")
    fake_github.set_repository(grown, stargazers_count=123_456)
    fake_github.delete_repository(deleted)

    after = _get(http, fake_github, f"/repositories/{grown}", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.json()["stargazers_count"] == after.json()["watchers_count"] == 123_456
    found = _get(http, fake_github, "/search/repositories", params={"q": "stars:>=123456 fork:true"}).json()
    assert [item["id"] for item in found["items"]] == [grown]
    assert _get(http, fake_github, f"/repositories/{deleted}").status_code == 404
    assert deleted not in fake_github.ids
    assert fake_github.verdict(deleted) == hostile_kinds.GONE
    with pytest.raises(ValueError, match="rename_repository"):
        fake_github.set_repository(grown, full_name="x/y")


def test_repositories_added_now_are_listed_after_the_others_and_served(
    fake_github: FakeGitHub, http: requests.Session
) -> None:
    end = max(fake_github.ids)
    added = fake_github.add_repositories(150)

    assert added == sorted(added) and added[0] > end
    assert list(fake_github.ids)[-150:] == added
    listed = _get(http, fake_github, "/repositories", params={"since": end}).json()
    assert [repo["id"] for repo in listed] == added[:100]
    detail = _get(http, fake_github, f"/repositories/{added[-1]}").json()
    assert detail["created_at"] == "2026-11-01T00:00:00Z"  # the fake's "now"
    node = http.post(
        f"{fake_github.base_url}/graphql",
        json={
            "query": "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Repository { databaseId } } }",
            "variables": {"ids": [detail["node_id"]]},
        },
        timeout=5,
    ).json()
    assert [n["databaseId"] for n in node["data"]["nodes"]] == [added[-1]]
    assert fake_github.verdict(added[0]) == hostile_kinds.LOAD


@pytest.mark.parametrize(
    ("headers", "charged"), [pytest.param(AUTH, False, id="token"), pytest.param({}, True, id="anonymous")]
)
def test_a_304_is_free_only_for_a_request_with_a_token(
    fake_github: FakeGitHub, headers: dict[str, str], charged: bool
) -> None:
    repo_id = _available(fake_github)[0]
    url = f"{fake_github.base_url}/repositories/{repo_id}"
    first = requests.get(url, headers=headers, timeout=REQUEST_TIMEOUT)
    assert first.headers["ETag"].startswith('W/"')
    again = requests.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]}, timeout=REQUEST_TIMEOUT)

    assert again.status_code == 304
    assert again.content == b""
    spent = int(first.headers["x-ratelimit-remaining"]) - int(again.headers["x-ratelimit-remaining"])
    assert spent == (1 if charged else 0)
    assert [request.counted for request in fake_github.requests] == [True, charged]


# --------------------------------------------------------------------------- owners
def test_org_listing_pages_with_github_links(fake_github: FakeGitHub, http: requests.Session) -> None:
    expected = sorted(
        (
            repo_id
            for repo_id in _available(fake_github)
            if fake_github.repository(repo_id)["owner"]["login"] == "apache"
        ),
        reverse=True,  # organizations list newest first by default
    )
    response = _get(http, fake_github, "/orgs/apache/repos", params={"per_page": 40})
    assert set(response.links) == {"next", "last"}
    last_page = -(-len(expected) // 40)
    assert response.links["last"]["url"].endswith(f"per_page=40&page={last_page}")
    assert "/organizations/" in response.links["next"]["url"]  # GitHub links owner listings by id
    seen = [repo["id"] for repo in response.json()]
    while "next" in response.links:
        response = http.get(response.links["next"]["url"], timeout=REQUEST_TIMEOUT)
        assert {"prev", "first"} <= set(response.links)
        seen.extend(repo["id"] for repo in response.json())
    assert seen == expected
    assert all("stargazers_count" in repo for repo in response.json())


def test_user_listing_and_owner_errors(fake_github: FakeGitHub, http: requests.Session) -> None:
    response = _get(http, fake_github, "/users/octocat/repos")
    names = [repo["full_name"] for repo in response.json()]
    assert 0 < len(names) <= 7
    assert names == sorted(names, key=str.lower)
    assert "Link" not in response.headers
    assert _get(http, fake_github, "/orgs/octocat/repos").status_code == 404  # a User, not an Organization
    assert _get(http, fake_github, "/users/nobody-at-all/repos").status_code == 404
    assert _get(http, fake_github, "/users/apache/repos").status_code == 200  # users/ works for orgs too


# --------------------------------------------------------------------------- search
def _source(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    """Search excludes forks unless asked to include them."""
    return lambda repo: not repo["fork"] and predicate(repo)


SEARCH_CASES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("created:2015-01-01..2019-12-31", _source(lambda r: "2015-01-01" <= r["created_at"][:10] <= "2019-12-31")),
    ("created:>=2022-01-01", _source(lambda r: r["created_at"][:10] >= "2022-01-01")),
    ("created:>2022-01-01", _source(lambda r: r["created_at"][:10] > "2022-01-01")),
    ("created:<2014-06-01", _source(lambda r: r["created_at"][:10] < "2014-06-01")),
    ("created:<=2014-06-01", _source(lambda r: r["created_at"][:10] <= "2014-06-01")),
    ("created:2018-01-01..*", _source(lambda r: r["created_at"][:10] >= "2018-01-01")),
    ("created:*..2018-01-01", _source(lambda r: r["created_at"][:10] <= "2018-01-01")),
    ("pushed:>2025-06-01", _source(lambda r: (r["pushed_at"] or "")[:10] > "2025-06-01")),
    ("language:python", _source(lambda r: r["language"] == "Python")),
    ("language:C++", _source(lambda r: r["language"] == "C++")),
    ("stars:>5", _source(lambda r: r["stargazers_count"] > 5)),
    ("stars:>=5", _source(lambda r: r["stargazers_count"] >= 5)),
    ("stars:2..10", _source(lambda r: 2 <= r["stargazers_count"] <= 10)),
    ("user:octocat", _source(lambda r: r["owner"]["login"] == "octocat")),
    ("org:apache stars:>0", _source(lambda r: r["owner"]["login"] == "apache" and r["stargazers_count"] > 0)),
    ("topic:python", _source(lambda r: "python" in r["topics"])),
    ("fork:true", lambda r: True),
    ("fork:only", lambda r: r["fork"]),
    ("archived:true", _source(lambda r: r["archived"])),
    ("archived:false language:go", _source(lambda r: not r["archived"] and r["language"] == "Go")),
    ("Ledger", _source(lambda r: "ledger" in f"{r['name']} {r['description'] or ''}".lower())),
]


def _search_all(session: requests.Session, fake: FakeGitHub, q: str) -> tuple[int, list[int]]:
    """Total count and every result id of a REST search, following pages of 100."""
    found: list[int] = []
    page = 1
    while True:
        body = _get(session, fake, "/search/repositories", params={"q": q, "per_page": 100, "page": page}).json()
        assert body["incomplete_results"] is False
        assert all(item["score"] == 1.0 for item in body["items"])
        found.extend(item["id"] for item in body["items"])
        if len(body["items"]) < 100:
            return body["total_count"], found
        page += 1


@pytest.mark.parametrize(("q", "predicate"), SEARCH_CASES, ids=[q for q, _ in SEARCH_CASES])
def test_search_qualifiers_match_exactly(
    fake_github: FakeGitHub, http: requests.Session, q: str, predicate: Callable[[dict[str, Any]], bool]
) -> None:
    expected = sorted(repo_id for repo_id in _available(fake_github) if predicate(fake_github.repository(repo_id)))
    assert expected, f"{q!r} matches nothing in this world; the case would prove nothing"
    total, found = _search_all(http, fake_github, q)
    assert total == len(expected)
    assert found == expected  # best match is ascending id


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_search_sorts_by_stars(fake_github: FakeGitHub, http: requests.Session, order: str) -> None:
    params = {"q": "stars:>=0", "sort": "stars", "order": order, "per_page": 100}
    items = _get(http, fake_github, "/search/repositories", params=params).json()["items"]
    keys = [(item["stargazers_count"], item["id"]) for item in items]
    if order == "desc":
        assert keys == sorted(keys, key=lambda key: (-key[0], key[1]))
    else:
        assert keys == sorted(keys)


def test_search_serves_only_the_first_1000_results(
    fake_github_factory: Callable[..., FakeGitHub], http: requests.Session
) -> None:
    fake = fake_github_factory(repo_count=1500, seed=3)
    first = _get(http, fake, "/search/repositories", params={"q": "stars:>=0", "per_page": 100})
    assert first.json()["total_count"] > 1000
    assert first.links["last"]["url"].endswith("page=10")
    tenth = _get(http, fake, "/search/repositories", params={"q": "stars:>=0", "per_page": 100, "page": 10})
    assert tenth.status_code == 200
    assert len(tenth.json()["items"]) == 100
    beyond = _get(http, fake, "/search/repositories", params={"q": "stars:>=0", "per_page": 100, "page": 11})
    assert beyond.status_code == 422
    assert beyond.json()["message"] == "Only the first 1000 search results are available"


@pytest.mark.parametrize("q", ["", "   ", "stars:many", "created:2020-13-01", "user:nobody-at-all", "org:octocat"])
def test_invalid_searches_fail_validation(fake_github: FakeGitHub, http: requests.Session, q: str) -> None:
    response = _get(http, fake_github, "/search/repositories", params={"q": q})
    assert response.status_code == 422
    assert response.json()["message"] == "Validation Failed"
    assert response.json()["errors"][0]["field"] == "q"


def test_search_budget_is_its_own_per_minute_resource(
    fake_github_factory: Callable[..., FakeGitHub], http: requests.Session
) -> None:
    fake = fake_github_factory(repo_count=50, search_rate_limit=2)
    remaining = [
        _get(http, fake, "/search/repositories", params={"q": "stars:>0"}).headers["x-ratelimit-remaining"]
        for _ in range(2)
    ]
    refused = _get(http, fake, "/search/repositories", params={"q": "stars:>0"})
    assert remaining == ["1", "0"]
    assert refused.status_code == 403
    assert "API rate limit exceeded" in refused.json()["message"]
    assert refused.headers["x-ratelimit-resource"] == "search"
    assert 55 <= int(refused.headers["x-ratelimit-reset"]) - time.time() <= 61
    assert _get(http, fake, "/repositories").status_code == 200  # core is untouched


# --------------------------------------------------------------------------- GraphQL
NODES_QUERY = """
query($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Repository { databaseId nameWithOwner stargazerCount } }
  rateLimit { cost remaining resetAt limit used }
}
"""


def _rest_row(repo: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": repo["id"],
        "node_id": repo["node_id"],
        "full_name": repo["full_name"],
        "name": repo["name"],
        "owner_login": repo["owner"]["login"],
        "owner_id": repo["owner"]["id"],
        "owner_type": repo["owner"]["type"],
        "description": repo["description"],
        "homepage": repo["homepage"],
        "html_url": repo["html_url"],
        "language": repo["language"],
        "license_spdx_id": (repo["license"] or {}).get("spdx_id"),
        "topics": repo["topics"],
        "stargazers_count": repo["stargazers_count"],
        "forks_count": repo["forks_count"],
        "open_issues_count": repo["open_issues_count"],
        "watchers_count": repo["watchers_count"],
        "size": repo["size"],
        "default_branch": repo["default_branch"],
        "fork": repo["fork"],
        "archived": repo["archived"],
        "disabled": repo["disabled"],
        "is_template": repo["is_template"],
        "visibility": repo["visibility"],
        "created_at": repo["created_at"],
        "updated_at": repo["updated_at"],
        "pushed_at": repo["pushed_at"],
    }


def _graphql_row(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node["databaseId"],
        "node_id": node["id"],
        "full_name": node["nameWithOwner"],
        "name": node["name"],
        "owner_login": node["owner"]["login"],
        "owner_id": node["owner"]["databaseId"],
        "owner_type": node["owner"]["__typename"],
        "description": node["description"],
        "homepage": node["homepageUrl"],
        "html_url": node["url"],
        "language": (node["primaryLanguage"] or {}).get("name"),
        "license_spdx_id": (node["licenseInfo"] or {}).get("spdxId"),
        # The same topics; GraphQL's in another order than REST's sorted ones.
        "topics": sorted(topic["topic"]["name"] for topic in node["repositoryTopics"]["nodes"]),
        "stargazers_count": node["stargazerCount"],
        "forks_count": node["forkCount"],
        "open_issues_count": node["issues"]["totalCount"],
        "watchers_count": node["stargazerCount"],
        "size": node["diskUsage"],
        "default_branch": node["defaultBranchRef"]["name"],
        "fork": node["isFork"],
        "archived": node["isArchived"],
        "disabled": node["isDisabled"],
        "is_template": node["isTemplate"],
        "visibility": node["visibility"].lower(),
        "created_at": node["createdAt"],
        "updated_at": node["updatedAt"],
        "pushed_at": node["pushedAt"],
    }


def test_graphql_nodes_map_to_the_same_rows_as_rest(fake_github: FakeGitHub, http: requests.Session) -> None:
    available = _available(fake_github)[:3]
    vanished = next(repo_id for repo_id in fake_github.ids if fake_github.is_vanished(repo_id))
    node_ids = [fake_github.repository(repo_id)["node_id"] for repo_id in [*available, vanished]] + ["garbage"]

    response = _graphql(http, fake_github, NODES_QUERY, ids=node_ids)
    assert response.status_code == 200
    body = response.json()
    nodes = body["data"]["nodes"]
    assert nodes[3] is None
    assert nodes[4] is None
    assert [(error["type"], error["path"]) for error in body["errors"]] == [
        ("NOT_FOUND", ["nodes", 3]),
        ("NOT_FOUND", ["nodes", 4]),
    ]
    assert body["errors"][1]["message"] == "Could not resolve to a node with the global id of 'garbage'"
    for repo_id, node in zip(available, nodes, strict=False):
        rest_row = _rest_row(fake_github.repository(repo_id))
        assert set(rest_row) == set(REPOSITORY_COLUMNS)
        assert _graphql_row(node) == rest_row
        assert node["watchers"]["totalCount"] == fake_github.repository(repo_id)["subscribers_count"]
    assert body["data"]["rateLimit"]["cost"] == 1
    assert body["data"]["rateLimit"]["remaining"] == 4999
    assert response.headers["x-ratelimit-resource"] == "graphql"


@pytest.mark.parametrize(
    ("headers", "query", "variables", "status", "check"),
    [
        ({}, NODES_QUERY, {"ids": []}, 401, lambda body: "authenticated" in body["message"]),
        (
            AUTH,
            NODES_QUERY,
            {"ids": ["MDEwOlJlcG9zaXRvcnkx"] * 101},
            200,
            lambda body: body["data"] is None and body["errors"][0]["type"] == "ARGUMENT_LIMIT",
        ),
        (AUTH, "{ viewer { login } }", {}, 200, lambda body: body["data"] is None and body["errors"]),
    ],
    ids=["no-token", "too-many-ids", "unsupported-field"],
)
def test_graphql_request_errors(
    fake_github: FakeGitHub,
    headers: dict[str, str],
    query: str,
    variables: dict[str, Any],
    status: int,
    check: Callable[[dict[str, Any]], bool],
) -> None:
    response = requests.post(
        f"{fake_github.base_url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=REQUEST_TIMEOUT,
    )
    assert response.status_code == status
    assert check(response.json())


def test_graphql_search_pages_with_cursors(fake_github: FakeGitHub, http: requests.Session) -> None:
    query = (
        "query($q: String!, $after: String) { search(query: $q, type: REPOSITORY, first: 50, after: $after) "
        "{ repositoryCount pageInfo { hasNextPage endCursor } nodes { ... on Repository { databaseId } } } }"
    )
    total, rest_ids = _search_all(http, fake_github, "org:apache")
    assert total > 100  # several GraphQL pages
    found: list[int] = []
    after = None
    while True:
        search = _graphql(http, fake_github, query, q="org:apache", after=after).json()["data"]["search"]
        assert search["repositoryCount"] == total
        found.extend(node["databaseId"] for node in search["nodes"])
        if not search["pageInfo"]["hasNextPage"]:
            break
        after = search["pageInfo"]["endCursor"]
    assert found == rest_ids


# --------------------------------------------------------------------------- budgets and headers
def test_every_response_carries_github_headers_and_counts_down(fake_github: FakeGitHub) -> None:
    anonymous = [requests.get(f"{fake_github.base_url}/repositories", timeout=REQUEST_TIMEOUT) for _ in range(3)]
    for response in anonymous:
        for header in RATE_LIMIT_HEADERS:
            assert header in response.headers
        assert response.headers["x-github-api-version-selected"] == "2022-11-28"
        assert response.headers["x-github-request-id"]
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert [response.headers["x-ratelimit-limit"] for response in anonymous] == ["60"] * 3
    assert [response.headers["x-ratelimit-remaining"] for response in anonymous] == ["59", "58", "57"]
    assert int(anonymous[0].headers["x-ratelimit-reset"]) - time.time() > 3500

    rate = requests.get(f"{fake_github.base_url}/rate_limit", timeout=REQUEST_TIMEOUT).json()
    assert rate["rate"] == rate["resources"]["core"]
    assert rate["rate"]["remaining"] == 57
    assert {"core", "search", "graphql"} <= set(rate["resources"])
    with_token = requests.get(f"{fake_github.base_url}/repositories", headers=AUTH, timeout=REQUEST_TIMEOUT)
    assert with_token.headers["x-ratelimit-limit"] == "5000"


def test_spending_the_core_budget_gives_403_with_remaining_zero(
    fake_github_factory: Callable[..., FakeGitHub],
) -> None:
    fake = fake_github_factory(repo_count=20, rate_limit=2)
    other_token = {"Authorization": "token another-made-up-token"}
    statuses = [requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=5).status_code for _ in range(3)]
    assert statuses == [200, 200, 403]
    refused = requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=5)
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json()["documentation_url"].endswith("#rate-limiting")
    assert "API rate limit exceeded for user ID" in refused.json()["message"]
    assert requests.get(f"{fake.base_url}/repositories", headers=other_token, timeout=5).status_code == 200


@pytest.mark.parametrize("status", [403, 429])
def test_exhausted_budget_refills_after_reset(fake_github: FakeGitHub, http: requests.Session, status: int) -> None:
    fake_github.faults.rate_limited_status = status
    # Long enough for the next request to arrive within it on a busy machine, short enough to wait out.
    fake_github.faults.exhaust("core", reset_in_s=3)
    refused = _get(http, fake_github, "/repositories")
    assert refused.status_code == status
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.headers["x-ratelimit-reset"]) - time.time() <= 4
    _wait_until(lambda: _get(http, fake_github, "/repositories").status_code == 200)
    assert _get(http, fake_github, "/repositories").headers["x-ratelimit-remaining"] == "4998"
    assert fake_github.count(status=status) >= 1
    assert not any(request.counted for request in fake_github.requests if request.status == status)


def test_exhausted_graphql_budget_reports_rate_limited_in_a_200(
    fake_github: FakeGitHub, http: requests.Session
) -> None:
    fake_github.faults.exhaust("graphql", reset_in_s=60)
    response = _graphql(http, fake_github, NODES_QUERY, ids=[])
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-resource"] == "graphql"
    assert _get(http, fake_github, "/repositories").status_code == 200  # other resources keep their budget


# --------------------------------------------------------------------------- faults
def test_next_errors_fail_in_order_and_are_logged_uncounted(fake_github: FakeGitHub, http: requests.Session) -> None:
    fake_github.faults.next_errors = [502, 503, 500]
    statuses = [_get(http, fake_github, "/repositories").status_code for _ in range(4)]
    assert statuses == [502, 503, 500, 200]
    assert [request.counted for request in fake_github.requests] == [False, False, False, True]
    assert fake_github.count(path_prefix="/repositories", status=502) == 1


def test_random_errors_are_a_seeded_sequence(fake_github_factory: Callable[..., FakeGitHub]) -> None:
    def statuses(fake: FakeGitHub) -> list[int]:
        fake.faults.error_rate = 0.4
        return [requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=5).status_code for _ in range(15)]

    first, second = (statuses(fake_github_factory(repo_count=10, seed=9)) for _ in range(2))
    assert first == second
    assert {200} < set(first) <= {200, 500, 502, 503}


@pytest.mark.parametrize(
    ("settings", "status", "message_part", "retry_after"),
    [
        ({"secondary_limit_next": 1, "retry_after_s": 0}, 403, "secondary rate limit", "0"),
        ({"secondary_limit_next": 1, "retry_after_s": None}, 403, "secondary rate limit", None),
        ({"secondary_limit_next": 1, "retry_after_s": 2, "secondary_status": 429}, 429, "secondary rate limit", "2"),
        ({"forbidden_next": 1}, 403, "Resource not accessible by personal access token", None),
    ],
    ids=["secondary-retry-after-0", "secondary-without-retry-after", "secondary-429", "permission"],
)
def test_403_kinds_are_told_apart_by_headers_and_message(
    fake_github: FakeGitHub,
    http: requests.Session,
    settings: dict[str, Any],
    status: int,
    message_part: str,
    retry_after: str | None,
) -> None:
    fake_github.faults.update(settings)
    response = _get(http, fake_github, "/repositories")
    assert response.status_code == status
    assert message_part in response.json()["message"]
    assert response.headers.get("Retry-After") == retry_after
    assert int(response.headers["x-ratelimit-remaining"]) > 0  # not a primary rate limit
    assert _get(http, fake_github, "/repositories").status_code == 200


def test_bad_credentials(fake_github_factory: Callable[..., FakeGitHub]) -> None:
    fake = fake_github_factory(repo_count=10, tokens={"the-only-valid-token"})
    url = f"{fake.base_url}/repositories"
    assert requests.get(url, headers={"Authorization": "Bearer the-only-valid-token"}, timeout=5).status_code == 200
    rejected = requests.get(url, headers={"Authorization": "token not-that-one"}, timeout=5)
    assert rejected.status_code == 401
    assert rejected.json()["message"] == "Bad credentials"
    assert requests.get(url, timeout=5).status_code == 200  # anonymous is not bad credentials
    fake.faults.bad_credentials = True
    assert requests.get(url, headers={"Authorization": "Bearer the-only-valid-token"}, timeout=5).status_code == 401


def test_truncated_body_breaks_the_read_then_service_resumes(fake_github: FakeGitHub, http: requests.Session) -> None:
    fake_github.faults.truncate_next = 1
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _get(http, fake_github, "/repositories")
    assert len(_get(http, fake_github, "/repositories").json()) == 100


def test_slow_reply_times_out_the_client_and_stop_does_not_hang(
    fake_github_factory: Callable[..., FakeGitHub], http: requests.Session
) -> None:
    fake = fake_github_factory(repo_count=10)
    fake.faults.update({"slow_next": 2, "slow_seconds": 30})
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(http, fake, "/repositories", timeout=0.3)
    outcome: list[BaseException] = []
    waiting = threading.Thread(target=lambda: _capture(outcome, lambda: requests.get(f"{fake.base_url}/repositories")))
    waiting.start()
    _wait_until(lambda: fake.faults.slow_next == 0)
    started = time.monotonic()
    fake.stop()
    waiting.join(timeout=10)
    assert time.monotonic() - started < 5
    assert not waiting.is_alive()
    assert outcome
    assert isinstance(outcome[0], requests.exceptions.ConnectionError)


def _capture(outcome: list[BaseException], call: Callable[[], object]) -> None:
    try:
        call()
    except requests.RequestException as error:
        outcome.append(error)


def test_latency_delays_each_request_without_serialising_them(
    fake_github_factory: Callable[..., FakeGitHub],
) -> None:
    fake = fake_github_factory(repo_count=10, latency_ms=300)
    durations: list[float] = []

    def timed_get() -> None:
        started = time.monotonic()
        requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=5)
        durations.append(time.monotonic() - started)

    threads = [threading.Thread(target=timed_get) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 4
    assert min(durations) >= 0.3
    assert time.monotonic() - started < 1.0  # four 300 ms waits overlapped


def test_a_rendezvous_holds_requests_until_enough_wait_then_sets_its_faults(
    fake_github_factory: Callable[..., FakeGitHub],
) -> None:
    fake = fake_github_factory(repo_count=10)
    fake.faults.update(
        {"rendezvous": {"parties": 2, "after": 1, "resource": "core", "then": {"secondary_limit_next": 1}}}
    )
    first = requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=5)
    held: list[int] = []
    waiting = threading.Thread(
        target=lambda: held.append(requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=30).status_code)
    )
    waiting.start()
    _wait_until(lambda: fake.faults.waiting_at_rendezvous() == 1)
    assert held == [] and not fake.faults.rendezvous_met
    last = requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=30)
    waiting.join(timeout=30)

    assert first.status_code == 200
    assert sorted([*held, last.status_code]) == [200, 403]
    assert fake.faults.rendezvous_met and fake.faults.rendezvous is None
    second, third = fake.requests[1:3]
    # The held request was answered only once the third had arrived.
    assert min(second.at, third.at) >= max(second.received_at, third.received_at)
    assert [r.fault for r in fake.requests].count("secondary_limit") == 1


def test_faults_are_controllable_over_http(fake_github: FakeGitHub, http: requests.Session) -> None:
    control = http.post(
        f"{fake_github.base_url}/_fake/faults",
        json={"next_errors": [503], "secondary_limit_next": 1, "retry_after_s": 0},
        timeout=REQUEST_TIMEOUT,
    )
    assert control.status_code == 200
    assert control.json()["next_errors"] == [503]
    assert [_get(http, fake_github, "/repositories").status_code for _ in range(3)] == [503, 403, 200]
    stats = _get(http, fake_github, "/_fake/stats").json()
    assert stats["requests"] == 3
    assert stats["counted"] == 1
    assert stats["by_status"] == {"200": 1, "403": 1, "503": 1}
    assert fake_github.count() == 3  # control calls are neither logged nor counted
    bad = http.post(f"{fake_github.base_url}/_fake/faults", json={"no_such_fault": 1}, timeout=REQUEST_TIMEOUT)
    assert bad.status_code == 400
    fake_github.faults.update({"next_errors": [500]})
    fake_github.faults.clear()
    assert _get(http, fake_github, "/repositories").status_code == 200


def test_log_keeps_token_fingerprints_never_tokens(fake_github: FakeGitHub, http: requests.Session) -> None:
    _get(http, fake_github, "/repositories", params={"since": 5})
    requests.get(f"{fake_github.base_url}/repositories", timeout=REQUEST_TIMEOUT)
    with_token, anonymous = fake_github.requests
    assert with_token.token_fingerprint == FakeGitHub.fingerprint(TOKEN) != TOKEN
    assert anonymous.token_fingerprint is None
    assert with_token.query == {"since": "5"}
    assert with_token.resource == "core"
    assert with_token.status == 200
    assert TOKEN not in repr(fake_github.requests)
    fake_github.reset_log()
    assert fake_github.count() == 0


# --------------------------------------------------------------------------- hostile data
HOSTILE_CHECKS: dict[str, Callable[[dict[str, Any], bytes], bool]] = {
    hostile_kinds.NUL_BYTES: lambda repo, raw: "\x00" in repo["description"] and b"\\u0000" in raw,
    hostile_kinds.LONE_SURROGATE: lambda repo, raw: b"\\ud800" in raw and "\ud800" in repo["description"],
    hostile_kinds.HUGE_DESCRIPTION: lambda repo, raw: len(repo["description"]) >= 300_000,
    hostile_kinds.UNKNOWN_NESTED: lambda repo, raw: "x_future_feature" in repo and "x_badges" in repo["owner"],
    hostile_kinds.HUGE_ID: lambda repo, raw: repo["id"] > 2**32,
    hostile_kinds.WRONG_TYPE: lambda repo, raw: repo["stargazers_count"] == "many",
    hostile_kinds.OWNER_NULL: lambda repo, raw: repo["owner"] is None,
    hostile_kinds.MISSING_FULL_NAME: lambda repo, raw: "full_name" not in repo,
}


def test_hostile_mode_serves_each_kind_of_damage(fake_github: FakeGitHub, http: requests.Session) -> None:
    hostile_ids = fake_github.hostile_ids()
    huge_id = hostile_ids[-1]
    assert fake_github.verdict(huge_id) == hostile_kinds.ABSENT  # hidden until hostile mode
    fake_github.faults.hostile = True

    assert {fake_github.hostile_kind(repo_id) for repo_id in hostile_ids} == set(HOSTILE_CHECKS)
    assert fake_github.ids[-1] == huge_id
    for repo_id in hostile_ids:
        kind = fake_github.hostile_kind(repo_id)
        response = _get(http, fake_github, f"/repositories/{repo_id}")
        assert response.status_code == 200
        assert HOSTILE_CHECKS[kind](json.loads(response.content), response.content), kind
        expected = hostile_kinds.QUARANTINE if kind in hostile_kinds.QUARANTINE_KINDS else hostile_kinds.LOAD
        assert fake_github.verdict(repo_id) == expected
    listed = [item["id"] for item in _get(http, fake_github, f"/repositories?since={huge_id - 1}").json()]
    assert listed == [huge_id]
    page = _get(http, fake_github, "/orgs/apache/repos", params={"per_page": 5}).json()
    assert len(page) == 6
    assert page[-1] == page[0]

    wrong_type = next(i for i in hostile_ids if fake_github.hostile_kind(i) == hostile_kinds.WRONG_TYPE)
    node_id = fake_github.repository(wrong_type)["node_id"]
    node = _graphql(http, fake_github, NODES_QUERY, ids=[node_id]).json()["data"]["nodes"][0]
    assert node["stargazerCount"] == "many"

    fake_github.faults.hostile = False
    assert all(fake_github.verdict(repo_id) == hostile_kinds.LOAD for repo_id in hostile_ids[:-1])


def test_sanitise_text_is_what_a_correct_client_stores() -> None:
    assert sanitise_text("a\x00b \ud800c\udfff") == "ab \ufffdc\ufffd"
    assert sanitise_text(None) is None


# --------------------------------------------------------------------------- standalone and scale
@contextlib.contextmanager
def _standalone(*args: str) -> Iterator[str]:
    """``python -m tests.fake_github *args``: the URL it prints; it must exit cleanly when terminated."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_github", *args], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the fake printed no URL within 30 s"
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_standalone_process_prints_its_url_and_serves() -> None:
    with _standalone("--port", "0", "--repos", "40", "--seed", "3") as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        listed = requests.get(f"{base_url}/repositories", timeout=REQUEST_TIMEOUT).json()
        assert [item["id"] for item in listed] == list(FakeGitHub(repo_count=40, seed=3).ids)


def test_standalone_process_knows_the_apps_it_is_given(tmp_path: Path, app_key: tuple[str, str]) -> None:
    from tests.fake_github.apps import client_id_of

    # The App's key as GitHub hands it out (the private key's .pem): the fake takes its public half.
    (tmp_path / "app.pem").write_text(app_key[0])
    apps = ["--apps", f"{APP_ID}={tmp_path / 'app.pem'}", "--installations", f"9={APP_ID}"]
    with _standalone("--repos", "5", *apps) as base_url:
        minted = requests.post(
            f"{base_url}/app/installations/9/access_tokens",
            headers={"Authorization": f"Bearer {_jwt(app_key[0], iss=client_id_of(APP_ID))}"},
            timeout=REQUEST_TIMEOUT,
        )
        assert minted.status_code == 201, minted.text


def test_a_million_repositories_list_and_search_across_the_whole_id_space(
    fake_github_factory: Callable[..., FakeGitHub], http: requests.Session
) -> None:
    # How fast the fake starts and pages shows in the benchmarks that use it, not as a timed assertion here.
    fake = fake_github_factory(repo_count=1_000_000, seed=1)
    assert len(fake.ids) == 1_000_000

    for since in range(100_000_000, 1_100_000_000, 100_000_000):
        page = _get(http, fake, "/repositories", params={"since": since}).json()
        assert len(page) == 100
        assert page[0]["id"] > since

    window = _get(http, fake, "/search/repositories", params={"q": "created:2024-01-01..2024-01-03 stars:>1"})
    assert window.status_code == 200
    assert window.json()["total_count"] > 0


# -- GitHub App installations ------------------------------------------------------------------------------------

APP_ID = 77


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    from tests.fake_github.apps import generate_app_key

    return generate_app_key()


def _jwt(private_key: str, *, iat_offset: int = -60, lifetime: int = 540, iss: object = APP_ID) -> str:
    import jwt

    now = int(time.time())
    return jwt.encode(
        {"iat": now + iat_offset, "exp": now + iat_offset + lifetime, "iss": str(iss)}, private_key, "RS256"
    )


def _exchange(fake: FakeGitHub, installation: int, bearer: str) -> requests.Response:
    return requests.post(
        f"{fake.base_url}/app/installations/{installation}/access_tokens",
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=REQUEST_TIMEOUT,
    )


def test_app_token_exchange_mints_a_token_that_expires(
    fake_github_factory: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    clock = [1_800_000_000.0]
    fake = fake_github_factory(repo_count=5, apps={APP_ID: app_key[1]}, installations={9: APP_ID})
    fake.apps._clock = lambda: clock[0]

    minted = _exchange(fake, 9, _jwt(app_key[0]))
    body = minted.json()
    token = {"Authorization": f"Bearer {body['token']}"}

    assert minted.status_code == 201 and body["token"].startswith("ghs_")
    assert body["expires_at"] == "2027-01-15T09:00:00Z"  # an hour after the fake's clock
    assert requests.get(f"{fake.base_url}/rate_limit", headers=token, timeout=REQUEST_TIMEOUT).status_code == 200
    clock[0] += 3600
    expired = requests.get(f"{fake.base_url}/repositories", headers=token, timeout=REQUEST_TIMEOUT)
    assert (expired.status_code, expired.json()["message"]) == (401, "Bad credentials")
    assert fake.requests[-1].fault == "expired_token"


@pytest.mark.parametrize(
    ("jwt_kwargs", "installation", "status", "message"),
    [
        ({"lifetime": 660}, 9, 401, "too far in the future"),
        ({"iat_offset": -1200}, 9, 401, "'Expiration time' claim ('exp') must be"),
        ({"iss": 78}, 9, 401, "could not be decoded"),
        ({"iss": "Iv23li0000000000004e"}, 9, 401, "could not be decoded"),
        ({"iat_offset": 30}, 9, 401, "'Issued at' claim ('iat') must be"),
        ({}, 10, 404, "Not Found"),
        ({}, 11, 403, "This installation has been suspended"),
    ],
)
def test_app_token_exchange_refuses_what_github_refuses(
    fake_github_factory: Callable[..., FakeGitHub], app_key: tuple[str, str], jwt_kwargs, installation, status, message
) -> None:
    fake = fake_github_factory(repo_count=5, apps={APP_ID: app_key[1]}, installations={9: APP_ID, 10: 5, 11: APP_ID})
    fake.apps.suspend(11)

    refused = _exchange(fake, installation, _jwt(app_key[0], **jwt_kwargs))

    assert refused.status_code == status and message in refused.json()["message"]
    assert fake.apps.issued_tokens() == []


def test_app_token_exchange_takes_the_client_id_as_issuer(
    fake_github_factory: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    from tests.fake_github.apps import client_id_of

    fake = fake_github_factory(repo_count=5, apps={APP_ID: app_key[1]}, installations={9: APP_ID})

    minted = _exchange(fake, 9, _jwt(app_key[0], iss=client_id_of(APP_ID)))

    assert client_id_of(APP_ID).startswith("Iv23li") and len(client_id_of(APP_ID)) == 20
    assert minted.status_code == 201 and minted.json()["token"].startswith("ghs_")


def test_an_app_lists_its_installations_as_github_does(
    fake_github_factory: Callable[..., FakeGitHub], app_key: tuple[str, str]
) -> None:
    fake = fake_github_factory(
        repo_count=5,
        apps={APP_ID: app_key[1]},
        installations={9: APP_ID, 10: 5, 11: APP_ID},
        installation_accounts={9: ("acme", "Organization"), 11: ("octocat", "User")},
    )
    fake.apps.suspend(11)

    def listed(**params: int) -> requests.Response:
        return requests.get(
            f"{fake.base_url}/app/installations",
            params=params,
            headers={"Authorization": f"Bearer {_jwt(app_key[0])}"},
            timeout=REQUEST_TIMEOUT,
        )

    everything = listed().json()
    first = listed(per_page=1)

    assert [(i["id"], i["account"]["login"], i["target_type"]) for i in everything] == [
        (9, "acme", "Organization"),
        (11, "octocat", "User"),
    ]
    assert [i["suspended_at"] is not None for i in everything] == [False, True]
    assert [i["id"] for i in first.json()] == [9] and 'rel="next"' in first.headers["Link"]
    from tests.fake_github.apps import generate_app_key

    stranger, _ = generate_app_key()
    refused = requests.get(
        f"{fake.base_url}/app/installations",
        headers={"Authorization": f"Bearer {_jwt(stranger)}"},
        timeout=REQUEST_TIMEOUT,
    )
    assert refused.status_code == 401


def test_a_jwt_opens_no_api_endpoint(fake_github_factory: Callable[..., FakeGitHub], app_key: tuple[str, str]) -> None:
    fake = fake_github_factory(repo_count=5, apps={APP_ID: app_key[1]}, installations={9: APP_ID})

    answer = requests.get(
        f"{fake.base_url}/repositories",
        headers={"Authorization": f"Bearer {_jwt(app_key[0])}"},
        timeout=REQUEST_TIMEOUT,
    )

    assert answer.status_code == 401


def test_stats_show_the_least_each_budget_had_left(fake_github_factory: Callable[..., FakeGitHub]) -> None:
    fake = fake_github_factory(repo_count=5, rate_limit=10)
    for _ in range(4):
        requests.get(f"{fake.base_url}/repositories", headers=AUTH, timeout=REQUEST_TIMEOUT)

    assert fake.stats()["lowest_remaining"][FakeGitHub.fingerprint(TOKEN)] == {"core": 6}


def test_an_enterprise_server_serves_its_api_under_api_v3_and_graphql_beside_it(
    fake_github_factory: Callable[..., FakeGitHub], http: requests.Session
) -> None:
    fake = fake_github_factory(repo_count=150, enterprise_version="3.9.0")
    origin = fake.base_url.removesuffix("/api/v3")
    assert fake.base_url.endswith("/api/v3")
    listing = _get(http, fake, "/repositories")
    assert listing.status_code == 200
    assert listing.headers["X-GitHub-Enterprise-Version"] == "3.9.0"
    assert listing.json()[0]["url"].startswith(fake.base_url + "/repos/")
    assert listing.links["next"]["url"].startswith(fake.base_url + "/repositories?since=")
    node_id = listing.json()[0]["node_id"]
    query = {"query": "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", "variables": {"ids": [node_id]}}
    graphql = http.post(origin + "/api/graphql", json=query, timeout=REQUEST_TIMEOUT)
    assert graphql.json()["data"]["nodes"][0]["id"] == node_id
    # The appliance's web interface answers every other path, in HTML.
    web = http.get(origin + "/repositories", timeout=REQUEST_TIMEOUT)
    assert web.status_code == 404 and web.headers["Content-Type"].startswith("text/html")


def test_an_enterprise_server_without_rate_limiting(
    fake_github_factory: Callable[..., FakeGitHub], http: requests.Session
) -> None:
    fake = fake_github_factory(repo_count=150, rate_limit=2, enterprise_version="3.14.0", rate_limiting=False)
    rate_limit = _get(http, fake, "/rate_limit")
    assert rate_limit.status_code == 404
    assert rate_limit.json()["message"] == "Rate limiting is not enabled."
    for _ in range(3):
        answer = _get(http, fake, "/repositories")
        assert answer.status_code == 200
        assert not [name for name in answer.headers if name.lower().startswith("x-ratelimit-")]


def test_an_older_enterprise_graphql_refuses_a_field_it_lacks(
    fake_github_factory: Callable[..., FakeGitHub], http: requests.Session
) -> None:
    fake = fake_github_factory(repo_count=150, enterprise_version="3.4.0", graphql_missing_fields=["isTemplate"])
    origin = fake.base_url.removesuffix("/api/v3")
    query = {"query": 'query { nodes(ids: ["x"]) { ... on Repository { isTemplate } } }'}
    answer = http.post(origin + "/api/graphql", json=query, timeout=REQUEST_TIMEOUT)
    assert answer.status_code == 200
    body = answer.json()
    assert "data" not in body
    assert body["errors"][0]["message"] == "Field 'isTemplate' doesn't exist on type 'Repository'"
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"


def test_a_repository_field_the_fake_does_not_serve_is_refused_naming_it_not_left_out(
    fake_github: FakeGitHub, http: requests.Session
) -> None:
    """GitHub answers every field a query selects: a node without one would load its column as null or false."""
    node_id = fake_github.repository(_available(fake_github)[0])["node_id"]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Repository { databaseId a: mirrorUrl owner { login } } } }"

    body = _graphql(http, fake_github, query, ids=[node_id]).json()

    assert "data" not in body
    assert [error["extensions"] for error in body["errors"]] == [
        {"code": "undefinedField", "typeName": "Repository", "fieldName": "mirrorUrl"}
    ]
    assert "add it to tests.fake_github.objects.graphql_repository" in body["errors"][0]["message"]


def test_the_fake_serves_https_with_a_certificate_of_the_tests_own_ca(tmp_path: Path) -> None:
    from tests.fixtures.tls import make_certificates

    certificates = make_certificates(tmp_path)
    fake = FakeGitHub(repo_count=10)
    fake.start(ssl_context=certificates.server_context())
    try:
        assert fake.base_url.startswith("https://127.0.0.1:")
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(fake.base_url + "/rate_limit", timeout=REQUEST_TIMEOUT)
        trusted = requests.get(fake.base_url + "/rate_limit", timeout=REQUEST_TIMEOUT, verify=str(certificates.ca_file))
        assert trusted.status_code == 200
    finally:
        fake.stop()
