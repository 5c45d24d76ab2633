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

Then a `census` (docs/census.md) against the fake with GitHub-like latency: about 150 ms per REST
answer, about 1.2 s per GraphQL answer of 100 nodes. Its shards run at once, one per pool slot, as the
extract tasks do. It prints the repositories per second against two ideals: what the slots can do
while waiting on latency (a listing page and a GraphQL batch per 100 repositories, one after the other),
and what the tokens' hourly budgets pay for (GitHub's 5,000 core requests and 5,000 GraphQL points an
hour per token); the lower one is the ideal, and it says which one binds.

Usage::

    .venv/bin/python -m bench.extract_bench [--sizes 20000,100000] [--json]
    .venv/bin/python -m bench.extract_bench --census-only [--census-repositories 4000] [--slots 4] [--tokens 1]

``GITHUB_ETL_BENCH_SIZES`` replaces the default sizes, 100,000 and 1,000,000, as for the load benchmark.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
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
from github_etl.settings import DAG_ID, DEFAULT_POOL_SLOTS  # noqa: E402

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
# The fake's universe, as a multiple of the sample: sparse enough that random listing pages seldom
# overlap, as on GitHub, where a million repositories are a fraction of a percent of all.
UNIVERSE_PER_SAMPLE = 10
# Quotas high enough that the benchmark measures the extract, not waits for a reset.
UNLIMITED = 10**9
# The child reads the token from its environment, never from its command line (visible to ps).
TOKEN_ENV = "GITHUB_ETL_BENCH_TOKEN"
TOKEN = "ghp_benchmark_token_0000000000"
# What GitHub takes to answer, as observed from a client: a REST request, and a nodes() query of 100
# repositories.
REST_LATENCY_MS = 150
GRAPHQL_LATENCY_MS = 1200
# GitHub's documented hourly budgets of one token: core requests, and GraphQL points (a nodes() query of
# 100 repositories costs one).
CORE_PER_HOUR = 5000
GRAPHQL_POINTS_PER_HOUR = 5000
DEFAULT_CENSUS_REPOSITORIES = 4000


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
    (shard,) = plan_run(client, staging, params, logical_date=LOGICAL_DATE).shards
    summary = run_shard(client, staging, shard)
    seconds = time.perf_counter() - began
    return {
        "seconds": round(seconds, 1),
        "enriched": summary.enriched,
        "api_requests": client.api_requests,
        "repositories_per_second": round(summary.enriched / seconds),
        "floor_rss_mib": None if floor is None else round(floor / 1024, 1),
        "peak_rss_mib": round(own_peak_rss_kib() / 1024, 1),
    }


def census_throughput(repositories: int, slots: int, tokens: int) -> dict[str, Any]:
    """Run a census of ``repositories`` on ``slots`` shards at once against the fake with GitHub's latency."""
    from concurrent.futures import ThreadPoolExecutor

    from github_etl.extract.plan import plan_run, run_shard
    from github_etl.extract.shards import ExtractResult, Shard
    from github_etl.github.client import GitHubClient
    from github_etl.params import validate
    from github_etl.staging import RunStaging
    from tests.fake_github import FakeGitHub

    token_values = [f"{TOKEN}{n}" for n in range(tokens)]
    with (
        tempfile.TemporaryDirectory(prefix="github-etl-census-bench-") as folder,
        FakeGitHub(
            repo_count=2 * repositories,
            seed=3,
            rate_limit=UNLIMITED,
            graphql_rate_limit=UNLIMITED,
            latency_ms=REST_LATENCY_MS,
            graphql_latency_ms=GRAPHQL_LATENCY_MS,
        ) as fake,
    ):
        ids = fake.ids
        since, until = ids[len(ids) // 4], ids[len(ids) // 4 + repositories]
        staging = RunStaging(DAG_ID, "bench__census", root=Path(folder).as_uri())
        params = validate({"mode": "census", "since_id": since, "until_id": until, "shards": slots})
        began = time.perf_counter()
        planner = GitHubClient(fake.base_url, token_values)
        shards = plan_run(planner, staging, params, logical_date=LOGICAL_DATE).shards
        planned = time.perf_counter()

        def extract(shard: Shard) -> ExtractResult:
            # One client per shard, as each extract task builds its own.
            return run_shard(GitHubClient(fake.base_url, token_values), staging, shard)

        with ThreadPoolExecutor(max_workers=slots) as pool:
            summaries = list(pool.map(extract, shards))
        ended = time.perf_counter()
    enriched = sum(summary.enriched for summary in summaries)
    requests = sum(summary.api_requests for summary in summaries)
    measured = enriched / (ended - planned)
    # Per 100 repositories a slot waits for one listing page, then one GraphQL batch.
    latency_bound = slots * 100 / ((REST_LATENCY_MS + GRAPHQL_LATENCY_MS) / 1000)
    budget_bound = tokens * 100 * min(CORE_PER_HOUR, GRAPHQL_POINTS_PER_HOUR) / 3600
    return {
        "repositories": enriched,
        "slots": slots,
        "tokens": tokens,
        "plan_seconds": round(planned - began, 2),
        "extract_seconds": round(ended - planned, 2),
        "requests_per_1000": round(requests * 1000 / max(1, enriched), 1),
        "repositories_per_second": round(measured, 1),
        "latency_bound_per_second": round(latency_bound, 1),
        "budget_bound_per_second": round(budget_bound, 1),
    }


def _format_census(figures: dict[str, Any]) -> str:
    measured = figures["repositories_per_second"]
    latency_bound, budget_bound = figures["latency_bound_per_second"], figures["budget_bound_per_second"]
    if measured >= budget_bound:
        verdict = f"bound by the budget (the goal): {figures['slots']} slot(s) outrun {figures['tokens']} token(s)"
    else:
        slots_needed = math.ceil(budget_bound / (measured / figures["slots"]))
        verdict = f"bound by latency: about {slots_needed} slots would spend the tokens' budget"
    return (
        f"census of {figures['repositories']:,} repositories on {figures['slots']} slot(s), {figures['tokens']}"
        f" token(s), {REST_LATENCY_MS} ms per REST and {GRAPHQL_LATENCY_MS} ms per GraphQL answer:"
        f" {measured:,.1f}/s in {figures['extract_seconds']} s (plan {figures['plan_seconds']} s,"
        f" {figures['requests_per_1000']} requests per 1,000); {measured / latency_bound:.2f} of what the slots"
        f" can do waiting on latency ({latency_bound:,.1f}/s), {measured / budget_bound:.2f}x what the tokens'"
        f" hourly budget pays for ({budget_bound:,.1f}/s): ideal {min(latency_bound, budget_bound):,.1f}/s,"
        f" {verdict}"
    )


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
    parser.add_argument("--census-only", action="store_true", help="only the census's throughput with latency")
    parser.add_argument("--census-repositories", type=int, default=DEFAULT_CENSUS_REPOSITORIES)
    parser.add_argument("--slots", type=int, default=DEFAULT_POOL_SLOTS, help="pool slots: census shards at once")
    parser.add_argument("--tokens", type=int, default=1)
    args = parser.parse_args(argv)
    if args.one_run is not None:
        print(json.dumps(one_run(args.one_run, args.base_url, args.size)))
        return
    figures: dict[str, Any] = {} if args.census_only else run(args.sizes)
    census = census_throughput(args.census_repositories, args.slots, args.tokens)
    print(_format_census(census), flush=True)
    figures["census"] = census
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
