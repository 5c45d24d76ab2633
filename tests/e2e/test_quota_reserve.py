"""A run through Airflow that keeps a quota reserve: it waits for the reset at the reserve, never spends into it."""

from __future__ import annotations

import pytest

from tests.e2e.test_faults import LOGICAL_DATE
from tests.e2e.test_pipeline import _assert_matches_fake, _warehouse
from tests.fake_github import FakeGitHub

pytestmark = pytest.mark.e2e

TOKEN = "ghp_reserve_test_token_0123456789"
# A run of this sample spends about twice this core budget, so it meets the reserve in more than one window.
CORE_LIMIT = 8
CORE_WINDOW_SECONDS = 3
RESERVE = "25%"
KEPT = 2  # 25% of 8


def test_a_run_stops_at_the_reserve_and_completes_after_the_reset(
    fake_github_factory, pipeline_env, run_dag, pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    from tests.fake_github import ratelimit

    monkeypatch.setitem(ratelimit.WINDOW_SECONDS, ratelimit.CORE, CORE_WINDOW_SECONDS)
    fake = fake_github_factory(repo_count=500, seed=13, vanished_ratio=0.03, rate_limit=CORE_LIMIT)
    pipeline_env(fake.base_url, token=TOKEN)
    monkeypatch.setenv("GITHUB_ETL_QUOTA_RESERVE", RESERVE)
    caplog.set_level("INFO", logger="github_etl.github.client")

    result = run_dag({"mode": "sample", "sample_size": 40, "seed": 5, "shards": 2}, LOGICAL_DATE)

    assert result.state == "success"
    rows = _warehouse(pg_url)
    assert len(rows) == 40
    for row in rows.values():
        _assert_matches_fake(row, fake)
    core = [r for r in fake.requests if r.resource == "core" and r.counted]
    assert len(core) > 2 * (CORE_LIMIT - KEPT), "the run fitted in one window: nothing was tested"
    assert [r for r in fake.requests if r.fault == "rate_limited"] == []
    # Every task, each with a client of its own, kept the reserve: the budget never went below it.
    assert fake.stats()["lowest_remaining"][FakeGitHub.fingerprint(TOKEN)]["core"] == KEPT
    assert f"down to its reserve of {KEPT} core requests (25% of the limit)" in caplog.text
