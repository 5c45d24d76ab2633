"""The extract benchmark runs a real sample extraction in a child and reports its memory."""

from __future__ import annotations

import pytest

from bench import extract_bench

pytestmark = pytest.mark.same_on_every_python


def test_a_run_extracts_each_sample_size_in_a_child_and_reports_the_memory_ratio(capsys) -> None:
    figures = extract_bench.run((200, 600))

    assert [run["enriched"] for run in figures["runs"]] == [200, 600]
    assert all(run["api_requests"] > 0 for run in figures["runs"])
    assert all(run["peak_rss_mib"] >= run["floor_rss_mib"] > 0 for run in figures["runs"])
    assert figures["memory"]["ratio"] > 0
    assert "peak RSS 600 / 200 repositories" in capsys.readouterr().out


def test_the_census_runs_its_shards_at_once_and_reports_its_throughput_against_both_ideals() -> None:
    figures = extract_bench.census_throughput(300, slots=2, tokens=1)

    assert figures["repositories"] == 300
    assert 0 < figures["requests_per_1000"] < 1000
    # Two slots, each a listing page and a GraphQL batch per 100 repositories; one token's hourly budget.
    assert figures["latency_bound_per_second"] == round(2 * 100 / 1.35, 1)
    assert figures["budget_bound_per_second"] == round(100 * 5000 / 3600, 1)
    assert "of what the slots can do waiting on latency" in extract_bench._format_census(figures)
