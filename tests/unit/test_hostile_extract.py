"""A hostile or broken GitHub (or proxy) answering listings: a clear error, never a hang, a leak or a traceback."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from github_etl.errors import GitHubError, LinkOutsideRootError
from github_etl.extract.census import CensusShard
from github_etl.extract.enrich import enrich_graphql, enrich_rest
from github_etl.extract.owners import OwnersShard
from github_etl.extract.plan import run_shard
from github_etl.extract.sample import SampleShard, discover_max_id
from github_etl.extract.shards import batch_uris
from github_etl.github.client import GitHubClient
from github_etl.staging import RunStaging, read_json_uri
from github_etl.transform import transform_records
from tests.scripted_http import ScriptedServer
from tests.unit.test_extract import FAST as EXTRACT_TEST_SETTINGS

TOKEN = "ghp_hostile_extract_token_0001"
# The extract tests' quick settings, with one retry: a page these tests send is as broken the second time.
FAST = replace(EXTRACT_TEST_SETTINGS, max_retries=1)
# More requests than any of these tests needs: a client still asking past it is looping.
REQUEST_CAP = 60


class Looping(Exception):
    """Raised by a mocked endpoint asked more than REQUEST_CAP times."""


def _client(server: ScriptedServer) -> GitHubClient:
    return GitHubClient(server.base_url, [TOKEN], settings=FAST)


def _organizations(tmp_path: Path, *logins: str) -> OwnersShard:
    """An owners shard of organizations listed by login, as a plan stages it."""
    owners = [{"login": login, "organization": True, "id": None} for login in logins]
    return OwnersShard.stage(RunStaging("d", "r", root=tmp_path.as_uri()), "owners-000", owners)


def _repo(repo_id: int, owner: str = "acme") -> dict[str, Any]:
    return {
        "id": repo_id,
        "node_id": f"R_{repo_id}",
        "name": f"r{repo_id}",
        "full_name": f"{owner}/r{repo_id}",
        "private": False,
        "visibility": "public",
        "owner": {"login": owner, "id": 7, "type": "Organization"},
        "created_at": "2020-01-01T00:00:00Z",
    }


def _capped(reply: Any) -> Any:
    calls = {"n": 0}

    def callback(request: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > REQUEST_CAP:
            raise Looping(f"{request.url} asked {calls['n']} times")
        return reply(request)

    return callback


def test_a_next_link_to_another_host_is_refused_and_gets_no_token(tmp_path, scripted_github, other_host) -> None:
    scripted_github.get(
        "/orgs/acme/repos",
        json=[_repo(1)],
        headers={"Link": f'<{other_host.base_url}/orgs/acme/repos?page=2>; rel="next"'},
    )
    stolen = other_host.get("/orgs/acme/repos", json=[_repo(2)])
    shard = _organizations(tmp_path, "acme")

    with pytest.raises(GitHubError, match="not on the GitHub API's host"):
        run_shard(_client(scripted_github), RunStaging("d", "r", root=tmp_path.as_uri()), shard)

    assert stolen.call_count == 0, f"sent to another host: {[c.headers for c in stolen.calls]}"


def test_a_next_link_outside_the_roots_path_prefix_fails_the_shard_not_reads_as_the_owner_gone(
    tmp_path, scripted_github
) -> None:
    # A GHES behind a proxy that serves it under /ghe writes its links without the prefix; the proxy's 404
    # there was taken for the owner deleted meanwhile, and every page after the first was lost.
    scripted_github.get(
        "/ghe/api/v3/orgs/acme/repos",
        json=[_repo(1)],
        headers={"Link": f'<{scripted_github.base_url}/api/v3/orgs/acme/repos?page=2>; rel="next"'},
    )
    outside = scripted_github.route("GET", "/api/v3/orgs/acme/repos", lambda _r: (404, {}, '{"message": "Not Found"}'))
    client = GitHubClient(f"{scripted_github.base_url}/ghe/api/v3", [TOKEN], settings=FAST)
    shard = _organizations(tmp_path, "acme")

    with pytest.raises(LinkOutsideRootError, match=r"outside the GitHub API root .*/ghe/api/v3"):
        run_shard(client, RunStaging("d", "r", root=tmp_path.as_uri()), shard)

    assert outside.call_count == 0


@pytest.mark.parametrize("body", ["[]", "null", '"junk"', ""], ids=["list", "null", "string", "empty"])
@pytest.mark.parametrize("path", ["rest", "graphql"])
def test_a_repository_answered_with_a_2xx_that_is_no_object_fails_the_batch_not_marks_it_gone(
    scripted_github: ScriptedServer, body: str, path: str
) -> None:
    # Taken for gone, a proxy's empty 200 marked a stored, healthy repository deleted. GraphQL gives no node
    # for 5 below, so the REST answer decides there too.
    scripted_github.route("GET", "/repositories/5", lambda _r: (200, {}, body))
    scripted_github.get("/repositories/6", json=_repo(6))
    nodes = [None, {"__typename": "Repository", "id": "R_6", "databaseId": 6}]
    scripted_github.route("POST", "/graphql", lambda _r: (200, {}, json.dumps({"data": {"nodes": nodes}})))
    enrich = enrich_graphql if path == "graphql" else enrich_rest

    with pytest.raises(GitHubError, match=r"GET /repositories/5 with \w+ where a repository object belongs"):
        enrich(_client(scripted_github), [_repo(5), _repo(6)])


def test_a_redirect_to_another_host_is_refused_and_gets_no_token(scripted_github, other_host) -> None:
    # GitHub redirects a moved repository on its own host; a proxy's redirect elsewhere is not GitHub's answer.
    scripted_github.route(
        "GET", "/repositories/5", lambda _r: (301, {"Location": f"{other_host.base_url}/repositories/5"}, "")
    )
    elsewhere = other_host.get("/repositories/5", json=_repo(5))

    with pytest.raises(GitHubError, match="not on the GitHub API's host"):
        _client(scripted_github).get("/repositories/5")

    assert [call.headers.get("Authorization") for call in elsewhere.calls] == [None]


def test_a_503_that_says_when_to_retry_is_retried_no_sooner(scripted_github) -> None:
    answers = iter([(503, {"Retry-After": "7"}, '{"message": "Service Unavailable"}'), (200, {}, json.dumps([]))])
    scripted_github.route("GET", "/repositories", lambda _r: next(answers))
    waits: list[float] = []
    client = GitHubClient(scripted_github.base_url, [TOKEN], settings=replace(FAST, backoff_max=30), sleep=waits.append)

    assert client.get("/repositories").status == 200
    assert waits and min(waits) >= 7


def test_a_next_link_that_loops_back_fails_clearly_instead_of_listing_forever(tmp_path, scripted_github) -> None:
    def page(request: Any) -> tuple[int, dict[str, str], str]:
        # Page 2 links back to page 1, as a misconfigured proxy rewriting Link headers may.
        second = request.params.get("page") == "2"
        link = f'<{scripted_github.base_url}/orgs/acme/repos?per_page=100&page={1 if second else 2}>; rel="next"'
        return 200, {"Link": link}, json.dumps([_repo(2 if second else 1)])

    scripted_github.route("GET", "/orgs/acme/repos", _capped(page))
    shard = _organizations(tmp_path, "acme")

    with pytest.raises(GitHubError, match="link back to a page listed already"):
        run_shard(_client(scripted_github), RunStaging("d", "r", root=tmp_path.as_uri()), shard)


@pytest.mark.parametrize("body", [{"message": "Moved"}, "not a list", 7], ids=["object", "string", "number"])
def test_an_owner_page_that_is_not_a_list_is_a_clear_github_error(tmp_path, scripted_github, body: Any) -> None:
    scripted_github.get("/orgs/acme/repos", json=body)
    shard = _organizations(tmp_path, "acme")

    with pytest.raises(GitHubError, match="/orgs/acme/repos"):
        run_shard(_client(scripted_github), RunStaging("d", "r", root=tmp_path.as_uri()), shard)


def test_null_entries_of_an_owner_page_are_left_to_the_quarantine_and_the_rest_is_staged(
    tmp_path, scripted_github
) -> None:
    scripted_github.get("/orgs/acme/repos", json=[_repo(1), None, "junk", _repo(4)])
    shard = _organizations(tmp_path, "acme")

    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    result = run_shard(_client(scripted_github), staging, shard)

    (batch,) = batch_uris(staging, result)
    items = read_json_uri(batch)["items"]
    assert items == [_repo(1), None, "junk", _repo(4)]


def test_an_owner_deleted_between_its_pages_keeps_what_was_listed_and_the_other_owners(
    tmp_path, scripted_github
) -> None:
    # GitHub answers 404 for the rest of the listing of an account deleted (or renamed) meanwhile.
    scripted_github.get(
        "/orgs/acme/repos",
        json=[_repo(1), _repo(2)],
        headers={"Link": f'<{scripted_github.base_url}/organizations/77/repos?page=2>; rel="next"'},
    )
    scripted_github.route("GET", "/organizations/77/repos", lambda _r: (404, {}, '{"message": "Not Found"}'))
    scripted_github.get("/orgs/other/repos", json=[_repo(3)])
    shard = _organizations(tmp_path, "acme", "other")

    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    result = run_shard(_client(scripted_github), staging, shard)

    staged = [item for batch in batch_uris(staging, result) for item in read_json_uri(batch)["items"]]
    assert staged == [_repo(1), _repo(2), _repo(3)]
    assert result.listed == 3


def test_a_listing_that_ignores_since_fails_clearly_instead_of_crawling_forever(tmp_path, scripted_github) -> None:
    # A proxy that drops the query string serves the first page for every since=.
    first_page = [{"id": i} for i in range(1, 101)]
    scripted_github.route("GET", "/repositories", _capped(lambda _r: (200, {}, json.dumps(first_page))))
    scripted_github.route(
        "GET",
        re.compile(r"/repositories/\d+"),
        lambda r: (200, {}, json.dumps(_repo(int(r.url.rsplit("/", 1)[1])))),
    )
    shard = CensusShard(key="census-000", id_low=0, id_high=1000, expected=1000)

    with pytest.raises(GitHubError, match="since"):
        run_shard(_client(scripted_github), RunStaging("d", "r", root=tmp_path.as_uri()), shard)


@pytest.mark.parametrize(
    "entry",
    [None, {}, {"id": None}, {"id": "12"}, {"id": 12.5}, {"id": True}, "12", [12]],
    ids=["null", "no-id", "null-id", "string-id", "float-id", "bool-id", "string", "list"],
)
@pytest.mark.parametrize("mode", ["sample", "census", "discover"])
def test_a_malformed_listing_entry_is_a_clear_github_error(tmp_path, scripted_github, entry: Any, mode: str) -> None:
    page = [_repo(1), entry, _repo(3)]
    scripted_github.get("/repositories", json=page)
    scripted_github.post("/graphql", json={"data": {"nodes": []}})
    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    shards = {
        "sample": SampleShard(key="sample-000", id_low=0, id_high=10, quota=3, seed="s", per_page_take=100),
        "census": CensusShard(key="census-000", id_low=0, id_high=10, expected=3),
    }

    with pytest.raises(GitHubError, match="/repositories"):
        if mode == "discover":
            discover_max_id(_client(scripted_github))
        else:
            run_shard(_client(scripted_github), staging, shards[mode])


def _list_two_repositories(server: ScriptedServer) -> None:
    def listing(request: Any) -> tuple[int, dict[str, str], str]:
        first = request.params.get("since") == "0"
        return 200, {}, json.dumps([_repo(1), _repo(2)] if first else [])

    server.route("GET", "/repositories", listing)


def _graphql_answer(**body: Any) -> Any:
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        ids = json.loads(request.body)["variables"]["ids"]
        nodes = [{"__typename": "Repository", "id": node_id, "databaseId": int(node_id[2:])} for node_id in ids]
        return 200, {}, json.dumps({"data": {"nodes": nodes}, **body})

    return callback


@pytest.mark.parametrize("errors", [["boom"], [None, 3], "boom", {"message": "x"}], ids=["str", "null", "text", "obj"])
def test_graphql_errors_of_another_shape_beside_good_nodes_keep_the_nodes(
    tmp_path, scripted_github, errors: Any
) -> None:
    _list_two_repositories(scripted_github)
    scripted_github.route("POST", "/graphql", _graphql_answer(errors=errors))
    shard = CensusShard(key="census-000", id_low=0, id_high=10, expected=2)

    result = run_shard(_client(scripted_github), RunStaging("d", "r", root=tmp_path.as_uri()), shard)

    assert (result.enriched, result.skipped) == (2, 0)


@pytest.mark.parametrize("data", [None, [], "x", 1], ids=["null", "list", "str", "int"])
def test_graphql_data_of_another_shape_is_a_github_error(tmp_path, scripted_github, data: Any) -> None:
    _list_two_repositories(scripted_github)
    scripted_github.post("/graphql", json={"data": data, "errors": [{"message": "Something went wrong"}]})
    shard = CensusShard(key="census-000", id_low=0, id_high=10, expected=2)

    with pytest.raises(GitHubError, match="Something went wrong"):
        run_shard(_client(scripted_github), RunStaging("d", "r", root=tmp_path.as_uri()), shard)


def test_a_number_too_long_to_convert_quarantines_its_record_not_the_page(tmp_path, scripted_github) -> None:
    # Python refuses to convert more than 4,300 digits: json.loads failed the whole page, retried as not JSON.
    huge = "9" * 5000
    body = json.dumps([_repo(1), {**_repo(2), "stargazers_count": 0}]).replace(
        '"stargazers_count": 0', f'"stargazers_count": {huge}'
    )
    scripted_github.route("GET", "/orgs/acme/repos", lambda _request: (200, {}, body))
    shard = _organizations(tmp_path, "acme")

    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    result = run_shard(_client(scripted_github), staging, shard)

    (batch,) = batch_uris(staging, result)
    items = read_json_uri(batch)["items"]
    assert [item["id"] for item in items] == [1, 2]
    assert items[1]["stargazers_count"] == huge
    rows, rejected = io.StringIO(), io.StringIO()
    stats = transform_records(items, rows, rejected, source_format="rest")
    assert (stats.rows, stats.rejected) == (1, 1)
    assert "wrong_type:stargazers_count" in rejected.getvalue()


@pytest.mark.parametrize("bad_id", [None, "5", True, 5.5, -5], ids=["null", "string", "bool", "float", "negative"])
def test_a_private_entry_without_a_usable_id_is_quarantined_not_a_crash_nor_a_deletion(
    tmp_path, scripted_github, bad_id: Any
) -> None:
    private = {**_repo(5), "id": bad_id, "private": True, "visibility": "private"}
    scripted_github.get("/orgs/acme/repos", json=[_repo(1), private, _repo(4)])
    shard = _organizations(tmp_path, "acme")

    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    result = run_shard(_client(scripted_github), staging, shard)

    (batch_uri,) = batch_uris(staging, result)
    batch = read_json_uri(batch_uri)
    # No id to mark deleted (True or "5" would name another repository): the transform quarantines it.
    assert not batch.get("gone")
    rows, rejected = io.StringIO(), io.StringIO()
    stats = transform_records(batch["items"], rows, rejected)
    assert (stats.rows, stats.rejected) == (2, 1)
    assert json.loads(rejected.getvalue())["reason"] in ("missing_field:id", "wrong_type:id", "out_of_range:id")
