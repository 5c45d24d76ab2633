"""Search slicing against the fake GitHub: days denser than 1,000 matches are cut by time of day."""

from __future__ import annotations

import calendar
import itertools
import json
import logging
import re
from datetime import UTC, datetime

import pytest

from github_etl.extract.plan import plan_run, run_shard
from github_etl.extract.search import MAX_RESULTS_PER_QUERY, MAX_SLICE_READINGS, PER_PAGE, plan_slices
from github_etl.extract.search_query import parse_search_query
from github_etl.extract.shards import batch_uris
from github_etl.github.client import GitHubClient
from github_etl.params import validate
from github_etl.settings import ClientSettings
from github_etl.staging import RunStaging, iter_jsonl_uri, read_json_uri
from tests.fake_github import FakeGitHub

TOKEN = "ghp_slicing_test_token_0042"
FAST = ClientSettings(backoff_base=0.01, backoff_max=0.02, secondary_min_wait=0.01, reset_jitter=0.01, read_timeout=5)
DENSE_DAY = "2024-03-01"
DAY_START = calendar.timegm((2024, 3, 1, 0, 0, 0))
NOW = calendar.timegm((2026, 11, 2, 0, 0, 0))


def _client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient(fake.base_url, [TOKEN], settings=FAST)


def _harvest_ids(fake: FakeGitHub, staging: RunStaging, query: str) -> tuple[list[int], dict]:
    client = _client(fake)
    plan = plan_run(
        client, staging, validate({"mode": "search", "query": query, "shards": 3}), logical_date=datetime.now(UTC)
    )
    ids: list[int] = []
    for shard in plan.shards:
        for uri in batch_uris(staging, run_shard(client, staging, shard)):
            ids.extend(item["id"] for item in read_json_uri(uri)["items"])
    return ids, plan


@pytest.fixture(scope="module")
def dense_fake():
    # 2,800 of 4,000 repositories created on one day, each at its own second (about 31 s apart).
    with FakeGitHub(repo_count=4000, seed=5, dense_days={DENSE_DAY: 0.7}, search_rate_limit=100_000) as fake:
        fake.start()
        yield fake


def test_a_day_past_1000_matches_is_cut_by_time_of_day_and_every_match_loads_once(dense_fake, tmp_path) -> None:
    query = "created:>2024-02-28"
    expected = dense_fake.search_ids(query)
    on_the_day = [i for i in expected if DAY_START <= dense_fake.created_at(i) < DAY_START + 86_400]
    assert len(on_the_day) >= 2500

    ids, plan = _harvest_ids(dense_fake, RunStaging("d", "dense", root=tmp_path.as_uri()), query)

    assert sorted(ids) == expected
    assert len(ids) == len(set(ids))
    assert plan.found["matches"] == len(expected)
    assert plan.unreachable == []
    slices = [piece for shard in plan.shards for piece in iter_jsonl_uri(shard.slices_uri)]
    assert sum(shard.slices for shard in plan.shards) == len(slices)
    assert all(piece["total"] <= MAX_RESULTS_PER_QUERY for piece in slices)
    # The dense day could only be reached by slices shorter than a day.
    assert any("T" in piece["query"] for piece in slices)
    # Public repositories only: a token that can read private ones would otherwise be served them too.
    searches = [r.query["q"] for r in dense_fake.requests if r.path == "/search/repositories"]
    assert searches and all("is:public" in q.split() for q in searches)


def test_the_plan_of_a_search_hands_its_slices_on_by_reference(dense_fake, tmp_path) -> None:
    """XCom carries a staged file's address per shard, whatever the number of slices (thousands for a
    search of millions), never the slices' queries."""
    staging = RunStaging("d", "by-reference", root=tmp_path.as_uri())
    params = validate({"mode": "search", "query": "created:>2024-02-28", "shards": 2})

    plan = plan_run(_client(dense_fake), staging, params, logical_date=datetime.now(UTC))

    assert sum(shard.slices for shard in plan.shards) > 10
    for shard in plan.to_xcom()["shards"]:
        assert "created:" not in json.dumps(shard)
        assert len(json.dumps(shard)) < 400


