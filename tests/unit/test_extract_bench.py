"""The extract benchmark runs a real sample extraction in a child and reports its memory."""

from __future__ import annotations

from bench import extract_bench


def test_a_run_extracts_each_sample_size_in_a_child_and_reports_the_memory_ratio(capsys) -> None:
    figures = extract_bench.run((200, 600))

    assert [run["enriched"] for run in figures["runs"]] == [200, 600]
    assert all(run["api_requests"] > 0 for run in figures["runs"])
    assert all(run["peak_rss_mib"] >= run["floor_rss_mib"] > 0 for run in figures["runs"])
    assert figures["memory"]["ratio"] > 0
    assert "peak RSS 600 / 200 repositories" in capsys.readouterr().out
