"""The load benchmark's own checks hold on a small run: its figures measure loads that did what they claim."""

from __future__ import annotations

import contextlib
import io
import shutil
from typing import Any

import pytest

from bench import load_bench

pytestmark = [
    pytest.mark.skipif(shutil.which("psql") is None, reason="the benchmark's ceiling is psql's \\copy"),
    # One worker of make test's runs the module, so that its benchmark run is made once.
    pytest.mark.xdist_group("load_bench"),
    pytest.mark.same_on_every_python,
]


@pytest.fixture(scope="module")
def small_run(pg_server_url: str) -> tuple[dict[str, Any], str]:
    """One benchmark run of 300 rows (its figures and what it printed), shared by the tests below."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        figures = load_bench.run((300,), pg_server_url)
    return figures, printed.getvalue()


def test_a_small_run_meets_its_own_checks(small_run: tuple[dict[str, Any], str]) -> None:
    figures, printed = small_run

    (run,) = figures["runs"]
    checks = (
        "first_load_inserted_all",
        "reload_changed_nothing",
        "same_day_saw_every_row_again",
        "next_day_saw_every_row_again",
        "day_after_saw_every_row_again",
    )
    assert [check for check in checks if not run[check]] == []
    assert run["first_load"]["result"]["total"] == 300
    assert "first load vs (a)" in printed


def test_the_floor_builds_every_structure_of_the_repositories_table(small_run: tuple[dict[str, Any], str]) -> None:
    """The floor times the key and each index the first load rebuilds, on top of (a)'s own seconds."""
    figures, printed = small_run

    (run,) = figures["runs"]
    floor = run["structures"]
    assert sorted(floor["each"]) == [
        "repositories_created_idx",
        "repositories_generation_idx",
        "repositories_language_stars_idx",
        "repositories_owner_login_idx",
        "repositories_pkey",
        "repositories_pushed_idx",
        "repositories_stars_idx",
        "repositories_topics_idx",
    ]
    assert floor["seconds"] == pytest.approx(sum(floor["each"].values()), abs=0.002)
    assert floor["floor_seconds"] == pytest.approx(run["ceiling"]["seconds"] + floor["seconds"], abs=0.002)
    first_load = run["first_load"]
    assert first_load["vs_floor"] == pytest.approx(first_load["seconds"] / floor["floor_seconds"], abs=0.01)
    assert "floor: (a), then the table's key and indexes built" in printed


def test_the_daily_loads_are_measured_again_without_the_day_summaries(small_run: tuple[dict[str, Any], str]) -> None:
    """The baseline of the summaries' cost loads the same days to the same result, only without them."""
    figures, printed = small_run

    (run,) = figures["runs"]
    for name in ("next_day", "day_after"):
        assert run[f"{name}_without_summaries"]["result"] == run[name]["result"]
        ratio = run[name]["seconds"] / run[f"{name}_without_summaries"]["seconds"]
        assert run[name]["vs_without_summaries"] == pytest.approx(ratio, abs=0.01)
        assert 0 < run[name]["summaries_seconds"] < run[name]["seconds"]
        assert run[f"{name}_without_summaries"]["summaries_seconds"] == 0
    assert "next day vs without summaries" in printed


def test_the_day_after_is_measured_again_without_the_attribute_history(small_run: tuple[dict[str, Any], str]) -> None:
    """The baseline of the history's cost (issue: at most 1.1x on the "one in ten changed" day) loads the
    same day to the same result, only with the history's statement skipped."""
    figures, printed = small_run

    (run,) = figures["runs"]
    with_history, without = run["day_after"], run["day_after_without_history"]
    assert without["result"] == with_history["result"]
    assert with_history["vs_without_history"] == pytest.approx(with_history["seconds"] / without["seconds"], abs=0.01)
    assert 0 < with_history["history_seconds"] < with_history["seconds"]
    assert without["history_seconds"] == 0
    assert "day after vs without history" in printed
    assert "the day after without the attribute history" in printed
