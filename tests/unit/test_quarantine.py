"""Quarantined records, as whoever is on call meets them: told where and why by the run's log, counted in its
audit row, and loaded by the run's transform cleared once a fix of the transform accepts them."""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

import github_etl.transform as transform_module
from github_etl.extract.shards import ExtractResult
from github_etl.field_rules import RejectedRecord
from github_etl.hooks.warehouse import DatabaseConnection
from github_etl.settings import DAG_ID, WAREHOUSE_CONN_ID
from github_etl.staging import RunStaging, iter_jsonl_uri, storage_path
from github_etl.tasks import load_run_task, transform_shard
from tests.fake_github import FakeGitHub
from tests.in_process import query, run_pipeline, task_context

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
RUN_ID = "scheduled__2026-11-01T00:00:00+00:00"
TOKEN = "test-token-0123456789"


@pytest.fixture
def hostile_github(fake_github_factory) -> FakeGitHub:
    fake = fake_github_factory(repo_count=40, seed=7, vanished_ratio=0.05)
    fake.faults.hostile = True
    return fake


def _sample_size(fake: FakeGitHub) -> int:
    # As tests/e2e/test_faults.py: the first ids are rarely reachable by a random listing page.
    return len([i for i in fake.ids if fake.verdict(i) not in ("gone", "absent")]) - 3


def _quarantined(staging: RunStaging) -> list[dict[str, Any]]:
    folder = storage_path(staging.uri("rejected"))
    return [entry for path in sorted(folder.iterdir()) for entry in iter_jsonl_uri(str(path))]


def test_the_load_log_says_how_many_records_were_quarantined_why_and_in_which_files(
    hostile_github: FakeGitHub, pg_url: str, tmp_path, caplog
) -> None:
    staging_url = (tmp_path / "staging").as_uri()
    params = {"sample_size": _sample_size(hostile_github), "shards": 2}

    with caplog.at_level(logging.WARNING, logger="github_etl.tasks"):
        loaded = run_pipeline(
            hostile_github.base_url,
            TOKEN,
            params,
            pg_url=pg_url,
            staging_url=staging_url,
            run_id=RUN_ID,
            logical_date=LOGICAL_DATE,
        )

    quarantined = _quarantined(RunStaging(DAG_ID, RUN_ID, root=staging_url))
    assert loaded.totals.rejected == len(quarantined) > 0
    reasons: dict[str, int] = {}
    for entry in quarantined:
        reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
    assert query(pg_url, "SELECT rejected, rejected_reasons FROM github.load_runs") == [(len(quarantined), reasons)]
    (run_line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"Run {RUN_ID}:")]
    assert f"{len(quarantined)} record(s) quarantined" in run_line
    for reason, count in loaded.totals.rejected_reasons.items():
        assert f"{count} {reason}" in run_line
    assert sum(loaded.totals.rejected_reasons.values()) == len(quarantined)
    # Every file the line names holds quarantined records, and together they hold all of them.
    named = re.findall(r"file://\S+?\.jsonl", run_line)
    assert named
    assert sum(len(list(iter_jsonl_uri(uri))) for uri in named) == len(quarantined)


def test_quarantined_records_load_when_the_run_is_transformed_again_after_a_fix(
    hostile_github: FakeGitHub, pg_url: str, staging_url: str, monkeypatch
) -> None:
    staging = RunStaging(DAG_ID, RUN_ID, root=staging_url)
    params = {"sample_size": _sample_size(hostile_github), "shards": 2}
    run = {"pg_url": pg_url, "staging_url": staging_url, "run_id": RUN_ID, "logical_date": LOGICAL_DATE}
    first = run_pipeline(hostile_github.base_url, TOKEN, params, **run)
    quarantined_ids = {entry["id"] for entry in _quarantined(staging)}
    assert quarantined_ids and {hostile_github.verdict(i) for i in quarantined_ids} == {"quarantine"}
    stored = {row[0] for row in query(pg_url, "SELECT id FROM github.repositories")}
    assert not stored & quarantined_ids

    # The fix: a transform that reads what it rejected (here from the fake's undamaged REST object).
    reader = transform_module._graphql_row

    def fixed(node: Any) -> tuple:
        try:
            return reader(node)
        except RejectedRecord:
            return transform_module._rest_row(hostile_github.repository(node["databaseId"]))

    monkeypatch.setattr(transform_module, "_graphql_row", fixed)
    requests_before = len(hostile_github.requests)

    # What clearing the run's transform tasks with their downstream tasks runs: every shard again, then the load.
    extracted = [ExtractResult.read(str(path)) for path in storage_path(staging.uri("raw")).glob("*/done.json")]
    assert len(extracted) == 2
    transformed = [transform_shard(staging, shard) for shard in extracted]
    with (
        mock.patch.dict(os.environ, {"GITHUB_ETL_STAGING_URL": staging_url}),
        mock.patch(
            "github_etl.hooks.warehouse.DatabaseConnection",
            side_effect=lambda *a, **k: DatabaseConnection(pg_url, connect_retries=0),
        ),
    ):
        again = load_run_task(task_context(RUN_ID, LOGICAL_DATE), transformed, warehouse_conn_id=WAREHOUSE_CONN_ID)

    assert len(hostile_github.requests) == requests_before  # nothing fetched again
    assert _quarantined(staging) == []  # the quarantine files are written anew, not added to
    assert again.totals.rejected == 0
    assert again.result.inserted == len(quarantined_ids)
    assert again.result.unchanged == first.result.inserted
    after = {row[0] for row in query(pg_url, "SELECT id FROM github.repositories")}
    assert after == stored | quarantined_ids
    # The audit row tells this load: nothing quarantined any more, the rescued records inserted.
    assert query(pg_url, "SELECT rejected, rejected_reasons, inserted FROM github.load_runs") == [
        (0, {}, len(quarantined_ids))
    ]
