"""What a long extract tells whoever watches its task log: how far it is, what is left, and why it stops."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from github_etl.errors import RateLimitWaitTooLong
from github_etl.extract.plan import plan_run, run_shard
from github_etl.github.client import GitHubClient
from github_etl.params import validate
from github_etl.settings import ClientSettings, QuotaReserve
from github_etl.staging import RunStaging

TOKEN = "ghp_progress_test_token_0001"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
FAST = ClientSettings(
    backoff_base=0.01, backoff_max=0.02, reset_jitter=0.01, read_timeout=5, quota_reserve=QuotaReserve(default=0.0)
)


class SteppingClock:
    """A monotonic clock that moves ``step`` seconds each time it is read: a shard of many minutes, at once."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _progress_lines(caplog: pytest.LogCaptureFixture, key: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(f"Shard {key}: ") and "staged" in r.getMessage()
    ]


def test_a_long_shard_logs_how_far_it_is_about_once_a_minute_with_what_is_left_and_the_budget(
    fake_github_factory, tmp_path, caplog
) -> None:
    fake = fake_github_factory(repo_count=3000, seed=5)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    params = validate({"mode": "census", "since_id": 0, "until_id": max(fake.ids), "shards": 1})
    (shard,) = plan_run(client, staging, params, logical_date=LOGICAL_DATE).shards
    caplog.set_level(logging.INFO, logger="github_etl")
    # Every read of the clock is 10 s later: a progress line is due every sixth page or batch.
    result = run_shard(client, staging, shard, monotonic=SteppingClock(10.0))

    messages = [r.getMessage() for r in caplog.records]
    started = [m for m in messages if m.startswith(f"Shard {shard.key}: about ")]
    assert started == [
        f"Shard {shard.key}: about {shard.expected:,} repositories to stage, about "
        f"{-(-shard.expected // 100) + 1:,} core request(s) and {-(-shard.expected // 100):,} graphql request(s); "
        "progress every 1 min 0 s"
    ]
    lines = _progress_lines(caplog, shard.key)
    # Not one line per request, and not silence either.
    assert 2 <= len(lines) <= result.api_requests // 4, lines
    middle = lines[len(lines) // 2]
    assert f"of about {shard.expected:,} repositories staged (" in middle
    assert "% left" not in middle and "left at this pace" in middle
    assert "budget left: core " in middle and "graphql " in middle and " UTC" in middle
    assert "API request(s) in " in middle
    # How far is counted, never above what the shard holds.
    assert [int(line.split(" of about")[0].rsplit(" ", 1)[1].replace(",", "")) for line in lines] == sorted(
        int(line.split(" of about")[0].rsplit(" ", 1)[1].replace(",", "")) for line in lines
    )
    done = [m for m in messages if m.startswith(f"Shard {shard.key} done: ")]
    assert done == [
        f"Shard {shard.key} done: listed {result.listed:,}, enriched {result.enriched:,}, skipped {result.skipped:,}, "
        f"{result.api_requests:,} API request(s) (0 failed) in {done[0].rsplit(' in ', 1)[1]}"
    ]
    assert TOKEN not in caplog.text


def test_a_deferred_shard_says_how_far_it_came_and_its_resumption_what_it_read_back(
    fake_github_factory, tmp_path, caplog
) -> None:
    # A core budget that runs out mid-shard: the task defers until the reset.
    fake = fake_github_factory(repo_count=3000, seed=6, rate_limit=20)
    settings = ClientSettings(
        backoff_base=0.01,
        backoff_max=0.02,
        reset_jitter=0.01,
        max_inline_wait=1,
        quota_reserve=QuotaReserve(default=0.0),
    )
    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    params = validate({"mode": "census", "since_id": 0, "until_id": max(fake.ids), "shards": 1})
    planner = GitHubClient(fake.base_url, ["ghp_planning_token_00001"], settings=FAST)
    (shard,) = plan_run(planner, staging, params, logical_date=LOGICAL_DATE).shards
    caplog.set_level(logging.INFO, logger="github_etl")

    with pytest.raises(RateLimitWaitTooLong):
        run_shard(GitHubClient(fake.base_url, [TOKEN], settings=settings), staging, shard, monotonic=SteppingClock(1.0))

    (stopped,) = _progress_lines(caplog, shard.key)
    assert f"of about {shard.expected:,} repositories staged (" in stopped
    assert "budget left: core 0 until " in stopped
    caplog.clear()
    # The resumed attempt, with another token's budget, reads the staged checkpoints back and says so.
    run_shard(
        GitHubClient(fake.base_url, ["ghp_second_token_000001"], settings=FAST),
        staging,
        shard,
        monotonic=SteppingClock(30.0),
    )
    assert any("read back from an earlier attempt)" in line for line in _progress_lines(caplog, shard.key))


def test_an_owners_shard_says_its_requests_are_a_floor_not_an_estimate(fake_github_factory, tmp_path, caplog) -> None:
    """An owner's pages are known once listed: the start line must not promise one request for a big owner."""
    fake = fake_github_factory(repo_count=300, seed=5)
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging("d", "owners", root=tmp_path.as_uri())
    owner = fake.repository(fake.ids[0])["owner"]["login"]
    (shard,) = plan_run(
        client, staging, validate({"mode": "owners", "owners": [owner]}), logical_date=LOGICAL_DATE
    ).shards
    caplog.set_level(logging.INFO, logger="github_etl")

    run_shard(client, staging, shard)

    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"Shard {shard.key}: repositories")]
    assert started == [f"Shard {shard.key}: repositories to list, at least 1 core request(s); progress every 1 min 0 s"]


