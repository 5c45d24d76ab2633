"""``make run``'s last words: this run's audit row, never an earlier run's in its place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tools.summary import main

EARLIER = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def summary_warehouse(warehouse, pg_url, monkeypatch):
    """A warehouse holding one earlier run of 7 repositories, as postgres_default."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    with warehouse.cursor() as cursor:
        cursor.execute(
            "INSERT INTO github.load_runs (run_id, dag_id, logical_date, observed_at, mode, listed, inserted,"
            " started_at, finished_at) VALUES ('earlier', 'github_repositories', %(t)s, %(t)s, 'search', 7, 7,"
            " %(t)s, %(t)s)",
            {"t": EARLIER},
        )
    warehouse.commit()
    return warehouse


def test_the_latest_load_is_shown(summary_warehouse, capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Run earlier (mode search):" in out
    assert "listed: 7" in out


def test_a_census_run_shows_the_range_its_census_covers(summary_warehouse, capsys):
    """A first census loads nothing: its summary of zeros did not say it had started the census."""
    with summary_warehouse.cursor() as cursor:
        cursor.execute(
            "INSERT INTO github.load_runs (run_id, dag_id, logical_date, observed_at, mode, started_at, finished_at)"
            " VALUES ('first_census', 'github_repositories', %(t)s, %(t)s, 'census', %(t)s, %(t)s)",
            {"t": EARLIER + timedelta(days=1)},
        )
    summary_warehouse.commit()
    assert main([]) == 0
    assert "the census has no cursor yet" in capsys.readouterr().out

    with summary_warehouse.cursor() as cursor:
        cursor.execute(
            "INSERT INTO github.census_cursor"
            " VALUES ('repositories', 1000, 1000, 'github_repositories', 'first_census', %(t)s)",
            {"t": EARLIER + timedelta(days=1)},
        )
    summary_warehouse.commit()
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Run first_census (mode census):" in out
    assert "the census covers ids (1000, 1000], last widened by run first_census" in out


def test_a_run_that_committed_no_load_does_not_show_an_earlier_run(summary_warehouse, capsys):
    assert main(["--since", (EARLIER + timedelta(minutes=5)).isoformat()]) == 1
    out = capsys.readouterr().out
    assert "earlier" not in out
    assert "This run committed nothing to the warehouse" in out


def test_a_load_finished_since_the_run_started_is_shown(summary_warehouse, capsys):
    assert main(["--since", (EARLIER - timedelta(minutes=5)).isoformat()]) == 0
    assert "Run earlier (mode search):" in capsys.readouterr().out


def test_a_run_refused_before_it_made_the_schema_says_it_loaded_nothing(pg_url, monkeypatch, capsys):
    """Airflow checks params against the form before prepare: a new warehouse may have no schema yet."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    assert main(["--since", EARLIER.isoformat()]) == 1
    assert "This run committed nothing to the warehouse (see above why). github.repositories holds 0." in (
        capsys.readouterr().out
    )


def test_a_run_that_quarantined_records_says_where_they_are(summary_warehouse, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GITHUB_ETL_STAGING_URL", (tmp_path / "staging").as_uri())
    with summary_warehouse.cursor() as cursor:
        cursor.execute(
            "INSERT INTO github.load_runs (run_id, dag_id, logical_date, observed_at, mode, enriched, rejected,"
            " inserted, started_at, finished_at) VALUES ('manual__2026-11-02T00:00:00+00:00',"
            " 'github_repositories', %(t)s, %(t)s, 'sample', 5, 2, 3, %(t)s, %(t)s)",
            {"t": EARLIER + timedelta(days=1)},
        )
    summary_warehouse.commit()

    assert main([]) == 0

    out = capsys.readouterr().out
    assert "rejected: 2" in out
    folder = f"{(tmp_path / 'staging').as_uri()}/dag_id=github_repositories/run_id=manual__2026-11-02T00_00_00_00_00"
    assert f"one JSON line each with its reason: {folder}/rejected" in out


def test_a_run_that_quarantined_nothing_says_nothing_of_rejected_records(summary_warehouse, capsys):
    assert main([]) == 0
    assert "rejected records" not in capsys.readouterr().out
