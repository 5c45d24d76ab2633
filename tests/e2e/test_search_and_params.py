"""Search as users write it, and params or budgets no retry can fix, through a real Airflow run."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime

import psycopg2
import pytest

from tests.e2e.test_pipeline import _warehouse

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)


def _audit_row(pg_url: str) -> dict:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT * FROM github.load_runs")
        (row,) = cursor.fetchall()
        return dict(zip([d.name for d in cursor.description], row, strict=True))


def _task_output(capfd: pytest.CaptureFixture[str]) -> str:
    """What the run's tasks wrote: ``dag.test`` runs them in this process, logging to its streams."""
    captured = capfd.readouterr()
    return captured.out + captured.err


def _states(result) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in result.get_task_instances()}


def test_search_greater_than_a_day_before_a_dense_day_loads_every_match_once(
    fake_github_factory, pipeline_env, run_dag, pg_url: str
) -> None:
    fake = fake_github_factory(repo_count=4000, seed=5, dense_days={"2024-03-01": 0.7}, search_rate_limit=100_000)
    query = "created:>2024-02-28"
    expected = set(fake.search_ids(query))
    day = calendar.timegm((2024, 3, 1, 0, 0, 0))
    assert sum(1 for i in expected if day <= fake.created_at(i) < day + 86_400) > 1000
    pipeline_env(fake.base_url)

    result = run_dag({"mode": "search", "query": query, "shards": 3}, LOGICAL_DATE)

    assert result.state == "success"
    assert set(_warehouse(pg_url)) == expected
    audit = _audit_row(pg_url)
    assert audit["unreachable"] == []
    # The run reports every request it sent, probes included.
    assert audit["api_requests"] == len(fake.requests)


def test_a_second_with_more_than_1000_matches_is_recorded_in_the_audit_row(
    fake_github_factory, pipeline_env, run_dag, pg_url: str
) -> None:
    second = calendar.timegm((2024, 3, 1, 10, 0, 0))
    fake = fake_github_factory(repo_count=2000, seed=6, dense_spans=((second, 1, 0.7),), search_rate_limit=100_000)
    in_second = len(fake.search_ids("created:2024-03-01T10:00:00Z"))
    pipeline_env(fake.base_url)

    result = run_dag({"mode": "search", "query": "created:2024-03-01"}, LOGICAL_DATE)

    assert result.state == "success"
    assert _audit_row(pg_url)["unreachable"] == [
        {"second": "2024-03-01T10:00:00Z", "matches": in_second, "unreachable": in_second - 1000}
    ]
    assert len(_warehouse(pg_url)) == len(fake.search_ids("created:2024-03-01")) - (in_second - 1000)


@pytest.mark.parametrize(
    ("conf", "named"),
    [
        ({"mode": "search", "query": "created:2024-02-30"}, "param 'query'"),
        ({"mode": "search", "query": "language:go created:=>2024-01-01"}, "param 'query'"),
        ({"mode": "search", "query": "created:2024-01-01 created:2024-02-01"}, "param 'query'"),
        ({"mode": "search", "query": "  "}, "param 'query'"),
        ({"mode": "owners", "owners": []}, "param 'owners'"),
        ({"mode": "owners", "owners": ["not a login!"]}, "param 'owners'"),
        ({"sample-size": 10}, "unknown param(s) 'sample-size'"),
        # Without "mode": "search" the query was ignored and a random sample loaded.
        ({"query": "language:go"}, "param 'query' is read only by mode 'search'"),
    ],
)
def test_bad_params_fail_in_prepare_on_the_first_try_without_a_github_request(
    fake_github, pipeline_env, run_dag, capfd, conf, named
) -> None:
    pipeline_env(fake_github.base_url)
    started = time.monotonic()
    result = run_dag(conf, LOGICAL_DATE)
    assert result.state == "failed"
    assert time.monotonic() - started < 30
    assert _states(result)["prepare"] == ("failed", 1)
    assert fake_github.requests == []
    assert named in _task_output(capfd)


def test_a_run_its_budget_cannot_fit_fails_in_plan_before_any_repository_request(
    fake_github_factory, pipeline_env, run_dag, capfd
) -> None:
    fake = fake_github_factory(repo_count=200, seed=4)
    pipeline_env(fake.base_url, token=None)
    result = run_dag({"sample_size": 5000}, LOGICAL_DATE)
    assert result.state == "failed"
    assert _states(result)["plan"] == ("failed", 1)
    # Only the free budget read: no listing, no repository.
    assert [request.path for request in fake.requests] == ["/rate_limit"]
    output = _task_output(capfd)
    # 5,000 repositories and 50 listing pages, plus about 40 requests to find the end of the id space.
    assert "needs about 5,092 GitHub core requests" in output
    assert "set a token" in output and "lower sample_size to " in output


