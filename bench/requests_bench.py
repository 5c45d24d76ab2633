"""API requests per 1,000 fully enriched repositories, per mode, against the project's fake GitHub.

The fake is deterministic, so these counts do not depend on the machine. Discovery (finding the end of
the id space, for sample and census) and slicing probes (cutting a search into slices of at most
1,000) are reported apart from the per-repository cost, as they are paid once per run; so is the free
read of the budgets (``GET /rate_limit``) that planning makes. A search whose matches crowd one day is
measured apart: its slices go below a day, so it spends more probes. The per-repository REST baseline
is measured in the same invocation.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]

from github_etl.extract.enrich import enrich_rest  # noqa: E402
from github_etl.extract.plan import plan_run, run_shard  # noqa: E402
from github_etl.github.client import GitHubClient  # noqa: E402
from github_etl.params import validate  # noqa: E402
from github_etl.staging import RunStaging, read_json_uri, staged_json  # noqa: E402
from tests.fake_github import FakeGitHub  # noqa: E402

TOKEN = "ghp_benchmark_token_0000000000"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
TARGETS = {"sample": 22, "search": 11, "owners": 11, "refresh": 11, "census": 21}
# A day with far more than 1,000 matches, reached only by slices shorter than a day.
DENSE_DAY = "2024-03-01"
DENSE_QUERY = "created:>2024-02-28"


def _harvest(fake: FakeGitHub, params: dict[str, Any], root: str, sizes: dict[str, Any]) -> tuple[int, int, int]:
    """Run plan + every shard; returns (planning requests, extraction requests, repositories).

    Records the run's raw staged bytes, and those of the same documents as plain JSON, in ``sizes``.
    """
    client = GitHubClient(fake.base_url, [TOKEN])
    staging = RunStaging("bench", f"run-{time.monotonic_ns()}", root=root)
    plan = plan_run(client, staging, validate(params), logical_date=LOGICAL_DATE)
    planning = client.api_requests
    repositories = 0
    for shard in plan.shards:
        summary = run_shard(client, staging, shard)
        repositories += summary.enriched
        read_json_uri(summary.done_uri)
    sizes[params.get("mode", "sample")] = (*_raw_bytes(staging), repositories)
    return planning, client.api_requests - planning, repositories


def _raw_bytes(staging: RunStaging) -> tuple[int, int]:
    """Bytes the run's GitHub pages and batches take in staging, and as the JSON they hold."""
    stored = as_json = 0
    for path in Path(staging.path("raw").path).glob("*/[lr]*"):
        stored += path.stat().st_size
        as_json += len(staged_json(read_json_uri(f"file://{path}")))
    return stored, as_json


def _refresh_requests(fake: FakeGitHub, ids: list[dict[str, Any]], root: str, sizes: dict[str, Any]) -> tuple[int, int]:
    """Refresh re-enriches known repositories: its planning reads the warehouse, not GitHub."""
    from github_etl.extract.refresh import RefreshMode, RefreshShard
    from github_etl.extract.shards import ShardRecorder

    client = GitHubClient(fake.base_url, [TOKEN])
    staging = RunStaging("bench", f"refresh-{time.monotonic_ns()}", root=root)
    with staging.writer("plan", "refresh-000.jsonl") as handle:
        handle.writelines(staged_json(record) + "\n" for record in ids)
    uri = staging.uri("plan", "refresh-000.jsonl")
    shard = RefreshShard(key="refresh-000", ids_uri=uri, count=len(ids))
    recorder = ShardRecorder(staging, shard, client)
    RefreshMode().extract(client, recorder, shard)
    sizes["refresh"] = (*_raw_bytes(staging), recorder.counts["enriched"])
    return client.api_requests, recorder.counts["enriched"]