def test_a_long_slicing_tells_how_far_it_is_about_once_a_minute(dense_fake, caplog) -> None:
    """Slicing a search of millions takes an hour and more at the search budget: the plan's log says how far."""
    ticks = itertools.count()
    with caplog.at_level(logging.INFO, logger="github_etl.extract.search"):
        # Each probe takes 20 s on this clock (read once per probe).
        sliced = plan_slices(
            _client(dense_fake), "created:2024-02-20..2024-03-10", now=NOW, monotonic=lambda: next(ticks) * 20.0
        )

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Slicing")]
    assert sliced.probes > 9
    assert len(lines) in range(sliced.probes // 3 - 1, sliced.probes // 3 + 2)
    assert "counted up to 2024-" in lines[-1] and "of 2024-02-20T00:00:00Z..2024-03-10T23:59:59Z" in lines[-1]
    counted = [int(re.search(r"slice\(s\) holding ([0-9,]+)", line)[1].replace(",", "")) for line in lines]
    assert counted == sorted(counted) and counted[-1] <= sliced.matches


def test_slices_cover_the_range_without_gap_or_overlap(dense_fake) -> None:
    sliced = plan_slices(_client(dense_fake), "created:2024-02-20..2024-03-10", now=NOW)
    ranges = sorted(
        (parsed.created_from, parsed.created_until)
        for parsed in (parse_search_query(piece["query"]) for piece in sliced.slices)
    )
    low, high = parse_search_query("created:2024-02-20..2024-03-10").bounds(now=NOW)
    # Empty slices are left out, so consecutive slices may skip a span only when it held nothing.
    assert ranges[0][0] >= low
    assert ranges[-1][1] <= high
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start > end
    assert sliced.matches == len(dense_fake.search_ids("created:2024-02-20..2024-03-10"))
    assert sliced.probes >= len(sliced.slices)


def test_greater_than_a_day_takes_the_next_midnight_and_not_the_last_second_before_it(tmp_path) -> None:
    # One repository in ten created at 23:59:59 of the 28th, one in ten at 00:00:00 of the 29th.
    last_second = calendar.timegm((2024, 2, 28, 23, 59, 59))
    spans = ((last_second, 1, 0.1), (last_second + 1, 1, 0.1))
    with FakeGitHub(repo_count=800, seed=9, dense_spans=spans, search_rate_limit=100_000) as fake:
        fake.start()
        ids, _ = _harvest_ids(fake, RunStaging("d", "edge", root=tmp_path.as_uri()), "created:>2024-02-28 fork:true")
        created = {fake.created_at(i) for i in ids}
        assert last_second + 1 in created
        assert last_second not in created
        assert min(created) == last_second + 1
        assert sorted(ids) == fake.search_ids("created:>2024-02-28 fork:true")


def test_a_second_holding_more_than_1000_matches_is_reported_exactly(tmp_path) -> None:
    second = calendar.timegm((2024, 3, 1, 10, 0, 0))
    with FakeGitHub(repo_count=2000, seed=6, dense_spans=((second, 1, 0.7),), search_rate_limit=100_000) as fake:
        fake.start()
        in_second = fake.search_ids("created:2024-03-01T10:00:00Z")
        assert len(in_second) > MAX_RESULTS_PER_QUERY
        sliced = plan_slices(_client(fake), "created:2024-03-01", now=NOW)
        assert sliced.unreachable == [
            {
                "second": "2024-03-01T10:00:00Z",
                "matches": len(in_second),
                "unreachable": len(in_second) - MAX_RESULTS_PER_QUERY,
            }
        ]
        assert sliced.matches == len(fake.search_ids("created:2024-03-01"))


def test_a_query_github_refuses_fails_at_once_naming_the_param_and_githubs_reason(dense_fake) -> None:
    """A misspelt org: or user: is a 422 on every try: no retry, and GitHub's reason, not just "Validation Failed"."""
    from github_etl.errors import FINAL_ERRORS

    before = dense_fake.count(path_prefix="/search")
    with pytest.raises(FINAL_ERRORS) as raised:
        plan_slices(_client(dense_fake), "org:no-such-organisation language:go", now=NOW)
    message = str(raised.value)
    assert message.startswith("param 'query': GitHub refused the search 'org:no-such-organisation language:go")
    assert "cannot be searched either because the resources do not exist" in message
    assert dense_fake.count(path_prefix="/search") == before + 1


def test_a_search_github_timed_out_on_is_asked_again_and_nothing_is_lost(tmp_path) -> None:
    """``incomplete_results``: a count or a page holding what GitHub found in time, half of it in the fake."""
    with FakeGitHub(repo_count=3000, seed=7, search_rate_limit=100_000) as fake:
        fake.start()
        # Between 1,000 and 2,000 matches: counted half by a probe that timed out, it would look like one slice.
        query = "created:2022-01-01..2026-01-01"
        expected = fake.search_ids(query)
        assert MAX_RESULTS_PER_QUERY < len(expected) <= 2 * MAX_RESULTS_PER_QUERY
        clean = plan_slices(_client(fake), query, now=NOW)
        assert len(clean.slices) > 1
        # The first probe and, once planned, the first page of a slice time out once each.
        fake.faults.update({"incomplete_search_next": 1})
        assert plan_slices(_client(fake), query, now=NOW) == clean
        fake.faults.update({"incomplete_search_next": 1})
        staging = RunStaging("d", "incomplete", root=tmp_path.as_uri())
        client = _client(fake)
        plan = plan_run(client, staging, validate({"mode": "search", "query": query}), logical_date=datetime.now(UTC))
        fake.faults.update({"incomplete_search_next": 1})
        ids = [
            item["id"]
            for shard in plan.shards
            for uri in batch_uris(staging, run_shard(client, staging, shard))
            for item in read_json_uri(uri)["items"]
        ]
        assert sorted(ids) == expected


def test_a_search_still_timing_out_fails_as_unavailable_and_stages_nothing(tmp_path) -> None:
    from github_etl.errors import FINAL_ERRORS, GitHubUnavailableError

    with FakeGitHub(repo_count=300, seed=7, search_rate_limit=100_000) as fake:
        fake.start()
        staging = RunStaging("d", "timeouts", root=tmp_path.as_uri())
        client = _client(fake)
        plan = plan_run(
            client, staging, validate({"mode": "search", "query": "fork:false"}), logical_date=datetime.now(UTC)
        )
        fake.faults.update({"incomplete_search_next": 3})
        with pytest.raises(GitHubUnavailableError, match=r"timed out .* 3 times in a row") as raised:
            run_shard(client, staging, plan.shards[0])
        assert not isinstance(raised.value, FINAL_ERRORS)  # the task's retry asks again
        assert not staging.exists("raw", plan.shards[0].key, "repos-000000.json.gz")
        # The retry, once GitHub answers in time, loads every match.
        ids = [
            item["id"]
            for uri in batch_uris(staging, run_shard(client, staging, plan.shards[0]))
            for item in read_json_uri(uri)["items"]
        ]
        assert sorted(ids) == fake.search_ids("fork:false")


def _search_pages(fake: FakeGitHub) -> list[str]:
    return [
        r.query.get("page", "1")
        for r in fake.requests
        if r.path == "/search/repositories" and r.query["per_page"] != "1"
    ]


def _harvest_while_changing(fake: FakeGitHub, tmp_path, query: str, change) -> tuple[list[int], list[str]]:
    """Harvest ``query`` (one slice of 200-1,000 matches) while ``change`` runs after every page.

    Whatever the readings, the shard counts each repository it listed once."""
    staging = RunStaging("d", "changing", root=tmp_path.as_uri())
    client = _client(fake)
    plan = plan_run(client, staging, validate({"mode": "search", "query": query}), logical_date=datetime.now(UTC))
    assert [shard.slices for shard in plan.shards] == [1]
    fake.reset_log()
    fake.between_pages(change)
    try:
        done = run_shard(client, staging, plan.shards[0])
    finally:
        fake.between_pages(None)
    ids = [item["id"] for uri in batch_uris(staging, done) for item in read_json_uri(uri)["items"]]
    assert done.listed == len(set(ids))
    return ids, _search_pages(fake)


def test_a_page_serving_a_repository_that_is_not_public_is_not_taken_for_the_last(tmp_path) -> None:
    """A repository GitHub serves that is not public is staged as gone: its page, served full, is not the slice's
    last. Ending there lost the 798 matches after page 1, without a word."""
    with FakeGitHub(repo_count=1000, seed=11, search_rate_limit=100_000) as fake:
        fake.start()
        query = "fork:false"
        expected = fake.search_ids(query)
        assert 3 * PER_PAGE < len(expected) <= MAX_RESULTS_PER_QUERY
        internal = expected[5]
        # Served to an is:public search all the same (the fake's is:public reads `private` alone).
        fake.set_repository(internal, visibility="internal")
        staging = RunStaging("d", "r", root=tmp_path.as_uri())
        client = _client(fake)
        plan = plan_run(
            client, staging, validate({"mode": "search", "query": query, "shards": 1}), logical_date=datetime.now(UTC)
        )
        (shard,) = plan.shards
        result = run_shard(client, staging, shard)
        staged = [read_json_uri(uri) for uri in batch_uris(staging, result)]

    assert [repo_id for batch in staged for repo_id in batch.get("gone", [])] == [internal]
    assert sorted(item["id"] for batch in staged for item in batch["items"]) == sorted(set(expected) - {internal})
    assert (result.listed, result.enriched, result.skipped) == (len(expected), len(expected) - 1, 1)


def test_a_repository_that_stops_matching_between_pages_costs_no_other_match(tmp_path, caplog) -> None:
    """Each page is a fresh search: one repository leaving page 1 after it was read moves the first of
    page 2 onto page 1, where no later page serves it. The count changes, so the slice is read again."""
    with FakeGitHub(repo_count=1000, seed=11, search_rate_limit=100_000) as fake:
        fake.start()
        query = "fork:false"
        expected = fake.search_ids(query)
        assert 200 < len(expected) <= MAX_RESULTS_PER_QUERY
        leaving, moved = expected[0], expected[PER_PAGE]
        pages = -(-len(expected) // PER_PAGE)

        deleted = []

        def delete_once(path: str, params: dict[str, str]) -> None:
            if params["page"] == "1" and not deleted:
                fake.delete_repository(leaving)
                deleted.append(leaving)

        with caplog.at_level(logging.WARNING, logger="github_etl.extract.search"):
            ids, pages_read = _harvest_while_changing(fake, tmp_path, query, delete_once)

    assert moved in ids
    assert set(ids) == set(expected)  # the one deleted was read before it went
    assert pages_read.count("1") == 2 and len(pages_read) <= 2 * pages  # read twice, and no more
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and f"counted {len(expected) - 1:,} to {len(expected):,}" in warnings[0]
    assert "reading it again" in warnings[0]


def test_a_repository_that_moves_up_the_order_between_pages_is_read_again(tmp_path, caplog) -> None:
    """Sorted by stars (`sort:stars`, as on github.com), a repository gaining stars after page 1 was read
    jumps onto it: the count holds, but the last of page 1 is served again on page 2, which shows it."""
    with FakeGitHub(repo_count=1000, seed=11, search_rate_limit=100_000) as fake:
        fake.start()
        query = "fork:false sort:stars"
        expected = fake.search_ids(query)
        by_stars = sorted(expected, key=lambda repo_id: (-fake.repository(repo_id)["stargazers_count"], repo_id))
        rising = by_stars[2 * PER_PAGE + 50]
        top = fake.repository(by_stars[0])["stargazers_count"]
        raised = []

        def raise_once(path: str, params: dict[str, str]) -> None:
            if params["page"] == "1" and not raised:
                fake.set_repository(rising, stargazers_count=top + 1000)
                raised.append(rising)

        with caplog.at_level(logging.WARNING, logger="github_etl.extract.search"):
            ids, pages_read = _harvest_while_changing(fake, tmp_path, query, raise_once)

    assert rising in ids
    assert set(ids) == set(expected)
    assert pages_read.count("1") == 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "1 served twice" in warnings[0] and "counted" not in warnings[0]


def test_a_slice_that_never_holds_still_is_read_three_times_and_the_run_goes_on(tmp_path, caplog) -> None:
    """A fork unforked after every page: a new match ahead of where the reading is, so each reading finds
    what the one before missed, up to the third."""
    with FakeGitHub(repo_count=1000, seed=11, search_rate_limit=100_000) as fake:
        fake.start()
        query = "fork:false"
        expected = fake.search_ids(query)
        forks = iter(sorted(set(fake.search_ids("fork:true")) - set(expected)))
        joined = []

        def unfork_each_time(path: str, params: dict[str, str]) -> None:
            joined.append(next(forks))
            fake.set_repository(joined[-1], fork=False)

        with caplog.at_level(logging.WARNING, logger="github_etl.extract.search"):
            ids, pages_read = _harvest_while_changing(fake, tmp_path, query, unfork_each_time)

    assert pages_read.count("1") == MAX_SLICE_READINGS == 3
    assert len(pages_read) <= MAX_SLICE_READINGS * -(-(len(expected) + len(joined)) // PER_PAGE)
    assert set(expected) <= set(ids) <= set(expected) | set(joined)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3
    assert "still changed on reading 3" in warnings[-1] and "may be missing from this run" in warnings[-1]


def test_counts_that_change_with_nothing_missed_end_the_reading_at_the_second(tmp_path, caplog) -> None:
    """Matches leaving behind where the reading is change the count and move nothing onto a page read
    already: the second reading finds nothing the first missed, and no third is spent."""
    with FakeGitHub(repo_count=1000, seed=11, search_rate_limit=100_000) as fake:
        fake.start()
        query = "fork:false"
        expected = fake.search_ids(query)
        last_first = iter(reversed(expected))
        pages = -(-len(expected) // PER_PAGE)

        def delete_the_last(path: str, params: dict[str, str]) -> None:
            fake.delete_repository(next(last_first))

        with caplog.at_level(logging.INFO, logger="github_etl.extract.search"):
            ids, pages_read = _harvest_while_changing(fake, tmp_path, query, delete_the_last)

    assert pages_read.count("1") == 2 and len(pages_read) <= 2 * pages
    assert set(ids) == set(expected[: len(set(ids))])  # the first ones, none skipped
    said = [r.getMessage() for r in caplog.records if "matches of" in r.getMessage()]
    assert len(said) == 2 and "reading it again" in said[0]
    assert "reading 2 found none the earlier reading(s) missed; going on" in said[1]


def test_a_repository_repeated_within_one_page_is_no_shift(tmp_path, caplog) -> None:
    """GitHub serving one repository twice on a page (the hostile fake repeats each page's first) is no sign
    that the matches moved: the slice is read once."""
    with FakeGitHub(repo_count=1000, seed=11, search_rate_limit=100_000) as fake:
        fake.start()
        fake.faults.update({"hostile": True})
        query = "fork:false"
        pages = -(-min(len(fake.search_ids(query)), MAX_RESULTS_PER_QUERY) // PER_PAGE)
        with caplog.at_level(logging.WARNING, logger="github_etl.extract.search"):
            ids, pages_read = _harvest_while_changing(fake, tmp_path, query, None)

    assert len(ids) - len(set(ids)) == pages  # each page's first item twice
    assert len(pages_read) == pages
    assert not [r for r in caplog.records if "changed while it was read" in r.getMessage()]
