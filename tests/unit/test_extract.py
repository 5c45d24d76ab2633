"""Extraction without Airflow: planning and shards of every mode against the fake GitHub, with checkpoints."""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from github_etl.errors import ConfigurationError, RateLimitWaitTooLong
from github_etl.extract.budget import BudgetTooSmallError
from github_etl.extract.plan import plan_run, run_shard
from github_etl.extract.sample import discover_max_id
from github_etl.extract.search import MAX_RESULTS_PER_QUERY
from github_etl.extract.shards import batch_uris
from github_etl.github.client import GitHubClient
from github_etl.params import validate
from github_etl.settings import ClientSettings, QuotaReserve
from github_etl.staging import RunStaging, iter_jsonl_uri, read_json_uri
from tests.fake_github import FakeGitHub
from tests.listing import listing_pages

TOKEN = "ghp_extract_test_token_000111"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
FAST = ClientSettings(
    backoff_base=0.01,
    backoff_max=0.02,
    secondary_min_wait=0.01,
    reset_jitter=0.01,
    read_timeout=2,
    quota_reserve=QuotaReserve(default=0.0),
)


def _client(fake: FakeGitHub, token: str | None = TOKEN) -> GitHubClient:
    return GitHubClient(fake.base_url, [token] if token else [], settings=FAST)


def _harvest(fake: FakeGitHub, staging: RunStaging, params: dict, token: str | None = TOKEN) -> list[dict]:
    client = _client(fake, token)
    plan = plan_run(client, staging, validate(params), logical_date=LOGICAL_DATE)
    objects = []
    for shard in plan.shards:
        for uri in batch_uris(staging, run_shard(client, staging, shard)):
            objects.extend(read_json_uri(uri)["items"])
    return objects


def _ids(objects: list[dict]) -> list[int]:
    return [o.get("databaseId", o.get("id")) for o in objects]


@pytest.mark.parametrize("repo_count", [1, 99, 100, 101, 5000])
def test_discovers_the_end_of_the_id_space(fake_github_factory, repo_count: int) -> None:
    fake = fake_github_factory(repo_count=repo_count, seed=repo_count)
    assert discover_max_id(_client(fake)) == max(fake.ids)


def test_a_short_listing_page_in_the_middle_of_the_id_space_does_not_end_it(fake_github_factory, tmp_path) -> None:
    # GitHub's listing is "up to 100": where it leaves out ids it will not show, a page mid-space is short.
    fake = fake_github_factory(repo_count=20_000, seed=3)
    universe = fake.universe

    def window_less_hidden(since: int, limit: int, include_huge: bool) -> list[int]:
        start = bisect.bisect_right(universe.ids, since)
        window = universe.ids[start : min(universe.visible_end(include_huge), start + limit)]
        return [i for i in window if i not in universe.deleted and i not in universe.private]

    universe.listing_page = window_less_hidden
    for repo_id in list(fake.ids)[::500]:
        fake.make_repository_private(repo_id)
    top = max(fake.ids)

    assert discover_max_id(_client(fake)) == top
    sampled = _ids(_harvest(fake, RunStaging("d", "short", root=tmp_path.as_uri()), {"sample_size": 400, "shards": 4}))
    # Strata over the whole id space: the top half holds about half of the sample (it held none).
    assert sum(1 for i in sampled if i > top / 2) >= 150


def test_sample_is_exact_distinct_and_spans_the_whole_id_space(fake_github_factory, tmp_path) -> None:
    fake = fake_github_factory(repo_count=2000, seed=11, vanished_ratio=0.05)
    staging = RunStaging("d", "r1", root=tmp_path.as_uri())
    ids = _ids(_harvest(fake, staging, {"sample_size": 200, "shards": 4, "per_page_take": 10}))
    assert len(ids) == len(set(ids)) == 200
    assert not [i for i in ids if fake.is_vanished(i)]
    top = max(fake.ids)
    # Every quarter of the id space holds its share: not the oldest repositories only.
    quarters = [sum(1 for i in ids if q * top / 4 < i <= (q + 1) * top / 4) for q in range(4)]
    assert quarters == [50, 50, 50, 50]