def run(repositories: int = 5000) -> dict[str, Any]:
    results: dict[str, Any] = {"staged": {}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeGitHub(repo_count=20_000, seed=1, owners={"apache": repositories}, search_rate_limit=10_000) as fake,
    ):
        root = f"file://{tmp}"
        staged = results["staged"]
        planning, extraction, loaded = _harvest(fake, {"sample_size": repositories, "shards": 1}, root, staged)
        results["sample"] = (planning, extraction, loaded)
        # Everything created in a date range holding `repositories` matches.
        planning, extraction, loaded = _harvest(
            fake, {"mode": "search", "query": "created:2008-01-01..2026-11-01 fork:true", "shards": 1}, root, staged
        )
        results["search"] = (planning, extraction, loaded)
        planning, extraction, loaded = _harvest(
            fake, {"mode": "owners", "owners": ["apache"], "shards": 1}, root, staged
        )
        results["owners"] = (planning, extraction, loaded)
        known = [{"id": i, "node_id": fake.repository(i)["node_id"]} for i in list(fake.ids)[:repositories]]
        extraction, loaded = _refresh_requests(fake, known, root, staged)
        results["refresh"] = (0, extraction, loaded)
        # A daily census: from a cursor `repositories` ids below the end of the id space, to the end.
        since = fake.ids[-repositories - 1]
        planning, extraction, loaded = _harvest(fake, {"mode": "census", "since_id": since, "shards": 1}, root, staged)
        results["census"] = (planning, extraction, loaded)
        with FakeGitHub(repo_count=4000, seed=5, dense_days={DENSE_DAY: 0.7}, search_rate_limit=100_000) as dense:
            dense.start()
            planning, extraction, loaded = _harvest(
                dense, {"mode": "search", "query": DENSE_QUERY, "shards": 1}, root, {}
            )
            results["search_dense_day"] = (planning, extraction, loaded)
            results["dense_day_matches"] = len(dense.search_ids(f"created:{DENSE_DAY}"))
        client = GitHubClient(fake.base_url, [TOKEN])
        sample_of_thousand = [{"id": i} for i in list(fake.ids)[:1000]]
        before = client.api_requests
        enrich_rest(client, sample_of_thousand)
        listing = -(-1000 // 100)
        results["rest_baseline_per_1000"] = client.api_requests - before + listing
    return results


def report(results: dict[str, Any]) -> list[str]:
    lines = ["API requests per 1,000 fully enriched repositories (fake GitHub, with a token)"]
    lines.append(f"{'mode':<9}{'repos':>7}{'per 1,000':>11}{'target':>8}{'once per run':>14}  verdict")
    for mode in ("sample", "search", "owners", "refresh", "census"):
        planning, extraction, loaded = results[mode]
        per_thousand = extraction * 1000 / max(1, loaded)
        verdict = "meets" if per_thousand <= TARGETS[mode] else "misses"
        label = {"sample": "discovery", "search": "probes", "census": "discovery"}.get(mode, "")
        lines.append(f"{mode:<9}{loaded:>7}{per_thousand:>11.1f}{TARGETS[mode]:>8}{planning:>8} {label:<6}  {verdict}")
    planning, extraction, loaded = results["search_dense_day"]
    per_thousand = extraction * 1000 / max(1, loaded)
    lines.append(
        f"search, {DENSE_QUERY!r} with {results['dense_day_matches']:,} matches on {DENSE_DAY} alone "
        f"(sliced by time of day): {loaded} repos, {per_thousand:.1f} per 1,000, {planning} probes "
        f"({planning * 1000 / max(1, loaded):.1f} per 1,000); the ordinary query above: "
        f"{results['search'][0] * 1000 / max(1, results['search'][2]):.1f} probes per 1,000"
    )
    baseline = results["rest_baseline_per_1000"]
    sample_cost = results["sample"][1] * 1000 / max(1, results["sample"][2])
    lines.append(
        f"REST baseline (listing + one GET per repository): {baseline} per 1,000 "
        f"-> sample costs {baseline / sample_cost:.0f}x fewer requests"
    )
    lines.append("Raw staging (GitHub's pages and batches) per 1,000 repositories, against the same documents as JSON")
    for mode in ("sample", "search", "owners", "refresh", "census"):
        stored, as_json, loaded = results["staged"][mode]
        lines.append(
            f"{mode:<9}{stored / max(1, loaded):>8.0f} KB stored{as_json / max(1, loaded):>8.0f} KB as JSON"
            f"{as_json / max(1, stored):>6.1f}x smaller"
        )
    return lines


if __name__ == "__main__":
    for line in report(run()):
        print(line)
