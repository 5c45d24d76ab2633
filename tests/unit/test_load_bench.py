"""The load benchmark's own checks hold on a small run: its figures measure loads that did what they claim."""

from __future__ import annotations

import shutil

import pytest

from bench import load_bench


@pytest.mark.skipif(shutil.which("psql") is None, reason="the benchmark's ceiling is psql's \\copy")
def test_a_small_run_meets_its_own_checks(pg_server_url: str, capsys) -> None:
    figures = load_bench.run((300,), pg_server_url)

    (run,) = figures["runs"]
    checks = (
        "first_load_inserted_all",
        "reload_changed_nothing",
        "next_day_saw_every_row_again",
        "day_after_saw_every_row_again",
    )
    assert [check for check in checks if not run[check]] == []
    assert run["first_load"]["result"]["total"] == 300
    assert "first load vs (a)" in capsys.readouterr().out