def _census_shard(fake, tmp_path):
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging = RunStaging("d", "r", root=tmp_path.as_uri())
    params = validate({"mode": "census", "since_id": 0, "until_id": max(fake.ids), "shards": 1})
    (shard,) = plan_run(client, staging, params, logical_date=LOGICAL_DATE).shards
    return client, staging, shard


def test_graphql_refusing_an_organisations_repositories_is_said_once_a_minute_not_per_repository(
    fake_github_factory, tmp_path, caplog, monkeypatch
) -> None:
    """Every repository of an organisation under SAML SSO the token is not authorized for: GraphQL refuses each
    node, REST serves it. The log says so with GitHub's reason at most once a minute, with the batches held back
    since: not a line per repository (a million for a refresh of a million), nor one per batch."""
    import types

    from github_etl.extract import enrich

    fake = fake_github_factory(repo_count=1000, seed=5)
    for repo_id in fake.ids:
        fake.protect_by_saml(repo_id)
    client, staging, shard = _census_shard(fake, tmp_path)
    # Each batch's warning reads the clock once: batches 25 s apart, so a minute holds back two of them.
    monkeypatch.setattr(enrich, "time", types.SimpleNamespace(monotonic=SteppingClock(25)))
    caplog.set_level(logging.INFO, logger="github_etl")

    result = run_shard(client, staging, shard)

    assert result.enriched == 1000
    said = [r.getMessage() for r in caplog.records if "GraphQL gave no node" in r.getMessage()]
    assert len(said) == 4, said  # batches 1, 4, 7 and 10 of ten
    assert "SAML enforcement" in said[0] and "for 100 of 100 repositories" in said[0] and "100 served" in said[0]
    assert [s.endswith("(2 batch(es) like it since the last such line)") for s in said] == [False, True, True, True]
    assert not [r for r in caplog.records if r.getMessage().startswith("Repository ")]


def test_repositories_gone_from_github_are_answers_not_failed_requests(fake_github_factory, tmp_path, caplog) -> None:
    """A repository deleted between its listing and its enrichment: GitHub answered, and it is recorded gone.
    ``failed_requests`` (the progress lines, the metric operators alert on, the audit row) counts 5xx, timeouts
    and rate limits only."""
    fake = fake_github_factory(repo_count=1000, seed=5, vanished_ratio=0.05)
    client, staging, shard = _census_shard(fake, tmp_path)
    caplog.set_level(logging.INFO, logger="github_etl")

    result = run_shard(client, staging, shard)

    assert result.skipped > 20
    assert [r for r in fake.requests if r.status >= 500 or r.status == 429] == []
    assert result.failed_requests == 0
    (done,) = [r.getMessage() for r in caplog.records if " done: " in r.getMessage()]
    assert "(0 failed)" in done
