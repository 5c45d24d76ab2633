"""Memory of the extract task as a shard grows: a `sample` of 1,000,000 repositories against one of 100,000.

A `sample` shard is the one extraction that keeps something per repository: its picks, so that none is
picked twice (:mod:`github_etl.extract.distinct_ids`). For each size N, a fresh interpreter plans a
`sample` run of N repositories in one shard (the worst case: the whole sample in one task) and extracts
it, as the extract task does, from the project's fake GitHub (a universe of ten times N public
repositories, served from this process, with a token, so enrichment goes through GraphQL). It reports:

- its RSS once the task's modules are imported, before any request: the floor;
- its peak RSS (VmHWM) over planning and extraction;
- repositories per second and API requests.

The target: the peak at the largest size within 1.3x of the smallest's (the load's issue asks this of
every task).

Usage::

    .venv/bin/python -m bench.extract_bench [--sizes 20000,100000] [--json]

``GITHUB_ETL_BENCH_SIZES`` replaces the default sizes, 100,000 and 1,000,000, as for the load benchmark.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]

from bench.load_bench import parse_sizes, sizes_from_environment  # noqa: E402
from bench.memory import memory_growth, own_peak_rss_kib, own_rss_kib, run_in_child  # noqa: E402

DAG_ID = "github_repositories"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
# The fake's universe, as a multiple of the sample: sparse enough that random listing pages seldom
# overlap, as on GitHub, where a million repositories are a fraction of a percent of all.
UNIVERSE_PER_SAMPLE = 10
# Quotas high enough that the benchmark measures the extract, not waits for a reset.
UNLIMITED = 10**9
# The child reads the token from its environment, never from its command line (visible to ps).
TOKEN_ENV = "GITHUB_ETL_BENCH_TOKEN"
TOKEN = "ghp_benchmark_token_0000000000"


def run(sizes: Sequence[int] | None = None) -> dict[str, Any]:
    """Measure the extract at each size; returns ``{"runs": [...], "memory": {...}}``."""
    from tests.fake_github import FakeGitHub

    chosen = tuple(sizes) if sizes is not None else sizes_from_environment()
    runs = []
    with tempfile.TemporaryDirectory(prefix="github-etl-extract-bench-") as folder:
        for size in chosen:
            began = time.perf_counter()
            with FakeGitHub(
                repo_count=UNIVERSE_PER_SAMPLE * size,
                seed=1,
                rate_limit=UNLIMITED,
                graphql_rate_limit=UNLIMITED,
            ) as fake:
                built = round(time.perf_counter() - began, 1)
                figures = {"repositories": size, "fake_seconds": built}
                # A fresh interpreter per size, so that its peak RSS is the extract's alone.
                arguments = ["--one-run", Path(folder, f"n{size}").as_uri(), "--base-url", fake.base_url]
                figures |= run_in_child("bench.extract_bench", [*arguments, "--size", str(size)], {TOKEN_ENV: TOKEN})
            runs.append(figures)
            print(_format_run(figures), flush=True)
    memory = memory_growth(runs, "repositories")
    if memory is not None:
        print(memory["line"], flush=True)
    return {"runs": runs, "memory": memory}


def one_run(root: str, base_url: str, size: int) -> dict[str, Any]:
    """The child's part: import what the task imports, note the floor, plan and extract, report."""
    from github_etl.extract.plan import plan_run, run_shard
    from github_etl.github.client import GitHubClient
    from github_etl.params import validate
    from github_etl.staging import RunStaging

    importlib.import_module("github_etl.extract.sample")  # imported on the first shard: in the floor
    client = GitHubClient(base_url, [os.environ[TOKEN_ENV]])
    staging = RunStaging(DAG_ID, f"bench__extract_{size}", root=root)
    floor = own_rss_kib()
    began = time.perf_counter()
    params = validate({"mode": "sample", "sample_size": size, "seed": 1, "shards": 1})
    (shard,) = plan_run(client, staging, params, logical_date=LOGICAL_DATE)["shards"]
    summary = run_shard(client, staging, shard)
    seconds = time.perf_counter() - began
    return {
        "seconds": round(seconds, 1),
        "enriched": summary["enriched"],
        "api_requests": client.api_requests,
        "repositories_per_second": round(summary["enriched"] / seconds),
        "floor_rss_mib": None if floor is None else round(floor / 1024, 1),
        "peak_rss_mib": round(own_peak_rss_kib() / 1024, 1),
    }


def _format_run(figures: dict[str, Any]) -> str:
    return (
        f"{figures['repositories']:>10,} repositories, one sample shard: extract {figures['seconds']:.1f} s"
        f" ({figures['repositories_per_second']:,}/s, {figures['api_requests']:,} API requests);"
        f" RSS floor {figures['floor_rss_mib']} MiB, peak {figures['peak_rss_mib']} MiB"
        f"  (the fake's universe built in {figures['fake_seconds']} s, untimed)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, help="comma-separated sample sizes, e.g. 20000,100000")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    parser.add_argument("--one-run", metavar="ROOT", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_run is not None:
        print(json.dumps(one_run(args.one_run, args.base_url, args.size)))
        return
    figures = run(args.sizes)
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
