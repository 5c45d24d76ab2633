"""Planning an owners run at scale: more owners than an hour's budget, big owners, a former login beside the new one."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from github_etl.errors import RateLimitWaitTooLong
from github_etl.extract.budget import BudgetTooSmallError
from github_etl.extract.plan import plan_run
from github_etl.github.client import GitHubClient
from github_etl.params import validate
from github_etl.settings import ClientSettings, QuotaReserve
from github_etl.staging import RunStaging

TOKEN = "ghp_owners_plan_token_000000001"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
FAST = ClientSettings(
    backoff_base=0.01,
    backoff_max=0.02,
    secondary_min_wait=0.01,
    reset_jitter=0.01,
    read_timeout=5,
    max_inline_wait=1,
    quota_reserve=QuotaReserve(default=0.0),
)


def _client(fake) -> GitHubClient:
    return GitHubClient(fake.base_url, [TOKEN], settings=FAST)


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
        plan_run(_client(fake), staging, params, logical_date=LOGICAL_DATE)
    first_window = fake.count(path_prefix="/users/")
    assert first_window == per_hour

    # GitHub's reset: the token has its 20 requests again; the operator runs execute() again with a new client.
    fake.limiter._refill("core", time.time())
    fake.reset_log()
    # Two windows hold 40 requests, more than the 30 lookups: the resumed plan must finish.
    plan = plan_run(_client(fake), staging, params, logical_date=LOGICAL_DATE)

    assert sorted(owner for shard in plan.shards for owner in shard.owners) == owners
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
