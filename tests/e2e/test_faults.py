"""Surviving GitHub through Airflow: hostile data, every fault at once, bad credentials, secrets.

Waits are scaled down by configuration (tests/conftest.py), never by changing the code that waits.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from tests.e2e.test_pipeline import _assert_matches_fake, _warehouse
from tests.fake_github import FakeGitHub
from tests.fixtures.airflow import files_written
from tests.fixtures.postgres import execute_autocommit, with_database

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
SECRET_TOKEN = "ghp_S3CR3T_never_in_files_" + "x" * 12


@pytest.fixture
def second_pg_url(pg_server_url: str) -> Iterator[str]:
    name = f"github_etl_second_{uuid.uuid4().hex[:10]}"
    execute_autocommit(pg_server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_database(pg_server_url, name)
    execute_autocommit(pg_server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _listed_ids(fake: FakeGitHub) -> list[int]:
    import requests

    ids, since = [], 0
    while page := requests.get(f"{fake.base_url}/repositories", params={"since": since}, timeout=5).json():
        ids += [r["id"] for r in page]
        since = ids[-1]
    return ids


def _successful_calls(fake: FakeGitHub) -> int:
    return sum(1 for r in fake.requests if r.status < 400)


def test_hostile_records_are_quarantined_and_good_ones_load(
    fake_github_factory, pipeline_env, run_dag, pg_url: str, tmp_path: Path
) -> None:
    fake = fake_github_factory(repo_count=40, seed=7, vanished_ratio=0.05)
    fake.faults.hostile = True
    listed = _listed_ids(fake)
    available = [i for i in listed if fake.verdict(i) != "gone"]
    assert {fake.verdict(i) for i in available} == {"load", "quarantine"}
    pipeline_env(fake.base_url, staging_url=(tmp_path / "staging").as_uri())

    # The first ids of the id space are rarely reachable by a random listing page: ask for a few less than all.
    sample_size = len(available) - 3
    result = run_dag({"sample_size": sample_size, "shards": 1}, LOGICAL_DATE)

    assert result.state == "success"
    rows = _warehouse(pg_url)
    quarantined = [
        json.loads(line)
        for path in (tmp_path / "staging").rglob("rejected/*.jsonl")
        for line in path.read_text().splitlines()
    ]
    quarantined_ids = {q["id"] for q in quarantined}
    # Every picked repository is either loaded or quarantined, by the fake's verdict: none lost, none extra.
    assert len(rows) + len(quarantined) == sample_size
    assert {fake.verdict(i) for i in rows} == {"load"}
    assert {fake.verdict(i) for i in quarantined_ids} == {"quarantine"}
    assert len(quarantined_ids) == 3
    assert all(q["reason"] for q in quarantined)
    hostile_loaded = [i for i in rows if fake.hostile_kind(i)]
    assert len(hostile_loaded) >= 4
    assert max(rows) > 2**32  # ids beyond 32 bits load
    for repo_id, row in rows.items():
        assert "\x00" not in (row["description"] or "")
        if fake.hostile_kind(repo_id) is None:
            _assert_matches_fake(row, fake)


def test_every_fault_at_once_gives_the_same_warehouse_without_wasting_calls(
    fake_github_factory, pipeline_env, run_dag, observe_on, pg_url: str, second_pg_url: str, tmp_path: Path, monkeypatch
) -> None:
    # Both runs fetch "at" the same moment, so their bookkeeping compares equal too.
    observe_on(LOGICAL_DATE)
    fake = fake_github_factory(repo_count=400, seed=21, vanished_ratio=0.03)
    fake.faults.hostile = True
    # One shard: hostile mode lists an outlier id past 2**32, which leaves the upper id ranges empty.
    conf = {"sample_size": 60, "shards": 1, "per_page_take": 20}

    pipeline_env(fake.base_url, token=SECRET_TOKEN, staging_url=(tmp_path / "clean").as_uri())
    assert run_dag(conf, LOGICAL_DATE).state == "success"
    clean_calls = _successful_calls(fake)
    expected = _warehouse(pg_url)
    assert len(expected) >= 55

    fake.reset_log()
    fake.faults.update(
        {
            "error_rate": 0.15,
            "secondary_limit_next": 2,
            "retry_after_s": 0,
            "truncate_next": 2,
            "slow_next": 1,
            "slow_seconds": 8,  # beyond GITHUB_ETL_READ_TIMEOUT of the tests
            "exhaust": {"resource": "core", "reset_in_s": 2},
        }
    )
    pipeline_env(fake.base_url, token=SECRET_TOKEN, staging_url=(tmp_path / "faulty").as_uri())
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", second_pg_url)
    started = time.monotonic()
    assert run_dag(conf, LOGICAL_DATE).state == "success"

    faulty = _warehouse(second_pg_url)
    assert faulty.keys() == expected.keys()
    for repo_id, row in faulty.items():
        assert {k: v for k, v in row.items()} == expected[repo_id]
    failed = [r for r in fake.requests if r.status >= 400]
    assert failed, "the faults were not injected"
    assert _successful_calls(fake) <= 1.1 * clean_calls
    assert time.monotonic() - started < 120

    # The token never reaches a file: staging, logs, Airflow's home.
    import os

    for path, content in files_written(tmp_path, Path(os.environ["AIRFLOW_HOME"])):
        assert SECRET_TOKEN.encode() not in content, path


def test_bad_credentials_fail_fast_with_one_request(fake_github_factory, pipeline_env, run_dag, pg_url: str) -> None:
    fake = fake_github_factory(repo_count=50, tokens={"the-only-valid-token-123"})
    pipeline_env(fake.base_url, token="an-invalid-token-456789")
    started = time.monotonic()
    result = run_dag({"sample_size": 5}, LOGICAL_DATE)
    assert result.state == "failed"
    assert time.monotonic() - started < 60
    assert len(fake.requests) == 1
    assert fake.requests[0].status == 401
    states = {ti.task_id: (ti.state, ti.try_number) for ti in result.get_task_instances()}
    assert states["plan"] == ("failed", 1)
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM github.repositories")
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize("conf", [{"mode": "nonsense"}, {"sample_size": -3}, {"per_page_take": 500}])
def test_params_outside_the_trigger_form_schema_are_refused_before_the_run(
    fake_github, pipeline_env, run_dag, conf
) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    pipeline_env(fake_github.base_url)
    with pytest.raises(ParamValidationError):
        run_dag(conf, LOGICAL_DATE)
    assert fake_github.requests == []


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"mode": "search", "query": "  "}, "needs a non-empty param 'query'"),
        ({"mode": "owners"}, "needs param 'owners'"),
    ],
)
def test_params_that_do_not_fit_their_mode_fail_the_first_task(
    fake_github, pipeline_env, run_dag, conf, message
) -> None:
    pipeline_env(fake_github.base_url)
    result = run_dag(conf, LOGICAL_DATE)
    assert result.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in result.get_task_instances()}
    assert states["prepare"] == ("failed", 1)
    assert fake_github.requests == []
