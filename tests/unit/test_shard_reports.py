"""What a shard reports beside its rows (gone ids): staged as read, handed to the load as a stream."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from bench.rows import repository_records
from github_etl.extract.shards import ExtractResult, batch_name
from github_etl.line_stream import LineStream
from github_etl.staging import RunStaging, iter_jsonl_uri
from github_etl.tasks import gone_ids, transform_shard


def _stage_shard(staging: RunStaging, batches: list[dict[str, Any]]) -> ExtractResult:
    for number, batch in enumerate(batches):
        staging.write_json(batch, "raw", "shard-000", batch_name(number))
    counts = {"listed": 6, "enriched": 3, "skipped": 3, "api_requests": 6, "failed_requests": 0}
    summary = {
        "shard": "shard-000",
        **counts,
        "observed_at": "2026-03-01T12:00:00+00:00",
        "plan_id": "",
        "batches": len(batches),
    }
    return ExtractResult.read(staging.write_json(summary, "raw", "shard-000", "done.json"))


def test_the_transform_stages_reports_batch_by_batch_and_the_readers_stream_them(staging_url: str) -> None:
    staging = RunStaging("github_repositories", "manual__1", root=staging_url)
    records = list(repository_records(3))
    batches = [
        {
            "format": "rest",
            "items": records[:2],
            "gone": [7, 8],
            "gone_reasons": {"7": "not_found", "8": "legal_block"},
        },
        {"format": "rest", "items": records[2:], "gone": [8], "gone_reasons": {"8": "legal_block"}},
        {"format": "rest", "items": []},
    ]

    transformed = [transform_shard(staging, _stage_shard(staging, batches))]

    assert transformed[0].rows == 3
    # Repeats are the load's to collapse.
    assert list(gone_ids(transformed)) == [(7, "not_found"), (8, "legal_block"), (8, "legal_block")]


@pytest.mark.parametrize("size", [1, 3, 4, 1000, -1])
def test_a_line_stream_reads_every_character_once_in_any_size_of_chunk(size: int) -> None:
    lines = [f"{n}\t{'x' * (n % 5)}\n" for n in range(50)]
    stream = LineStream(iter(lines))

    chunks = []
    while chunk := stream.read(size):
        assert size < 0 or len(chunk) <= size
        chunks.append(chunk)

    assert "".join(chunks) == "".join(lines)
    assert stream.read(size) == ""


def test_a_line_stream_pulls_lines_only_as_they_are_read() -> None:
    pulled = []

    def lines():
        for n in range(1000):
            pulled.append(n)
            yield f"{n}\n"

    stream = LineStream(lines())
    first = stream.read(10)

    assert first == "0\n1\n2\n3\n4\n"
    assert len(pulled) < 10
    assert io.StringIO(first + stream.read()).read().count("\n") == 1000


def test_the_transform_log_names_the_quarantine_file_and_its_reasons(staging_url: str, caplog) -> None:
    staging = RunStaging("github_repositories", "manual__1", root=staging_url)
    good, bad = repository_records(2)
    bad = {**bad, "stargazers_count": "many"}
    batches = [{"format": "rest", "items": [good, bad]}]

    with caplog.at_level(logging.WARNING, logger="github_etl.tasks"):
        (transformed,) = [transform_shard(staging, _stage_shard(staging, batches))]

    assert (transformed.rows, transformed.rejected) == (1, 1)
    # Whoever reads the task log finds the file from it, in whatever store the run stages in.
    assert transformed.rejected_uri in caplog.text
    assert "1 wrong_type:stargazers_count" in caplog.text
    (entry,) = iter_jsonl_uri(transformed.rejected_uri)
    assert (entry["id"], entry["reason"]) == (bad["id"], "wrong_type:stargazers_count")
