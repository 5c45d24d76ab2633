"""Memory and speed of the transform task as a shard grows: the same peak at 1,000,000 repositories as at 100,000.

For each size N, one shard's raw batches are staged in a temporary folder as the extract stages a REST
refresh (generation is not timed): 100 repositories per batch (:mod:`bench.rows`, shaped like GitHub's
objects), and per batch one repository gone. A fresh
interpreter then runs the transform task's own function (:func:`github_etl.tasks.transform_shard`) on
them and reports:

- its RSS once the task's modules are imported, before any batch is read: the floor;
- its peak RSS (VmHWM) over the transform;
- records per second.

The target: the peak at the largest size within 1.3x of the smallest's (the load's issue asks this of
every task). The floor, measured in the same process, shows how much of the peak is the transform's.

Usage::

    .venv/bin/python -m bench.transform_bench [--sizes 20000,100000] [--json]

``GITHUB_ETL_BENCH_SIZES`` replaces the default sizes, 100,000 and 1,000,000, as for the load benchmark.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]

from bench.load_bench import parse_sizes, sizes_from_environment  # noqa: E402
from bench.memory import memory_growth, own_peak_rss_kib, own_rss_kib, run_in_child  # noqa: E402
from bench.rows import repository_records  # noqa: E402
from github_etl.settings import DAG_ID  # noqa: E402

RUN_ID = "bench__transform"
SHARD = "refresh-000"
BATCH = 100
# Ids far above the generated ones: a repository gone in every batch.
REPORTED_ID_BASE = 2_000_000_000


def run(sizes: Sequence[int] | None = None) -> dict[str, Any]:
    """Measure the transform at each size; returns ``{"runs": [...], "memory": {...}}``."""
    chosen = tuple(sizes) if sizes is not None else sizes_from_environment()
    runs = []
    with tempfile.TemporaryDirectory(prefix="github-etl-transform-bench-") as folder:
        for size in chosen:
            root = Path(folder, f"n{size}").as_uri()
            began = time.perf_counter()
            done_uri = stage_raw_shard(root, size)
            staged = round(time.perf_counter() - began, 1)
            # A fresh interpreter per size, so that its peak RSS is the transform's alone.
            measured = run_in_child("bench.transform_bench", ["--one-shard", root, "--done-uri", done_uri])
            figures = {"records": size, "staging_seconds": staged, **measured}
            runs.append(figures)
            print(_format_run(figures), flush=True)
    memory = memory_growth(runs, "records")
    if memory is not None:
        print(memory["line"], flush=True)
    return {"runs": runs, "memory": memory}


def stage_raw_shard(root: str, count: int) -> str:
    """Stage ``count`` repositories as one shard's raw batches under ``root``; returns its ``done.json`` URI."""
    from github_etl.extract.shards import batch_name
    from github_etl.staging import RunStaging

    staging = RunStaging(DAG_ID, RUN_ID, root=root)
    uris = []
    for number, items in enumerate(_batches(count)):
        document = {
            "format": "rest",
            "items": items,
            "gone": [REPORTED_ID_BASE + number],
            "gone_reasons": {str(REPORTED_ID_BASE + number): "not_found"},
        }
        uris.append(staging.write_json(document, "raw", SHARD, batch_name(number)))
    counts = {
        "listed": count + len(uris),
        "enriched": count,
        "skipped": len(uris),
        "api_requests": 0,
        "failed_requests": 0,
    }
    observed_at = "2025-07-01T00:00:00+00:00"
    summary = {"shard": SHARD, **counts, "observed_at": observed_at, "plan_id": "", "batches": len(uris)}
    return staging.write_json(summary, "raw", SHARD, "done.json")


def _batches(count: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in repository_records(count):
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def one_shard(root: str, done_uri: str) -> dict[str, Any]:
    """The child's part: import what the task imports, note the floor, transform, report."""
    from github_etl.extract.shards import ExtractResult
    from github_etl.staging import RunStaging
    from github_etl.tasks import transform_shard

    importlib.import_module("github_etl.transform")  # the task imports it on its first call: in the floor
    staging = RunStaging(DAG_ID, RUN_ID, root=root)
    floor = own_rss_kib()
    began = time.perf_counter()
    result = transform_shard(staging, ExtractResult.read(done_uri))
    seconds = time.perf_counter() - began
    return {
        "seconds": round(seconds, 2),
        "rows": result.rows,
        "rejected": result.rejected,
        "records_per_second": round((result.rows + result.rejected) / seconds),
        "floor_rss_mib": None if floor is None else round(floor / 1024, 1),
        "peak_rss_mib": round(own_peak_rss_kib() / 1024, 1),
    }


def _format_run(figures: dict[str, Any]) -> str:
    return (
        f"{figures['records']:>10,} records: transform {figures['seconds']:.1f} s"
        f" ({figures['records_per_second']:,}/s), {figures['rows']:,} rows;"
        f" RSS floor {figures['floor_rss_mib']} MiB, peak {figures['peak_rss_mib']} MiB"
        f"  (staging the raw batches, untimed: {figures['staging_seconds']} s)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, help="comma-separated record counts, e.g. 20000,100000")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    parser.add_argument("--one-shard", metavar="ROOT", help=argparse.SUPPRESS)
    parser.add_argument("--done-uri", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_shard is not None:
        print(json.dumps(one_shard(args.one_shard, args.done_uri)))
        return
    figures = run(args.sizes)
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