def test_a_sample_larger_than_its_id_range_holds_ends_with_what_it_found_and_says_so_once(
    fake_github_factory, tmp_path, caplog
) -> None:
    fake = fake_github_factory(repo_count=150, seed=11, vanished_ratio=0.05)
    staging = RunStaging("d", "r1", root=tmp_path.as_uri())

    with caplog.at_level(logging.WARNING, logger="github_etl.extract.sample"):
        ids = _ids(_harvest(fake, staging, {"sample_size": 300, "shards": 1, "per_page_take": 50}))

    # Random pages find nearly all of them before 20 in a row find none left.
    assert len(ids) == len(set(ids)) >= 130 and set(ids) <= {i for i in fake.ids if not fake.is_vanished(i)}
    (said,) = [r.getMessage() for r in caplog.records if "in a row held no repository not picked yet" in r.getMessage()]
    assert said.endswith(f"it ends with {len(ids)} of its 300")


def test_same_run_same_sample_other_seed_other_sample(fake_github_factory, tmp_path) -> None:
    fake = fake_github_factory(repo_count=3000, seed=2)
    params = {"sample_size": 50, "shards": 2, "per_page_take": 5}
    first = _ids(_harvest(fake, RunStaging("d", "a", root=tmp_path.as_uri()), params))
    again = _ids(_harvest(fake, RunStaging("d", "b", root=tmp_path.as_uri()), params))
    other = _ids(_harvest(fake, RunStaging("d", "c", root=tmp_path.as_uri()), {**params, "seed": 99}))
    assert sorted(first) == sorted(again)
    assert sorted(first) != sorted(other)


def test_graphql_and_rest_enrich_the_same_repositories(fake_github_factory) -> None:
    from github_etl.extract.enrich import enrich_graphql, enrich_rest

    fake = fake_github_factory(repo_count=1000, seed=4, vanished_ratio=0.05)
    client = _client(fake)
    listed = (
        client.get("/repositories", {"since": fake.ids[100]}).data
        + client.get("/repositories", {"since": fake.ids[700]}).data
    )
    graphql = enrich_graphql(client, listed)
    rest = enrich_rest(client, listed)
    assert sorted(_ids(graphql.items)) == sorted(_ids(rest.items))
    assert sorted(graphql.gone) == sorted(rest.gone) == sorted(r["id"] for r in listed if fake.is_vanished(r["id"]))
    assert rest.gone
    # Two GraphQL batches against one REST call per repository.
    assert fake.count(path_prefix="/graphql") == 2


def test_a_public_repository_graphql_refuses_for_saml_is_read_over_rest_and_never_marked_deleted(
    fake_github_factory, caplog
) -> None:
    """GraphQL refuses the public repositories of an organization whose SAML single sign-on the token is not
    authorized for (FORBIDDEN, ``saml_failure``), where REST serves them: a refusal is no deletion."""
    from github_etl.extract.enrich import enrich_graphql

    fake = fake_github_factory(repo_count=300, seed=4)
    listed = _client(fake).get("/repositories", {"since": fake.ids[10]}).data
    protected, deleted = listed[3], listed[7]
    fake.protect_by_saml(protected["id"])
    fake.delete_repository(deleted["id"])
    fake.reset_log()

    with caplog.at_level(logging.WARNING, logger="github_etl.extract.enrich"):
        batch = enrich_graphql(_client(fake), listed)

    assert batch.gone_reasons == {str(deleted["id"]): "not_found"}
    assert batch.gone == [deleted["id"]]
    assert [item["id"] for item in batch.rest_items] == [protected["id"]]
    assert sorted(_ids(batch.items)) == sorted(r["id"] for r in listed if r not in (protected, deleted))
    # One REST request each explains them.
    assert fake.count(path_prefix="/repositories/") == 2
    (said,) = [r.getMessage() for r in caplog.records if "GraphQL gave no node" in r.getMessage()]
    assert "for 2 of 100 repositories" in said and "refusing 1 (" in said and "SAML enforcement" in said
    assert "1 served" in said


