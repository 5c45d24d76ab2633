"""Mode census against the fake GitHub and a real warehouse: exact, resumable, and its cursor in the load."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from github_etl.errors import ConfigurationError, GitHubError, StagedFileGoneError
from github_etl.extract.budget import BudgetTooSmallError
from github_etl.extract.census import census_range, estimate_repositories, plan_census
from github_etl.extract.plan import plan_run
from github_etl.github.client import GitHubClient
from github_etl.params import validate
from github_etl.staging import RunStaging
from tests.fake_github import FakeGitHub
from tests.in_process import DAG_ID, FAST, query, run_pipeline, stage_run, warehouse_rows

TOKEN = "ghp_census_test_token_0001"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)


class Killed(BaseException):
    """The task's process dies: nothing after it runs, nothing catches it."""


class DyingClient(GitHubClient):
    """A client whose process is killed as it is about to send its ``die_at``-th request."""

    def __init__(self, *args: Any, die_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.die_at = die_at
        self.sent = 0

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.sent += 1
        if self.sent == self.die_at:
            raise Killed(f"killed before request {self.sent}: {method} {path}")
        return super().request(method, path, **kwargs)


class GarbledListing(GitHubClient):
    """A client whose listing page after ``since`` comes back garbled once: ``garble(params)`` are the
    parameters really sent (a proxy dropping the query string), or ``garble(None)`` an empty page."""

    def __init__(self, *args: Any, since: int, garble: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.since, self.garble, self.garbled = since, garble, False

    def get(self, path: str, params: Any = None, **kwargs: Any) -> Any:
        hit = path == "/repositories" and params == {"since": self.since} and not self.garbled
        self.garbled = self.garbled or hit
        if hit and self.garble == "no query string":
            return super().get(path, {}, **kwargs)
        response = super().get(path, params, **kwargs)
        return dataclasses.replace(response, data=[]) if hit and self.garble == "empty" else response


def _loaded(pg_url: str) -> set[int]:
    return {row[0] for row in query(pg_url, "SELECT id FROM github.repositories")}


def _cursor(pg_url: str) -> tuple[int, int] | None:
    rows = query(pg_url, "SELECT since_id, cursor_id FROM github.census_cursor")
    return rows[0] if rows else None


def _audit(pg_url: str, run_id: str) -> dict[str, int]:
    ((listed, enriched, skipped, inserted),) = query(
        pg_url, "SELECT listed, enriched, skipped, inserted FROM github.load_runs WHERE run_id = %s", run_id
    )
    return {"listed": listed, "enriched": enriched, "skipped": skipped, "inserted": inserted}


def _census(fake: FakeGitHub, pg_url: str, staging_url: str, run_id: str, day: int = 0, **params: Any) -> dict:
    return run_pipeline(
        fake.base_url,
        TOKEN,
        {"mode": "census", **params},
        pg_url=pg_url,
        staging_url=staging_url,
        run_id=run_id,
        logical_date=LOGICAL_DATE + timedelta(days=day),
    )


def test_census_loads_every_public_repository_above_since_id_then_exactly_the_new_ones(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    fake = fake_github_factory(repo_count=1500, seed=21, vanished_ratio=0.05)
    staging = tmp_path.as_uri()
    since = fake.ids[600]
    above = [i for i in fake.ids if i > since]

    _census(fake, pg_url, staging, "census_1", since_id=since, shards=3)

    assert _loaded(pg_url) == {i for i in above if fake.verdict(i) == "load"}
    gone = [i for i in above if fake.verdict(i) == "gone"]
    assert gone, "no repository vanished between listing and enrichment: nothing was tested"
    assert _audit(pg_url, "census_1") == {
        "listed": len(above),
        "enriched": len(above) - len(gone),
        "skipped": len(gone),
        "inserted": len(above) - len(gone),
    }
    assert _cursor(pg_url) == (since, max(fake.ids))

    before = _loaded(pg_url)
    new = fake.add_repositories(250)
    fake.reset_log()
    _census(fake, pg_url, staging, "census_2", day=1, shards=3)

    new_public = {i for i in new if fake.verdict(i) == "load"}
    assert _loaded(pg_url) - before == new_public
    assert _audit(pg_url, "census_2")["inserted"] == len(new_public)
    assert _cursor(pg_url) == (since, max(new))
    # One GraphQL batch per 100 repositories, and at most one part-filled batch per shard.
    assert fake.count(path_prefix="/graphql") <= math.ceil(len(new) / 100) + 3


def test_a_first_census_without_since_id_starts_at_the_end_of_the_id_space(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    fake = fake_github_factory(repo_count=800, seed=22)
    staging = tmp_path.as_uri()

    _census(fake, pg_url, staging, "first", shards=2)

    end = max(fake.ids)
    assert _loaded(pg_url) == set()
    assert _cursor(pg_url) == (end, end)
    new = fake.add_repositories(130)
    _census(fake, pg_url, staging, "second", day=1, shards=2)
    assert _loaded(pg_url) == set(new)
    # Nothing new: nothing loaded, the cursor stays.
    _census(fake, pg_url, staging, "third", day=2, shards=2)
    assert _loaded(pg_url) == set(new)
    assert _cursor(pg_url) == (end, max(new))


def test_a_census_killed_mid_shard_resumes_to_exactly_the_uninterrupted_result(
    fake_github_factory, pg_url: str, second_pg_url: str, tmp_path
) -> None:
    fake = fake_github_factory(repo_count=1200, seed=23, vanished_ratio=0.03)
    params = {"mode": "census", "since_id": 0, "until_id": max(fake.ids), "shards": 2}
    run = {"logical_date": LOGICAL_DATE}
    run_pipeline(
        fake.base_url, TOKEN, params, pg_url=second_pg_url, staging_url=(tmp_path / "a").as_uri(), run_id="r", **run
    )

    staging = (tmp_path / "b").as_uri()
    deaths = []
    # Killed in the first shard's enrichment, then in its listing, then in the second shard (the first run
    # plans too: its budget read and two listing pages, one of them the check that GitHub has reached until_id).
    for die_at in (4, 4, 40):
        dying = DyingClient(fake.base_url, [TOKEN], settings=FAST, die_at=die_at)
        with pytest.raises(Killed) as killed:
            run_pipeline(
                fake.base_url,
                TOKEN,
                params,
                pg_url=pg_url,
                staging_url=staging,
                run_id="r",
                client_factory=lambda dying=dying: dying,
                **run,
            )
        deaths.append(str(killed.value))
    assert any("/graphql" in death for death in deaths) and any("/repositories" in death for death in deaths)
    staged = RunStaging(DAG_ID, "r", root=staging)
    assert staged.exists("raw", "census-000", "done.json"), "the first shard never finished: nothing was tested"
    assert staged.exists("raw", "census-001", "listing-000000.json.gz")
    assert not staged.exists("raw", "census-001", "done.json")
    assert _loaded(pg_url) == set() and _cursor(pg_url) is None
    fake.reset_log()
    run_pipeline(fake.base_url, TOKEN, params, pg_url=pg_url, staging_url=staging, run_id="r", **run)

    assert warehouse_rows(pg_url) == warehouse_rows(second_pg_url)
    assert _loaded(pg_url) == {i for i in fake.ids if fake.verdict(i) == "load"}
    assert _audit(pg_url, "r") == _audit(second_pg_url, "r")
    assert _cursor(pg_url) == _cursor(second_pg_url) == (0, max(fake.ids))
    # The resumed run fetched only what the killed ones had not staged: fewer than 12 pages and 12 batches.
    assert fake.count(path_prefix="/graphql") < 12


def test_a_repository_graphql_gives_no_node_for_but_rest_serves_is_loaded_from_rest(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    """Such a repository was "left for the next run": a census never lists its id again, so it was lost, uncounted."""
    fake = fake_github_factory(repo_count=500, seed=30, vanished_ratio=0.05)
    since = fake.ids[199]
    loadable = [i for i in fake.ids[200:] if fake.verdict(i) == "load"]
    hidden = loadable[3], loadable[150], loadable[-1]
    for repo_id in hidden:
        fake.hide_from_graphql(repo_id)

    _census(fake, pg_url, tmp_path.as_uri(), "r", since_id=since, shards=2)

    assert _loaded(pg_url) == set(loadable)
    audit = _audit(pg_url, "r")
    assert audit["listed"] == audit["enriched"] + audit["skipped"] == 300
    assert audit["inserted"] == len(loadable)
    rows = {row[0]: row for row in warehouse_rows(pg_url)}
    for repo_id in hidden:
        expected = fake.repository(repo_id)
        assert rows[repo_id][1:3] == (expected["full_name"], expected["owner"]["login"])


def test_a_range_crawl_below_the_census_widens_its_covered_range_and_one_apart_leaves_it(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    fake = fake_github_factory(repo_count=600, seed=24)
    staging = tmp_path.as_uri()
    middle, top = fake.ids[300], max(fake.ids)
    _census(fake, pg_url, staging, "daily", since_id=middle)
    assert _cursor(pg_url) == (middle, top)

    _census(fake, pg_url, staging, "apart", since_id=fake.ids[10], until_id=fake.ids[20])
    assert _cursor(pg_url) == (middle, top)
    _census(fake, pg_url, staging, "below", since_id=0, until_id=middle)
    assert _cursor(pg_url) == (0, top)
    assert _loaded(pg_url) == set(fake.ids)


def test_a_range_crawl_before_the_first_census_does_not_start_its_cursor(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    """A trial range crawl of old ids started the cursor there: the first daily census crawled every id above it."""
    fake = fake_github_factory(repo_count=600, seed=28)
    staging = tmp_path.as_uri()
    end = max(fake.ids)

    _census(fake, pg_url, staging, "trial", since_id=fake.ids[10], until_id=fake.ids[20])
    assert _loaded(pg_url) == set(fake.ids[11:21])
    assert _cursor(pg_url) is None

    _census(fake, pg_url, staging, "daily", day=1)
    assert _loaded(pg_url) == set(fake.ids[11:21])
    assert _cursor(pg_url) == (end, end)
    # Once the census has a cursor, a range crawl that touches it widens it.
    _census(fake, pg_url, staging, "below", day=2, since_id=fake.ids[500], until_id=end)
    assert _cursor(pg_url) == (fake.ids[500], end)


def test_a_census_too_large_for_its_budget_names_the_range_from_its_cursor_that_fits(
    fake_github_factory, pg_url: str, tmp_path, monkeypatch
) -> None:
    """A daily census that fell behind failed each day saying "crawl a narrower range", naming no ids."""
    fake = fake_github_factory(repo_count=3000, seed=29, max_id=6000, graphql_rate_limit=100)
    monkeypatch.setenv("GITHUB_ETL_RUN_DEADLINE_HOURS", "1")
    staging = tmp_path.as_uri()
    _census(fake, pg_url, staging, "first")
    ((_, cursor),) = [_cursor(pg_url)]
    fake.add_repositories(20_000)

    with pytest.raises(BudgetTooSmallError) as raised:
        _census(fake, pg_url, staging, "behind", day=1, shards=2)
    message = str(raised.value)
    suggested = re.search(r'\{"mode": "census", "since_id": (\d+), "until_id": (\d+)\}', message)
    assert suggested, message
    since_id, until_id = int(suggested[1]), int(suggested[2])
    assert since_id == cursor and cursor < until_id < max(fake.ids)
    assert "first, then on from its until_id (about 90% of this run fits)" in message

    # The range named fits: its plan passes the same budget check.
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    params = validate({"mode": "census", "since_id": since_id, "until_id": until_id, "shards": 2})
    staged = RunStaging(DAG_ID, "caught_up", root=staging)
    plan = plan_run(client, staged, params, logical_date=LOGICAL_DATE, warehouse=None)
    assert plan.census["until_id"] == until_id
    assert _cursor(pg_url) == (cursor, cursor)


def test_a_since_id_past_the_end_of_the_id_space_is_refused_before_it_moves_the_cursor(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    """A digit too many in since_id crawled nothing and started the census up there, where it stayed."""
    fake = fake_github_factory(repo_count=300, seed=23)
    end = max(fake.ids)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    assert census_range(client, since_id=end, until_id=None, cursor=None) == (end, end, "param since_id", True)
    with pytest.raises(ConfigurationError, match=f"param 'since_id' is {end * 10:,}, above today's end"):
        census_range(client, since_id=end * 10, until_id=None, cursor=None)

    with pytest.raises(ConfigurationError):
        _census(fake, pg_url, tmp_path.as_uri(), "typo", since_id=end * 10)
    assert _cursor(pg_url) is None


def test_an_until_id_past_the_end_of_the_id_space_crawls_to_the_end_and_the_cursor_stops_there(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    """until_id=99999999999 "to the end" stored the cursor up there: every later census crawled nothing."""
    fake = fake_github_factory(repo_count=300, seed=24)
    end = max(fake.ids)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    # A range GitHub has reached costs one listing page more, and is kept as given.
    assert census_range(client, since_id=0, until_id=end, cursor=None) == (0, end, "param since_id", True)
    assert census_range(client, since_id=0, until_id=fake.ids[100], cursor=None)[1:] == (
        fake.ids[100],
        "param since_id",
        False,
    )

    _census(fake, pg_url, tmp_path.as_uri(), "to-the-end", since_id=fake.ids[249], until_id=end * 10)
    assert _loaded(pg_url) == {i for i in fake.ids[250:] if fake.verdict(i) == "load"}
    assert _cursor(pg_url) == (fake.ids[249], end)
    new = fake.add_repositories(20)
    _census(fake, pg_url, tmp_path.as_uri(), "next-day", day=1)
    assert set(new) <= _loaded(pg_url)
    assert _cursor(pg_url) == (fake.ids[249], max(new))


def test_the_plan_cuts_the_range_into_equal_shards_and_estimates_from_the_first_page(fake_github_factory) -> None:
    shards = plan_census(since=100, until=1100, shards=3, expected=10)
    assert [(s.id_low, s.id_high) for s in shards] == [(100, 433), (433, 766), (766, 1100)]
    assert sum(s.expected for s in shards) == 10
    assert plan_census(since=5, until=5, shards=4, expected=0) == []

    fake = fake_github_factory(repo_count=5000, seed=25)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    low, high = fake.ids[1000], fake.ids[3999]
    # The fake's ids are evenly spread, as the estimate assumes: within a few percent of the truth.
    assert estimate_repositories(client, low, high) == pytest.approx(2999, rel=0.05)
    assert estimate_repositories(client, fake.ids[-30], max(fake.ids) + 10**6) == 29


def test_without_a_token_the_census_enriches_over_rest_and_loads_the_same(
    fake_github_factory, pg_url: str, second_pg_url: str, tmp_path
) -> None:
    fake = fake_github_factory(repo_count=400, seed=26, vanished_ratio=0.05)
    params = {"mode": "census", "since_id": fake.ids[199], "until_id": fake.ids[239], "shards": 2}
    run = {"run_id": "r", "logical_date": LOGICAL_DATE}
    run_pipeline(fake.base_url, TOKEN, params, pg_url=pg_url, staging_url=(tmp_path / "a").as_uri(), **run)
    fake.reset_log()
    run_pipeline(fake.base_url, None, params, pg_url=second_pg_url, staging_url=(tmp_path / "b").as_uri(), **run)

    assert fake.count(path_prefix="/graphql") == 0
    assert fake.count(path_prefix="/repositories/") == 40  # one detail request per listed repository
    assert warehouse_rows(second_pg_url) == warehouse_rows(pg_url)
    assert {row[0] for row in warehouse_rows(pg_url)} == {i for i in fake.ids[200:240] if fake.verdict(i) == "load"}


def test_a_census_whose_plan_is_gone_but_not_its_shards_plans_again_only_once_their_remains_are_deleted(
    fake_github_factory, pg_url: str, tmp_path
) -> None:
    """Shards are named by their place in the plan: a plan made again beside the lost one's shards would take
    their pages for its own range, and the load would move the cursor over ids nothing listed, for good."""
    fake = fake_github_factory(repo_count=400, seed=21)
    staging = tmp_path.as_uri()
    _census(fake, pg_url, staging, "census_1", since_id=fake.ids[99], shards=2)
    first_new = fake.add_repositories(100)
    _census(fake, pg_url, staging, "census_2", day=1, shards=2)
    assert _cursor(pg_url) == (fake.ids[99], max(first_new))
    run = RunStaging(DAG_ID, "census_2", root=staging)
    run.base.fs.rm_file(run.path("plan.json").path)
    second_new = fake.add_repositories(100)

    # The run's plan cleared with its downstream tasks.
    with pytest.raises(StagedFileGoneError) as refused:
        _census(fake, pg_url, staging, "census_2", day=1, shards=2)
    assert _cursor(pg_url) == (fake.ids[99], max(first_new))
    folder = re.search(r"delete what is left of the run's folder (\S+) ", str(refused.value))
    assert folder and folder.group(1) == run.base.path, str(refused.value)

    run.base.fs.rm(folder.group(1), recursive=True)
    _census(fake, pg_url, staging, "census_2", day=1, shards=2)
    assert set(second_new) <= _loaded(pg_url)
    assert _cursor(pg_url) == (fake.ids[99], max(second_new))


def test_census_runs_loaded_again_in_any_order_leave_the_cursor_where_they_left_it(
    fake_github_factory, pg_url: str, second_pg_url: str, tmp_path
) -> None:
    """A warehouse rebuilt from staging (restored from an older dump, or lost) by clearing the loads of the census
    runs since: one loaded before the census that ran before it widens the cursor once that one is loaded."""
    fake = fake_github_factory(repo_count=300, seed=29)
    staging = tmp_path.as_uri()
    runs = [("census_1", 0, {"since_id": fake.ids[99]})]
    _census(fake, pg_url, staging, "census_1", since_id=fake.ids[99], shards=2)
    for day in (1, 2, 3):
        fake.add_repositories(40)
        runs.append((f"census_{day + 1}", day, {}))
        _census(fake, pg_url, staging, f"census_{day + 1}", day=day, shards=2)
    assert _cursor(pg_url) == (fake.ids[99], max(fake.ids))

    # The same staged runs loaded again (a cleared load reads what its run staged), the last ones out of order.
    for run_id, day, params in (runs[0], runs[3], runs[1], runs[2]):
        _census(fake, second_pg_url, staging, run_id, day=day, shards=2, **params)

    assert _cursor(second_pg_url) == _cursor(pg_url)
    assert _loaded(second_pg_url) == _loaded(pg_url)


@pytest.mark.parametrize(
    ("garble", "error"),
    [
        # A proxy dropping the query string: the first page again, no id above since=.
        ("no query string", "the listing does not move forward"),
        # An empty page in the middle of the id space: taken for its end, the cursor would pass over the rest.
        ("empty", "answered no repositories, yet GitHub lists some above id"),
    ],
)
def test_a_listing_page_garbled_once_fails_the_shard_unstaged_so_its_retry_lists_on(
    fake_github_factory, pg_url: str, tmp_path, garble: str, error: str
) -> None:
    fake = fake_github_factory(repo_count=1000, seed=53)
    staging = tmp_path.as_uri()
    params = {"mode": "census", "since_id": fake.ids[99], "shards": 2}
    # The second page of the first shard, which ends near fake.ids[549].
    garbled = GarbledListing(fake.base_url, [TOKEN], settings=FAST, since=fake.ids[199], garble=garble)
    common = {"pg_url": pg_url, "staging_url": staging, "run_id": "r", "logical_date": LOGICAL_DATE}

    with pytest.raises(GitHubError, match=error):
        stage_run(fake.base_url, TOKEN, params, client_factory=lambda: garbled, **common)
    assert garbled.garbled
    # The task's retry, GitHub answering as it should: the garbled page was not staged to be read back.
    run_pipeline(fake.base_url, TOKEN, params, **common)

    assert _loaded(pg_url) == {i for i in fake.ids[100:] if fake.verdict(i) == "load"}
    assert _cursor(pg_url) == (fake.ids[99], max(fake.ids))


def _plan_and_spend(
    fake: FakeGitHub, client: GitHubClient, staging: RunStaging, params: Any, logical_date: datetime, pg_url: str
) -> tuple[Any, Counter[str]]:
    """A run's plan, with the warehouse's history to price it, and the requests its shards then spent per resource."""
    from github_etl.extract.plan import run_shard
    from github_etl.hooks.warehouse import DatabaseConnection

    plan = plan_run(
        client,
        staging,
        params,
        logical_date=logical_date,
        warehouse=lambda: DatabaseConnection(pg_url, connect_retries=0),
    )
    fake.reset_log()
    for shard in plan.shards:
        run_shard(client, staging, shard, plan_id=plan.plan_id)
    return plan, Counter(r.resource for r in fake.requests if r.counted and r.path != "/rate_limit")


@pytest.mark.parametrize("read_over_rest", ["gone", "refused by SAML"])
def test_a_census_prices_the_rest_request_of_each_repository_the_last_runs_read_over_rest(
    fake_github_factory, warehouse, pg_url: str, tmp_path, read_over_rest: str
) -> None:
    """With a token, GraphQL gives no node for a repository gone since it was listed, and refuses one of an
    organization whose SAML single sign-on the token is not authorized for: a REST request asks for each. At 10 %
    gone a census spent nine times the core requests its plan counted, and ran out of budget past its deadline.
    The plan counts them at the share the last runs of the mode read over REST."""

    gone = read_over_rest == "gone"
    fake = fake_github_factory(repo_count=20_000, seed=3, max_id=10_000_000, vanished_ratio=0.1 if gone else 0.0)
    if not gone:
        for repo_id in fake.ids[::10]:
            fake.protect_by_saml(repo_id)
    staging_url = tmp_path.as_uri()
    first = {"mode": "census", "since_id": 0, "until_id": 2_000_000, "shards": 2}
    run_pipeline(
        fake.base_url, TOKEN, first, pg_url=pg_url, staging_url=staging_url, run_id="r1", logical_date=LOGICAL_DATE
    )
    (recorded,) = query(pg_url, "SELECT skipped, read_over_rest, listed FROM github.load_runs")
    assert recorded[1] > 0.05 * recorded[2], recorded
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging(DAG_ID, "r2", root=staging_url)
    params = validate({"mode": "census", "since_id": 2_000_000, "until_id": 4_000_000, "shards": 2})

    plan, spent = _plan_and_spend(fake, client, staging, params, LOGICAL_DATE + timedelta(days=1), pg_url)

    assert 0.8 * spent["core"] <= plan.requests_needed["core"] <= 1.25 * spent["core"], (plan.requests_needed, spent)


def test_a_refresh_prices_no_rest_request_for_repositories_it_knows_gone(
    fake_github_factory, warehouse, pg_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh passes the reason of each repository marked deleted, and one still gone costs no REST request:
    priced at the share its runs found gone, every later refresh was counted a core request per deleted
    repository it checks again (a third of its size here, against none spent)."""

    fake = fake_github_factory(repo_count=1_000, seed=5, max_id=2_000_000, vanished_ratio=0.0)
    staging_url = tmp_path.as_uri()
    census = {"mode": "census", "since_id": 0, "until_id": 2_000_000, "shards": 1}
    run_pipeline(
        fake.base_url, TOKEN, census, pg_url=pg_url, staging_url=staging_url, run_id="c1", logical_date=LOGICAL_DATE
    )
    monkeypatch.setenv("GITHUB_ETL_MAX_DELETED_SHARE", "0.5")
    for repo_id in fake.ids[::3]:
        fake.delete_repository(repo_id)
    # The first refresh asks REST about each (found gone); the next ones know them gone.
    for day in (1, 2, 3):
        run_pipeline(
            fake.base_url,
            TOKEN,
            {"mode": "refresh", "shards": 1},
            pg_url=pg_url,
            staging_url=staging_url,
            run_id=f"r{day}",
            logical_date=LOGICAL_DATE + timedelta(days=day),
        )
    recorded = query(pg_url, "SELECT run_id, skipped, read_over_rest FROM github.load_runs ORDER BY run_id")
    assert [(run_id, read) for run_id, _, read in recorded] == [("c1", 0), ("r1", 334), ("r2", 0), ("r3", 0)]
    assert all(skipped == 334 for run_id, skipped, _ in recorded if run_id != "c1"), recorded
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging(DAG_ID, "r4", root=staging_url)
    params = validate({"mode": "refresh", "shards": 1})

    plan, spent = _plan_and_spend(fake, client, staging, params, LOGICAL_DATE + timedelta(days=4), pg_url)

    assert spent["core"] == 0
    # The three refreshes' share (334 of 3,000 listed) is counted, not 1,002.
    assert plan.requests_needed["core"] <= 0.12 * 1_000, plan.requests_needed


def test_a_plan_reused_by_a_retry_reads_no_share_from_the_warehouse(
    fake_github, warehouse, pg_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The share of repositories read over REST prices a new plan only: a retried plan task that reuses the
    staged plan does not ask the warehouse for it."""
    from github_etl.extract import plan as plan_module
    from github_etl.hooks.warehouse import DatabaseConnection

    asked: list[str] = []
    share = plan_module.recent_rest_share
    monkeypatch.setattr(plan_module, "recent_rest_share", lambda cur, mode: asked.append(mode) or share(cur, mode))
    client = GitHubClient(fake_github.base_url, [TOKEN], settings=FAST)
    staging = RunStaging(DAG_ID, "r1", root=tmp_path.as_uri())
    params = validate({"mode": "census", "since_id": 0, "until_id": 2_000_000, "shards": 2})

    def plan() -> Any:
        return plan_run(
            client,
            staging,
            params,
            logical_date=LOGICAL_DATE,
            warehouse=lambda: DatabaseConnection(pg_url, connect_retries=0),
        )

    first = plan()
    assert asked == ["census"]
    assert plan() == first
    assert asked == ["census"]
