"""The budget check of ``plan``: what tokens can give before the deadline, and what a run needs."""

from __future__ import annotations

import logging

import pytest

from github_etl.extract.budget import BudgetTooSmallError, check_budget, fit
from github_etl.extract.census import CensusShard
from github_etl.extract.owners import OwnersShard
from github_etl.extract.plan import MODES
from github_etl.extract.refresh import RefreshShard
from github_etl.extract.sample import SampleShard
from github_etl.extract.search import SearchShard
from github_etl.extract.shards import Shard
from github_etl.github.ratelimit import Budget

NOW = 1_800_000_000.0
HOUR = 3600


def test_capacity_counts_what_is_left_and_every_reset_before_the_deadline() -> None:
    judged = fit("core", 130, [Budget(60, 45, NOW + 1800)], now=NOW, deadline=NOW + 24 * HOUR)
    # 45 now, then 60 at each of the 24 resets that fall before the deadline.
    assert judged.capacity == 45 + 24 * 60
    assert judged.remaining == 45
    assert judged.fits and judged.waits
    # 45 + 60 after the first reset is 105; the second reset brings it past 130.
    assert judged.enough_at == NOW + 1800 + HOUR


def test_search_budgets_reset_every_minute_and_tokens_add_up() -> None:
    budgets = [Budget(30, 0, NOW + 20), Budget(30, 30, NOW + 50)]
    judged = fit("search", 100, budgets, now=NOW, deadline=NOW + 120)
    # Token 1: 0 now, 30 at +20 s, +80 s; token 2: 30 now, 30 at +50 s, +110 s.
    assert judged.capacity == 150
    assert judged.enough_at == NOW + 80


def test_a_run_that_fits_now_does_not_wait(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        fits = check_budget(
            {"core": 40},
            {"core": [Budget(60, 60, NOW + HOUR)]},
            now=NOW,
            deadline_hours=24,
            authenticated=False,
            advice="lower sample_size",
        )
    assert [(f.resource, f.waits) for f in fits] == [("core", False)]
    assert caplog.text == ""


def test_an_expected_wait_is_announced_once_with_the_time_it_resumes(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        check_budget(
            {"core": 100},
            {"core": [Budget(60, 50, NOW + 600)]},
            now=NOW,
            deadline_hours=24,
            authenticated=False,
            advice="lower sample_size",
        )
    assert len(caplog.records) == 1
    assert "needs about 100 GitHub core requests" in caplog.text
    assert "the anonymous budget can spend 50 now" in caplog.text
    assert "2027-01-15T08:10:00+00:00" in caplog.text  # NOW + 600 s: the first reset brings enough


def test_an_impossible_run_fails_with_the_numbers_and_the_fix() -> None:
    with pytest.raises(BudgetTooSmallError) as raised:
        check_budget(
            {"core": 5052, "graphql": 0},
            {"core": [Budget(60, 60, NOW + HOUR)]},
            now=NOW,
            deadline_hours=24,
            authenticated=False,
            advice="lower sample_size",
        )
    message = str(raised.value)
    assert "needs about 5,052 GitHub core requests" in message
    assert "can give only 1,500" in message
    assert "set a token" in message
    assert "lower sample_size (about 30% of this run fits)" in message


def test_the_resource_that_fits_the_least_names_the_fix() -> None:
    """A run short of two budgets was told the share of the first it checked: cut to it, it still did not fit."""
    with pytest.raises(BudgetTooSmallError) as raised:
        check_budget(
            {"core": 200, "graphql": 400},
            {"core": [Budget(100, 100, NOW + HOUR)], "graphql": [Budget(100, 100, NOW + HOUR)]},
            now=NOW,
            deadline_hours=1,
            authenticated=True,
            advice=lambda judged: f"take {judged.capacity / judged.needed:.2f} of it",
        )
    message = str(raised.value)
    assert "needs about 400 GitHub graphql requests" in message
    assert "take 0.50 of it (about 50% of this run fits)" in message


def test_a_resource_whose_budget_is_unknown_is_not_judged() -> None:
    assert (
        check_budget({"graphql": 10**9}, {}, now=NOW, deadline_hours=1, authenticated=True, advice="lower sample_size")
        == []
    )


def _sample(*, quota: int, per_page_take: int) -> SampleShard:
    return SampleShard(key="k", id_low=0, id_high=10**6, quota=quota, seed="s", per_page_take=per_page_take)


def _search(*totals: int) -> SearchShard:
    return SearchShard.of(
        "k", [{"query": f"q{n}", "total": total} for n, total in enumerate(totals)], "file:///k.jsonl"
    )


def _owners(*owners: str) -> OwnersShard:
    return OwnersShard(key="k", owners_uri="", owners=len(owners), pages=len(owners))


def _refresh(count: int) -> RefreshShard:
    return RefreshShard(key="k", ids_uri="file:///ids.jsonl", count=count)


def _census(expected: int) -> CensusShard:
    return CensusShard(key="k", id_low=0, id_high=10**6, expected=expected)


@pytest.mark.parametrize(
    ("shards", "authenticated", "needs"),
    [
        ([_sample(quota=250, per_page_take=100)] * 2, True, {"core": 6, "graphql": 6, "search": 0}),
        ([_sample(quota=250, per_page_take=100)] * 2, False, {"core": 506, "graphql": 0, "search": 0}),
        ([_sample(quota=10, per_page_take=1)], True, {"core": 10, "graphql": 1, "search": 0}),
        (
            [_search(1000, 1), _search(5000)],
            True,
            {"core": 0, "graphql": 0, "search": 21},
        ),
        ([_owners("a", "b"), _owners("c")], False, {"core": 3, "graphql": 0, "search": 0}),
        ([_refresh(150)], True, {"core": 0, "graphql": 2, "search": 0}),
        ([_refresh(150)], False, {"core": 150, "graphql": 0, "search": 0}),
        ([_census(1000), _census(950)], True, {"core": 22, "graphql": 20, "search": 0}),
        ([_census(150)], False, {"core": 3 + 150, "graphql": 0, "search": 0}),
    ],
)
def test_requests_needed_per_mode(shards: list[Shard], authenticated: bool, needs: dict[str, int]) -> None:
    assert MODES[shards[0].mode].requests_needed(shards, authenticated=authenticated) == needs