# As a list, or as one string (airflow dags trigger -c '{"owners": "apache"}'), which Airflow's form let through.
@pytest.mark.parametrize("owners", [["apache", "Apache", " @octocat "], "apache, Apache @octocat"])
def test_owners_written_in_other_cases_or_as_mentions_are_listed_and_counted_once(
    fake_github_factory, pipeline_env, run_dag, pg_url: str, owners
) -> None:
    fake = fake_github_factory(repo_count=30, seed=8, owners={"apache": 130, "octocat": 6})
    pipeline_env(fake.base_url)

    result = run_dag({"mode": "owners", "owners": owners}, LOGICAL_DATE)

    assert result.state == "success"
    owned = {i for i in fake.ids if fake.repository(i)["owner"]["login"] in ("apache", "octocat")}
    assert set(_warehouse(pg_url)) == {i for i in owned if fake.verdict(i) == "load"}
    # GitHub logins are case-insensitive: apache's listing is started once, not once per spelling.
    listing = f"/organizations/{fake.universe.named_owners['apache'].id}/repos"
    assert [r.query.get("page") for r in fake.requests if r.path == listing] == [None, "2"]
    assert _audit_row(pg_url)["listed"] == len(owned)


def test_a_query_naming_an_organisation_github_does_not_know_fails_in_plan_at_once(
    fake_github, pipeline_env, run_dag, capfd
) -> None:
    pipeline_env(fake_github.base_url)
    result = run_dag({"mode": "search", "query": "org:no-such-organisation"}, LOGICAL_DATE)
    assert result.state == "failed"
    # GitHub's 422 is the same on every try: no retry, and its reason in the log.
    assert _states(result)["plan"] == ("failed", 1)
    assert fake_github.count(path_prefix="/search") == 1
    output = _task_output(capfd)
    assert "param 'query': GitHub refused the search" in output
    assert "cannot be searched either because the resources do not exist" in output


def test_an_owner_github_does_not_know_fails_in_plan_at_once_naming_it(
    fake_github_factory, pipeline_env, run_dag, capfd
) -> None:
    fake = fake_github_factory(repo_count=30, seed=8, owners={"apache": 20})
    pipeline_env(fake.base_url)
    result = run_dag({"mode": "owners", "owners": ["apache", "apachee"]}, LOGICAL_DATE)
    assert result.state == "failed"
    assert _states(result)["plan"] == ("failed", 1)
    # Looked up, never listed: nothing of apache is fetched for a run that cannot be what was asked.
    assert fake.count(path_prefix="/users/") == 2
    assert fake.count(path_prefix="/orgs/") == 0
    assert "param 'owners': GitHub knows no user or organisation named 'apachee'" in _task_output(capfd)


@pytest.mark.parametrize(
    ("name", "value"), [("GITHUB_ETL_MAX_DELETED_SHARE", "nan"), ("GITHUB_ETL_MAX_RETRIES", "2.5")]
)
def test_a_malformed_setting_fails_in_prepare_before_any_github_request(
    fake_github, pipeline_env, run_dag, capfd, monkeypatch, name, value
) -> None:
    pipeline_env(fake_github.base_url)
    monkeypatch.setenv(name, value)
    result = run_dag({"sample_size": 5}, LOGICAL_DATE)
    assert result.state == "failed"
    assert _states(result)["prepare"] == ("failed", 1)
    assert fake_github.requests == []
    assert name in _task_output(capfd)


def test_a_run_whose_conf_airflow_does_not_apply_fails_in_prepare_naming_the_setting(
    fake_github_factory, pipeline_env, run_dag, pg_url: str, capfd, monkeypatch
) -> None:
    # A deployment that keeps a run's conf out of its params: the census asked for would run as the default sample.
    monkeypatch.setenv("AIRFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS", "False")
    fake = fake_github_factory(repo_count=60, seed=5)
    pipeline_env(fake.base_url)

    result = run_dag({"mode": "census", "since_id": fake.ids[29], "shards": 1}, LOGICAL_DATE)

    assert result.state == "failed"
    assert _states(result)["prepare"] == ("failed", 1)
    assert fake.requests == []
    # Failed before the schema is applied: nothing of the run reached the warehouse.
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass('github.load_runs')")
        assert cursor.fetchone() == (None,)
    output = _task_output(capfd)
    assert "dag_run_conf_overrides_params" in output
    assert "'mode', 'shards', 'since_id'" in output
