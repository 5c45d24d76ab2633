"""The transform benchmark stages what it claims and measures the task's own function."""

from __future__ import annotations

import pytest

from bench import transform_bench
from github_etl.extract.shards import ExtractResult
from github_etl.staging import RunStaging
from github_etl.tasks import gone_ids, transform_shard

pytestmark = pytest.mark.same_on_every_python


def test_the_staged_shard_is_a_rest_refresh_of_n_repositories(tmp_path) -> None:
    root = tmp_path.as_uri()

    done_uri = transform_bench.stage_raw_shard(root, 250)
    staging = RunStaging(transform_bench.DAG_ID, transform_bench.RUN_ID, root=root)
    transformed = [transform_shard(staging, ExtractResult.read(done_uri))]

    assert (transformed[0].rows, transformed[0].rejected) == (250, 0)
    assert len(list(gone_ids(transformed))) == 3


def test_a_run_reports_each_size_from_a_child_and_the_memory_ratio(capsys) -> None:
    figures = transform_bench.run((200, 600))

    assert [run["rows"] for run in figures["runs"]] == [200, 600]
    assert all(run["peak_rss_mib"] >= run["floor_rss_mib"] > 0 for run in figures["runs"])
    assert figures["memory"]["ratio"] > 0
    assert "peak RSS 600 / 200 records" in capsys.readouterr().out