def test_a_graphql_batch_that_times_out_is_split_until_the_halves_pass(fake_github_factory) -> None:
    from github_etl.extract.enrich import GRAPHQL_BATCH_SIZE, enrich_graphql, enrich_rest

    fake = fake_github_factory(repo_count=1000, seed=4)
    client = _client(fake)
    listed = client.get("/repositories", {"since": fake.ids[100]}).data
    assert len(listed) == GRAPHQL_BATCH_SIZE == 100
    fake.faults.graphql_max_nodes = 30  # 100 and 50 ids time out, 25 pass
    fake.reset_log()

    graphql = enrich_graphql(client, listed)

    assert sorted(_ids(graphql.items)) == sorted(_ids(enrich_rest(client, listed).items))
    assert graphql.gone == []
    # Each too-heavy batch is retried once, as a 5xx may be a blip, before it is split: one of 100, two of 50.
    assert fake.count(path_prefix="/graphql", status=502) == 3 * 2
    assert fake.count(path_prefix="/graphql", status=200) == 4  # four of 25


def test_batches_after_a_timeout_ask_the_size_that_passed_then_grow_back(fake_github_factory) -> None:
    """A census shard enriches thousands of batches: asking 100 again each time would spend two failed requests
    and a split on every one of them."""
    from github_etl.extract.enrich import GROW_AFTER_BATCHES, enrich_graphql

    fake = fake_github_factory(repo_count=3000, seed=4)
    client = _client(fake)
    listed = [client.get("/repositories", {"since": fake.ids[start]}).data for start in (0, 100, 200)]
    fake.faults.graphql_max_nodes = 60  # 100 times out, 50 passes
    enrich_graphql(client, listed[0])
    fake.reset_log()

    enrich_graphql(client, listed[1])

    assert fake.count(path_prefix="/graphql", status=502) == 0
    assert fake.count(path_prefix="/graphql", status=200) == 2  # two of 50
    fake.faults.graphql_max_nodes = 100  # GitHub is quick again
    for _ in range(GROW_AFTER_BATCHES // 2):
        enrich_graphql(client, listed[2])
    fake.reset_log()
    enrich_graphql(client, listed[2])
    assert fake.count(path_prefix="/graphql", status=200) == 1  # one of 100 again


def test_a_single_node_that_times_out_fails_the_batch(fake_github_factory) -> None:
    from github_etl.errors import GitHubUnavailableError
    from github_etl.extract.enrich import enrich_graphql

    fake = fake_github_factory(repo_count=200, seed=4)
    client = _client(fake)
    listed = client.get("/repositories", {"since": fake.ids[10]}).data[:3]
    fake.faults.graphql_max_nodes = 0

    with pytest.raises(GitHubUnavailableError, match="502"):
        enrich_graphql(client, listed)


def test_a_retried_shard_only_fetches_what_was_missing(fake_github_factory, tmp_path) -> None:
    fake = fake_github_factory(repo_count=2000, seed=9)
    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    client = _client(fake)
    params = validate({"sample_size": 300, "shards": 1, "per_page_take": 50})
    plan = plan_run(client, staging, params, logical_date=LOGICAL_DATE)
    (shard,) = plan.shards
    fake.reset_log()
    run_shard(client, staging, shard)
    full_cost = len(fake.requests)
    # Simulate a crash after half the work: drop the completion marker and the later checkpoints.
    raw = sorted(staging.path("raw", shard.key).iterdir(), key=lambda p: p.name)
    checkpoints = [p for p in raw if p.name != "done.json"]
    for path in [*checkpoints[len(checkpoints) // 2 :], staging.path("raw", shard.key, "done.json")]:
        path.unlink()
    fake.reset_log()
    retried = run_shard(_client(fake), staging, shard)
    assert 0 < len(fake.requests) < full_cost
    assert retried.enriched == 300
    fake.reset_log()
    run_shard(_client(fake), staging, shard)
    assert fake.requests == []
    # The plan itself is a checkpoint too.
    fake.reset_log()
    assert plan_run(client, staging, params, logical_date=LOGICAL_DATE) == plan
    assert fake.requests == []


def test_search_past_the_1000_result_cap_loads_every_match_once(fake_github_factory, tmp_path) -> None:
    fake = fake_github_factory(repo_count=1700, seed=3)
    query = "archived:false"
    expected = fake.search_ids(query)
    objects = _harvest(fake, RunStaging("d", "s", root=tmp_path.as_uri()), {"mode": "search", "query": query})
    ids = _ids(objects)
    assert len(ids) > MAX_RESULTS_PER_QUERY
    assert len(ids) == len(set(ids))
    total = (
        _client(fake).get("/search/repositories", {"q": query, "per_page": 1}, resource="search").data["total_count"]
    )
    assert len(ids) == total
    assert sorted(ids) == expected
    assert all(not o["archived"] for o in objects)


def test_owners_mode_loads_every_repository_of_users_and_organisations(fake_github_factory, tmp_path) -> None:
    fake = fake_github_factory(repo_count=50, owners={"apache": 230, "octocat": 7})
    objects = _harvest(
        fake, RunStaging("d", "o", root=tmp_path.as_uri()), {"mode": "owners", "owners": ["apache", "octocat"]}
    )
    apache, octocat = (fake.universe.named_owners[login].id for login in ("apache", "octocat"))
    # Each owner is looked up once, then listed by its id where its type says, the routes of GitHub's own Link
    # headers: no request tries the other route, or the login, which a rename would take away.
    assert fake.count(path_prefix="/users/") == 2
    assert fake.count(path_prefix=f"/organizations/{apache}/repos") > 1 and fake.count(path_prefix="/orgs/") == 0
    assert fake.count(path_prefix=f"/user/{octocat}/repos") == 1
    # Each route with the values its documentation lists (a user's type is all, owner or member), oldest first.
    first_pages = {r.path: r.query for r in fake.requests if r.path.endswith("/repos") and "page" not in r.query}
    assert first_pages == {
        f"/organizations/{apache}/repos": {"per_page": "100", "type": "public", "sort": "created", "direction": "asc"},
        f"/user/{octocat}/repos": {"per_page": "100", "type": "owner", "sort": "created", "direction": "asc"},
    }
    by_owner: dict[str, int] = {}
    for o in objects:
        by_owner[o["owner"]["login"]] = by_owner.get(o["owner"]["login"], 0) + 1
    assert set(by_owner) == {"apache", "octocat"}
    assert len(_ids(objects)) == len(set(_ids(objects)))
    listed = {
        login: len(
            [r for p in listing_pages(_client(fake), f"/users/{login}/repos", {"per_page": 100}) for r in p.data]
        )
        for login in ("apache", "octocat")
    }
    assert by_owner == listed


def test_an_owner_renamed_between_the_plan_and_the_extract_is_listed_whole(fake_github_factory, tmp_path) -> None:
    """GitHub answers 404 to a renamed account's old login (or another account's, once someone takes it)."""
    fake = fake_github_factory(repo_count=20, seed=3, owners={"apache": 30, "octocat": 12})
    client = _client(fake)
    staging = RunStaging("d", "o", root=tmp_path.as_uri())
    plan = plan_run(
        client, staging, validate({"mode": "owners", "owners": ["apache", "octocat"]}), logical_date=LOGICAL_DATE
    )
    renamed = fake.universe.owner_by_login
    fake.universe.owner_by_login = lambda login: None if login.lower() == "octocat" else renamed(login)

    results = [run_shard(client, staging, shard) for shard in plan.shards]

    assert sum(result.listed for result in results) == 42
    assert sum(result.missing_owners for result in results) == 0


def test_an_owners_repository_listed_but_not_public_is_counted_listed_and_skipped(
    fake_github_factory, tmp_path
) -> None:
    """A repository an owner's listing serves that is not public is staged as gone: listed and skipped, as in every
    other mode, so that listed is what the enriched and the skipped add up to."""
    fake = fake_github_factory(repo_count=20, seed=3, owners={"octocat": 12})
    client = _client(fake)
    staging = RunStaging("d", "o", root=tmp_path.as_uri())
    plan = plan_run(client, staging, validate({"mode": "owners", "owners": ["octocat"]}), logical_date=LOGICAL_DATE)
    listed = [r["id"] for p in listing_pages(client, "/users/octocat/repos", {"per_page": 100}) for r in p.data]
    fake.set_repository(listed[3], visibility="internal")

    (result,) = [run_shard(client, staging, shard) for shard in plan.shards]

    assert (result.listed, result.enriched, result.skipped) == (12, 11, 1)


def test_owners_github_does_not_know_fail_the_plan_naming_each_before_any_listing(
    fake_github_factory, tmp_path
) -> None:
    fake = fake_github_factory(repo_count=50, owners={"apache": 30})
    client = _client(fake)
    params = validate({"mode": "owners", "owners": ["apachee", "apache", "no-such-owner"]})

    with pytest.raises(ConfigurationError) as raised:
        plan_run(client, RunStaging("d", "o", root=tmp_path.as_uri()), params, logical_date=LOGICAL_DATE)

    assert "param 'owners'" in str(raised.value)
    assert "'apachee', 'no-such-owner'" in str(raised.value)
    assert fake.count(path_prefix="/users/") == 3
    assert fake.count(path_prefix="/orgs/") == 0


def test_a_listing_or_search_that_serves_a_repository_not_public_stages_it_as_gone(
    fake_github_factory, tmp_path
) -> None:
    from github_etl.extract.enrich import StagedBatch
    from github_etl.extract.owners import OwnersShard
    from github_etl.extract.shards import ShardRecorder

    fake = fake_github_factory(repo_count=10, seed=2)
    public, private, internal = (dict(fake.repository(i)) for i in fake.ids[:3])
    private["private"] = True
    internal["visibility"] = "internal"
    shard = OwnersShard("k", owners_uri="", owners=1, pages=1)
    recorder = ShardRecorder(RunStaging("d", "p", root=tmp_path.as_uri()), shard, _client(fake))

    batch = recorder.full_objects(lambda: StagedBatch(items=[public, private, internal]))

    assert _ids(batch.items) == [public["id"]]
    assert batch.gone == [private["id"], internal["id"]]
    assert set(batch.gone_reasons.values()) == {"not_public"}
    assert recorder.counts["skipped"] == 2


@pytest.mark.parametrize("graphql", [True, False], ids=["graphql", "rest"])
def test_a_repository_the_token_reads_but_the_public_cannot_is_gone_as_not_public(fake_github_factory, graphql) -> None:
    """Enriched by id, a repository made private since it was listed is served to a token that can read it."""
    from github_etl.extract.enrich import enrich_graphql, enrich_rest

    fake = fake_github_factory(repo_count=300, seed=4)
    client = _client(fake)
    listed = client.get("/repositories", {"since": fake.ids[10]}).data
    made_private = listed[5]
    fake.make_repository_private(made_private["id"])
    fake.reset_log()

    batch = (enrich_graphql if graphql else enrich_rest)(client, listed)

    assert batch.gone == [made_private["id"]]
    assert batch.gone_reasons == {str(made_private["id"]): "not_public"}
    assert sorted(_ids(batch.items)) == sorted(r["id"] for r in listed if r is not made_private)
    if graphql:  # the node says why: no REST request to explain it
        assert fake.count(path_prefix="/repositories/") == 0


def test_the_run_counts_the_failed_requests_of_its_planning_too(fake_github_factory, tmp_path) -> None:
    from github_etl.tasks import run_totals, transform_shard

    fake = fake_github_factory(repo_count=300, seed=4)
    # Planning's first requests (the end of the id space) meet GitHub's 5xx; the shards meet one more.
    fake.faults.next_errors = [502, 503]
    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    plan = plan_run(_client(fake), staging, validate({"sample_size": 20, "shards": 1}), logical_date=LOGICAL_DATE)
    fake.faults.next_errors = [500]
    transformed = [transform_shard(staging, run_shard(_client(fake), staging, shard)) for shard in plan.shards]

    totals = run_totals(transformed, plan)

    assert totals.api_requests == len(fake.requests)
    assert totals.failed_requests == fake.count(status=502) + fake.count(status=503) + fake.count(status=500) == 3


def test_a_repository_renamed_while_its_owner_is_listed_moves_no_other_off_the_pages(
    fake_github_factory, tmp_path
) -> None:
    """GitHub lists a user's repositories by name unless asked otherwise: one renamed to the front after
    page 1 was read would be on no page read later, and would push page 1's last onto page 2."""
    fake = fake_github_factory(repo_count=50, owners={"octocat": 250})
    listed = [r["id"] for p in listing_pages(_client(fake), "/users/octocat/repos", {"per_page": 100}) for r in p.data]
    last = listed[-1]  # by name
    renamed = []

    def rename_once(path: str, params: dict[str, str]) -> None:
        if path.endswith("/repos") and not renamed:
            fake.rename_repository(last, "octocat/aaaa-first-by-name")
            renamed.append(last)

    fake.between_pages(rename_once)
    objects = _harvest(
        fake, RunStaging("d", "renamed", root=tmp_path.as_uri()), {"mode": "owners", "owners": ["octocat"]}
    )

    assert renamed == [last]
    assert sorted(_ids(objects)) == sorted(listed)


def test_a_refused_repository_a_refresh_holds_as_deleted_costs_no_rest_request_and_no_warning(
    fake_github_factory, caplog
) -> None:
    """A refresh passes the reason of a repository marked deleted already: it keeps it, and asks REST nothing."""
    from github_etl.extract.enrich import enrich_graphql

    fake = fake_github_factory(repo_count=300, seed=4)
    listed = _client(fake).get("/repositories", {"since": fake.ids[10]}).data
    fake.protect_by_saml(listed[3]["id"])
    listed[3] = {**listed[3], "gone": "not_found"}
    fake.reset_log()

    with caplog.at_level(logging.WARNING, logger="github_etl.extract.enrich"):
        batch = enrich_graphql(_client(fake), listed)

    assert batch.gone_reasons == {str(listed[3]["id"]): "not_found"}
    assert fake.count(path_prefix="/repositories/") == 0
    assert not [r for r in caplog.records if "GraphQL gave no node" in r.getMessage()]


# -- owners: planning at scale ------------------------------------------------------------------


def _deferring_client(fake: FakeGitHub) -> GitHubClient:
    """A client that raises at an exhausted budget instead of waiting for its reset, as the plan operator defers."""
    return GitHubClient(fake.base_url, [TOKEN], settings=replace(FAST, max_inline_wait=1))


def test_planning_more_owners_than_one_budget_window_finishes_after_the_reset(fake_github_factory, tmp_path) -> None:
    """A partner list longer than a token's hourly budget: plan defers at the reset and resumes.

    The budget check passes (2 requests per owner fit within the 24 h deadline) and promises the run waits for
    resets; but the owner lookups are not checkpointed, so each resumed plan looks every owner up again from the
    first, spends the whole window on the same owners, and defers again: the plan never ends.
    """
    per_hour = 20
    owners = [f"partner-{i:03d}" for i in range(30)]
    fake = fake_github_factory(repo_count=20, seed=3, owners=dict.fromkeys(owners, 1), rate_limit=per_hour)
    staging = RunStaging("d", "many-owners", root=tmp_path.as_uri())
    params = validate({"mode": "owners", "owners": owners, "shards": 4})

    # First attempt: the window runs out after 20 lookups; the operator defers until the reset.
    with pytest.raises(RateLimitWaitTooLong):
        plan_run(_deferring_client(fake), staging, params, logical_date=LOGICAL_DATE)
    first_window = fake.count(path_prefix="/users/")
    assert first_window == per_hour

    # GitHub's reset: the token has its 20 requests again; the operator runs execute() again with a new client.
    fake.limiter._refill("core", time.time())
    fake.reset_log()
    # Two windows hold 40 requests, more than the 30 lookups: the resumed plan must finish.
    plan = plan_run(_deferring_client(fake), staging, params, logical_date=LOGICAL_DATE)

    assert sorted(owner["login"] for shard in plan.shards for owner in iter_jsonl_uri(shard.owners_uri)) == owners
    # ...and must not look up again the owners the first window looked up.
    assert fake.count(path_prefix="/users/") == len(owners) - first_window


def test_the_budget_check_counts_the_pages_of_an_owner_the_lookup_says_is_big(
    fake_github_factory, tmp_path, monkeypatch
) -> None:
    """README: plan "checks the run fits its GitHub budget before GITHUB_ETL_RUN_DEADLINE_HOURS, else fails at once".

    The lookup ``/users/{login}`` that plan sends anyway answers ``public_repos``; the owners mode still counts one
    page per owner, so an organisation of 6,000 repositories (60 pages) is judged to cost 2 requests and a run that
    cannot finish before its deadline starts, spends its budget and defers until the deadline alert.
    """
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "1")
    fake = fake_github_factory(repo_count=20, seed=3, owners={"apache": 6000}, rate_limit=20)
    staging = RunStaging("d", "big-owner", root=tmp_path.as_uri())
    client = _client(fake)
    assert client.get("/users/apache").data["public_repos"] == 6000

    with pytest.raises(BudgetTooSmallError):
        plan_run(client, staging, validate({"mode": "owners", "owners": ["apache"]}), logical_date=LOGICAL_DATE)


def test_one_account_named_by_its_old_and_its_new_login_is_listed_once(fake_github_factory, tmp_path) -> None:
    """README: owners are "each read once". A partner list often still holds an organisation's former login
    beside its new one; GitHub's lookup of the old login is redirected (301) to the account, so the plan learns
    both names are one account id, and still lists that account's repositories twice (twice the pages, every
    repository staged twice and counted as a duplicate)."""
    from github_etl.extract.plan import run_shard
    from tests.fake_github.replies import json_reply

    fake = fake_github_factory(repo_count=20, seed=3, owners={"apache": 150})
    answer_user = fake.routes._user

    def user(login: str):
        if login.lower() == "old-apache":
            moved = json_reply(301, {"message": "Moved Permanently", "url": f"{fake.base_url}/users/apache"})
            moved.headers["Location"] = f"{fake.base_url}/users/apache"
            return moved
        return answer_user(login)

    fake.routes._user = user
    client = _client(fake)
    staging = RunStaging("d", "renamed-owner", root=tmp_path.as_uri())
    plan = plan_run(
        client,
        staging,
        validate({"mode": "owners", "owners": ["old-apache", "apache"], "shards": 2}),
        logical_date=LOGICAL_DATE,
    )
    results = [run_shard(client, staging, shard) for shard in plan.shards]

    apache = fake.universe.named_owners["apache"].id
    first_pages = [r for r in fake.requests if r.path == f"/organizations/{apache}/repos" and "page" not in r.query]
    assert len(first_pages) == 1
    assert sum(result.listed for result in results) == 150


def test_an_owners_plans_xcom_is_of_its_shards_not_of_its_owners(fake_github_factory, tmp_path) -> None:
    """Every mapped extract task pulls the plan's XCom whole: its owners are staged, as search's slices are."""
    import json

    from github_etl.extract.plan import extract_inputs

    def plan_xcom(count: int) -> str:
        owners = [f"Partner-org-{i:05d}" if i % 2 else f"partner-dev-{i:05d}" for i in range(count)]
        fake = fake_github_factory(repo_count=20, seed=3, owners=dict.fromkeys(owners, 1), rate_limit=100_000)
        params = validate({"mode": "owners", "owners": owners, "shards": 4})
        staging = RunStaging("d", f"owners-{count}", root=tmp_path.as_uri())
        return json.dumps(extract_inputs(plan_run(_client(fake), staging, params, logical_date=LOGICAL_DATE)))

    few, many = plan_xcom(40), plan_xcom(1200)

    assert len(many) < len(few) + 100, (len(few), len(many))


def test_the_sample_size_a_refused_sample_is_advised_fits_once_the_id_space_is_discovered(
    fake_github_factory, tmp_path, monkeypatch
) -> None:
    """Anonymous, a deadline of 1.5 h: 60 requests now and 60 at the reset. The advice was a share of the run; the
    sample cut to it passed the first check, then discovering the id space spent a third of the hour's requests
    and the second check refused it."""
    import re

    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "1.5")
    fake = fake_github_factory(repo_count=20_000, seed=3)
    params = {"sample_size": 200, "shards": 1, "per_page_take": 100}
    anonymous = GitHubClient(fake.base_url, [], settings=FAST)
    fake.reset_log()

    with pytest.raises(BudgetTooSmallError) as refused:
        plan_run(anonymous, RunStaging("d", "a1", root=tmp_path.as_uri()), validate(params), logical_date=LOGICAL_DATE)

    assert fake.count(path_prefix="/repositories") == 0
    advised = int(re.search(r"lower sample_size to (\d+) or less", str(refused.value)).group(1))
    assert 50 <= advised < 200
    plan = plan_run(
        anonymous,
        RunStaging("d", "a2", root=tmp_path.as_uri()),
        validate({**params, "sample_size": advised}),
        logical_date=LOGICAL_DATE,
    )
    assert sum(shard.quota for shard in plan.shards) == advised
